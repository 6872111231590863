// Package deploy holds no code: its tests prove that docker-compose.yml, the
// Dockerfile and the files they mount agree with the authflow CLI and its
// configuration. Docker does not run here, so the compose file is loaded with
// the compose-spec parser that Docker Compose itself uses, and every authflow
// service's command is run as `authflow <command> --help` on a freshly built
// binary.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	fsconfig "github.com/temporalio/ui-server/v2/plugins/fs_config_provider"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/authflow/authflow/config"
)

// testEnv is what an operator exports before `docker compose up`: the
// variables the compose file marks as required, with well-formed values.
func testEnv() map[string]string {
	return map[string]string{
		"AUTHFLOW_SECRET_KEY":    strings.Repeat("ab", 32),
		"AUTHFLOW_ADMIN_TOKEN":   "compose-test-admin-token",
		"AUTHFLOW_METRICS_TOKEN": "compose-test-metrics-token",
	}
}

// authflowSubcommands are the parts docs/design.md says the production shape runs.
var authflowSubcommands = []string{"migrate", "api", "worker"}

// servingSubcommands load the full production configuration at start.
var servingSubcommands = []string{"server", "api", "worker"}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found above deploy/: %v", err)
	}
	return root
}

func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details)
}

func mustLoadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, testEnv())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

// authflowServices are the services built from this repository's Dockerfile.
func authflowServices(t *testing.T, p *types.Project) map[string]types.ServiceConfig {
	t.Helper()
	root := repoRoot(t)
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if s.Build != nil && filepath.Clean(s.Build.Context) == root {
			out[name] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no service in docker-compose.yml is built from the repository's Dockerfile")
	}
	return out
}

// args is what a service passes to /authflow: its command, after checking
// that the entrypoint is the image's.
func args(t *testing.T, name string, s types.ServiceConfig) []string {
	t.Helper()
	if len(s.Entrypoint) > 0 && !slices.Equal(s.Entrypoint, []string{"/authflow"}) {
		t.Errorf("service %s: entrypoint %q; authflow services keep the image's [/authflow]", name, s.Entrypoint)
	}
	if len(s.Command) == 0 {
		t.Errorf("service %s: no command; the image's default only prints help", name)
	}
	return s.Command
}

func TestComposeRequiresSecrets(t *testing.T) {
	for _, name := range []string{"AUTHFLOW_SECRET_KEY", "AUTHFLOW_ADMIN_TOKEN", "AUTHFLOW_METRICS_TOKEN"} {
		t.Run(name, func(t *testing.T) {
			env := testEnv()
			delete(env, name)
			_, err := loadCompose(t, env)
			if err == nil {
				t.Fatalf("docker-compose.yml loads without %s; mark it ${%s:?…}", name, name)
			}
			if !strings.Contains(err.Error(), "set "+name) || !strings.Contains(err.Error(), "openssl rand") {
				t.Errorf("error without %s does not tell how to set it: %v", name, err)
			}
		})
	}
}

func TestComposeImagesAndDependencies(t *testing.T) {
	p := mustLoadCompose(t)
	root := repoRoot(t)
	for name, s := range p.Services {
		switch {
		case s.Build != nil:
			df := s.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(s.Build.Context, df)
			}
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s: Dockerfile: %v", name, err)
			}
		case s.Image == "":
			t.Errorf("service %s has neither image nor build", name)
		default:
			if i := strings.LastIndex(s.Image, ":"); i < 0 || strings.Contains(s.Image[i:], "/") || s.Image[i+1:] == "latest" {
				t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if r := target.Restart; r == types.RestartPolicyAlways || r == types.RestartPolicyUnlessStopped {
					t.Errorf("service %s waits for %s to complete, but %s restarts %s", name, dep, dep, r)
				}
			case types.ServiceConditionStarted:
			default:
				t.Errorf("service %s: depends_on %s: unknown condition %q", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if !strings.HasPrefix(v.Source, root+string(filepath.Separator)) {
				t.Errorf("service %s mounts %s from outside the repository", name, v.Source)
			} else if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts a missing file: %v", name, err)
			}
		}
	}

	// api and worker start only after the schema exists and Temporal has its
	// namespace.
	for name, s := range authflowServices(t, p) {
		cmd := args(t, name, s)
		if len(cmd) == 0 || !slices.Contains(servingSubcommands, cmd[0]) {
			continue
		}
		for _, need := range []string{"postgresql", "temporal"} {
			if !dependsOn(p, name, need) {
				t.Errorf("service %s (authflow %s) does not wait for %s", name, cmd[0], need)
			}
		}
		if !waitsFor(p, name, "migrate", types.ServiceConditionCompletedSuccessfully) {
			t.Errorf("service %s does not wait for the migrate service to complete", name)
		}
	}
}

// dependsOn reports whether service from reaches service to through depends_on.
func dependsOn(p *types.Project, from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(n string) bool {
		if seen[n] {
			return false
		}
		seen[n] = true
		for dep := range p.Services[n].DependsOn {
			if dep == to || walk(dep) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// waitsFor reports whether from depends, directly, on an authflow service
// running the subcommand sub, with the given condition.
func waitsFor(p *types.Project, from, sub, condition string) bool {
	for dep, d := range p.Services[from].DependsOn {
		if c := p.Services[dep].Command; len(c) > 0 && c[0] == sub && d.Condition == condition {
			return true
		}
	}
	return false
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// authflowBinary builds ./cmd/authflow once per test run, as the
// Dockerfile does.
func authflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is needed to build ./cmd/authflow: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "authflow-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "authflow")
		// The image's binary: built with the Dockerfile's tags.
		cmd := exec.Command(goBin, "build", "-tags", dockerfileBuildTags(t), "-o", binPath, "./cmd/authflow")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/authflow: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// usageLine finds the command path in cobra's help: the line after "Usage:",
// up to the first flag or placeholder ("authflow users create --email E …").
var usageLine = regexp.MustCompile(`(?m)^Usage:\n\s+(.+)$`)

func resolvedPath(help string) []string {
	m := usageLine.FindStringSubmatch(help)
	if m == nil {
		return nil
	}
	var path []string
	for _, w := range strings.Fields(m[1]) {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "<") {
			break
		}
		path = append(path, w)
	}
	return path
}

// runHelp runs `authflow <args> --help` and returns the command path cobra
// resolved, or an error when the CLI rejects the arguments.
func runHelp(t *testing.T, bin string, a []string) ([]string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, append(slices.Clone(a), "--help")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"HOME=" + t.TempDir()} // help must not depend on configuration
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("authflow %s --help: %v\n%s", strings.Join(a, " "), err, out.String())
	}
	return resolvedPath(out.String()), nil
}

// leadingWords are the arguments before the first flag: the subcommand path.
func leadingWords(a []string) []string {
	for i, w := range a {
		if strings.HasPrefix(w, "-") {
			return a[:i]
		}
	}
	return a
}

func TestComposeCommandsExist(t *testing.T) {
	p := mustLoadCompose(t)
	bin := authflowBinary(t)

	// The check itself must be able to fail.
	if _, err := runHelp(t, bin, []string{"no-such-subcommand"}); err == nil {
		t.Fatal("authflow accepts an unknown subcommand with --help; this test could not catch a renamed one")
	}

	ran := map[string]bool{}
	for name, s := range authflowServices(t, p) {
		a := args(t, name, s)
		if len(a) == 0 {
			continue
		}
		path, err := runHelp(t, bin, a)
		if err != nil {
			t.Errorf("service %s runs a command the CLI rejects: %v", name, err)
			continue
		}
		want := append([]string{"authflow"}, leadingWords(a)...)
		if !slices.Equal(path, want) {
			t.Errorf("service %s: command %q resolves to %q, not %q (unknown subcommand or stray argument)",
				name, a, strings.Join(path, " "), strings.Join(want, " "))
		}
		ran[a[0]] = true
	}
	for _, sub := range authflowSubcommands {
		if !ran[sub] {
			t.Errorf("no service in docker-compose.yml runs `authflow %s`", sub)
		}
	}
}

func TestComposeEnvironment(t *testing.T) {
	p := mustLoadCompose(t)
	for name, s := range authflowServices(t, p) {
		env := map[string]string{}
		for k, v := range s.Environment {
			if v == nil {
				t.Errorf("service %s: %s has no value", name, k)
				continue
			}
			env[k] = *v
		}
		read := map[string]bool{}
		getenv := func(k string) string { read[k] = true; return env[k] }
		cfg, err := config.LoadFrom(getenv, config.Production, "")

		for k := range env {
			if !read[k] {
				t.Errorf("service %s sets %s, which config/config.go never reads (misspelt or removed?)", name, k)
			}
		}
		if db, ok := env["AUTHFLOW_DATABASE_URL"]; !ok {
			t.Errorf("service %s: AUTHFLOW_DATABASE_URL is unset (it would fall back to nothing outside dev)", name)
		} else {
			checkDatabaseURL(t, p, name, db)
		}
		if smtp, ok := env["SMTP_URL"]; ok {
			checkServiceURL(t, p, name, "SMTP_URL", smtp)
		}
		a := args(t, name, s)
		if len(a) == 0 || !slices.Contains(servingSubcommands, a[0]) {
			continue
		}
		// A serving subcommand validates everything at start: the compose
		// environment must pass as it is.
		if err != nil {
			t.Errorf("service %s (authflow %s): its environment is not a valid production configuration: %v", name, a[0], err)
			continue
		}
		checkTemporalAddress(t, p, name, cfg.TemporalAddress)
		if a[0] != "worker" {
			checkPublishedPort(t, name, s, cfg.HTTPAddr)
		}
	}
}

// checkServiceURL makes sure the URL in variable names a compose service, and
// returns that service.
func checkServiceURL(t *testing.T, p *types.Project, name, variable, raw string) (types.ServiceConfig, *url.URL, bool) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Errorf("service %s: %s: %v", name, variable, err)
		return types.ServiceConfig{}, nil, false
	}
	target, ok := p.Services[u.Hostname()]
	if !ok {
		t.Errorf("service %s: %s points at %q, which is not a service in docker-compose.yml", name, variable, u.Hostname())
		return types.ServiceConfig{}, nil, false
	}
	if !dependsOn(p, name, u.Hostname()) {
		t.Errorf("service %s uses %s (%s) but does not depend on it", name, u.Hostname(), variable)
	}
	return target, u, true
}

// checkDatabaseURL makes sure AUTHFLOW_DATABASE_URL logs in to the PostgreSQL
// service with the user, password and database that service creates.
func checkDatabaseURL(t *testing.T, p *types.Project, name, raw string) {
	t.Helper()
	db, u, ok := checkServiceURL(t, p, name, "AUTHFLOW_DATABASE_URL", raw)
	if !ok {
		return
	}
	if !strings.HasPrefix(db.Image, "postgres:") {
		t.Errorf("service %s: AUTHFLOW_DATABASE_URL points at %s, which does not run postgres", name, u.Hostname())
		return
	}
	get := func(k, def string) string {
		if v := db.Environment[k]; v != nil && *v != "" {
			return *v
		}
		return def
	}
	user := get("POSTGRES_USER", "postgres")
	pw, _ := u.User.Password()
	for _, c := range []struct{ what, got, want string }{
		{"user", u.User.Username(), user},
		{"password", pw, get("POSTGRES_PASSWORD", "")},
		{"database", strings.TrimPrefix(u.Path, "/"), get("POSTGRES_DB", user)},
	} {
		if c.got != c.want {
			t.Errorf("service %s: AUTHFLOW_DATABASE_URL %s is %q; the %s service creates %q", name, c.what, c.got, u.Hostname(), c.want)
		}
	}
}

// checkTemporalAddress makes sure TEMPORAL_ADDRESS names the Temporal service.
func checkTemporalAddress(t *testing.T, p *types.Project, name, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("service %s: TEMPORAL_ADDRESS %q: %v", name, addr, err)
		return
	}
	s, ok := p.Services[host]
	if !ok || !strings.HasPrefix(s.Image, "temporalio/server:") {
		t.Errorf("service %s: TEMPORAL_ADDRESS %q does not name the temporalio/server service", name, addr)
	}
	if port != "7233" {
		t.Errorf("service %s: TEMPORAL_ADDRESS %q: the frontend listens on 7233", name, addr)
	}
}

// checkPublishedPort makes sure the API's listening port is the one published
// and the one the Dockerfile exposes.
func checkPublishedPort(t *testing.T, name string, s types.ServiceConfig, httpAddr string) {
	t.Helper()
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Errorf("service %s: AUTHFLOW_HTTP_ADDR %q: %v", name, httpAddr, err)
		return
	}
	published := false
	for _, pc := range s.Ports {
		if fmt.Sprint(pc.Target) == port {
			published = true
		}
	}
	if !published {
		t.Errorf("service %s listens on %s but does not publish that port", name, port)
	}
	if !slices.Contains(dockerfileExposes(t), port) {
		t.Errorf("service %s listens on %s, which the Dockerfile does not EXPOSE", name, port)
	}
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerfileInstructions returns the Dockerfile's instructions (keyword
// upper-cased, continuation lines joined, comments dropped).
func dockerfileInstructions(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	text := strings.ReplaceAll(readRepoFile(t, "Dockerfile"), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
	}
	return out
}

func dockerfileExposes(t *testing.T) []string {
	var ports []string
	for _, in := range dockerfileInstructions(t) {
		if in[0] == "EXPOSE" {
			for _, f := range strings.Fields(in[1]) {
				ports = append(ports, strings.TrimSuffix(f, "/tcp"))
			}
		}
	}
	return ports
}

func TestDockerfile(t *testing.T) {
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	var froms []string
	var entrypoint, user string
	built := false
	for _, in := range dockerfileInstructions(t) {
		switch in[0] {
		case "FROM":
			froms = append(froms, strings.Fields(in[1])[0])
		case "ENTRYPOINT":
			entrypoint = in[1]
		case "USER":
			user = in[1]
		case "RUN":
			if strings.Contains(in[1], "go build") && strings.Contains(in[1], "./cmd/authflow") &&
				strings.Contains(in[1], "-o /authflow") && strings.Contains(in[1], "CGO_ENABLED=0") {
				built = true
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(froms))
	}
	if want := "golang:" + goVersion[1]; !strings.HasPrefix(froms[0], want) {
		t.Errorf("Dockerfile builds with %s; go.mod says go %s, so use %s", froms[0], goVersion[1], want)
	}
	if !built {
		t.Error("Dockerfile does not build ./cmd/authflow into /authflow with CGO_ENABLED=0")
	}
	if !slices.Contains(strings.Split(dockerfileBuildTags(t), ","), "nodev") {
		t.Error("Dockerfile builds without -tags nodev: the image would carry the embedded Temporal server and UI")
	}
	if entrypoint != `["/authflow"]` {
		t.Errorf("Dockerfile ENTRYPOINT is %s; docker-compose.yml passes subcommands to [\"/authflow\"]", entrypoint)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("Dockerfile runs as %q; want a non-root user", user)
	}
	if !slices.Contains(dockerfileExposes(t), "8080") {
		t.Error("Dockerfile does not EXPOSE 8080, the default AUTHFLOW_HTTP_ADDR")
	}
}

// goModVersion asks the go command which version of module the main module
// builds with.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

func TestTemporalImagesMatchGoMod(t *testing.T) {
	p := mustLoadCompose(t)
	want := map[string]string{
		// `authflow dev` embeds this server; the compose stack runs the same
		// one, and admin-tools must match the server it sets the schema up for.
		"temporalio/server":      goModVersion(t, "go.temporal.io/server"),
		"temporalio/admin-tools": goModVersion(t, "go.temporal.io/server"),
		"temporalio/ui":          goModVersion(t, "github.com/temporalio/ui-server/v2"),
	}
	seen := map[string]bool{}
	for name, s := range p.Services {
		repo, tag, _ := strings.Cut(s.Image, ":")
		if v, ok := want[repo]; ok {
			seen[repo] = true
			if tag != v {
				t.Errorf("service %s runs %s; go.mod builds `authflow dev` with %s", name, s.Image, v)
			}
		}
	}
	for repo := range want {
		if !seen[repo] {
			t.Errorf("no service runs %s", repo)
		}
	}
}

func TestTemporalDynamicConfig(t *testing.T) {
	p := mustLoadCompose(t)
	s, ok := p.Services["temporal"]
	if !ok {
		t.Fatal("no temporal service")
	}
	path := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if path == nil {
		t.Fatal("temporal: DYNAMIC_CONFIG_FILE_PATH is unset; the server image ships no dynamic config and would not start")
	}
	var source string
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == *path {
			source = v.Source
		}
	}
	if source == "" {
		t.Fatalf("temporal: nothing is mounted at DYNAMIC_CONFIG_FILE_PATH %s", *path)
	}
	b, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	lr := dynamicconfig.LoadYamlFile(b)
	for _, e := range lr.Errors {
		t.Errorf("%s: %v", source, e)
	}
	for _, w := range lr.Warnings {
		t.Errorf("%s: %v", source, w)
	}
	for _, k := range []string{
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key().String(),
		dynamicconfig.EnableEagerWorkflowStart.Key().String(),
	} {
		if _, ok := lr.Map[dynamicconfig.MakeKey(k)]; !ok {
			t.Errorf("%s does not switch on %s, which authflow relies on", source, k)
		}
	}
}

// buildTags finds -tags in the Dockerfile's go build.
var buildTags = regexp.MustCompile(`-tags[= ]+"?([A-Za-z0-9_,]+)`)

// dockerfileBuildTags are the tags the Dockerfile builds authflow with
// ("" for none).
func dockerfileBuildTags(t *testing.T) string {
	t.Helper()
	for _, in := range dockerfileInstructions(t) {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") && strings.Contains(in[1], "./cmd/authflow") {
			if m := buildTags.FindStringSubmatch(in[1]); m != nil {
				return m[1]
			}
			return ""
		}
	}
	t.Fatal("the Dockerfile does not go build ./cmd/authflow")
	return ""
}

func TestProductionBinaryLeavesOutTheDevServer(t *testing.T) {
	t.Run("case=the image's build imports no Temporal server and no UI", func(t *testing.T) {
		cmd := exec.Command("go", "list", "-tags", dockerfileBuildTags(t), "-deps", "./cmd/authflow")
		cmd.Dir = repoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		deps := strings.Fields(string(out))
		for _, embedded := range []string{"go.temporal.io/server/temporal", "github.com/temporalio/ui-server/v2/server", "github.com/authflow/authflow/devserver"} {
			if slices.Contains(deps, embedded) {
				t.Errorf("the production binary imports %s", embedded)
			}
		}
		if !slices.Contains(deps, "go.temporal.io/sdk/client") {
			t.Error("the dependency list lacks the Temporal SDK: the check above could not fail")
		}
	})
	t.Run("case=it has no dev command", func(t *testing.T) {
		if _, err := runHelp(t, authflowBinary(t), []string{"dev"}); err == nil {
			t.Error("the production binary has `authflow dev`")
		}
	})
}

// uiSettings renders the Temporal UI image's own config template
// (config/docker.yaml of the ui-server module go.mod pins, which the image
// starts with) with a service's environment.
func uiSettings(t *testing.T, s types.ServiceConfig) *uiconfig.Config {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/temporalio/ui-server/v2")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m ui-server: %v", err)
	}
	template, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "config", "docker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker.yaml"), template, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range s.Environment {
		if v != nil {
			t.Setenv(k, *v)
		}
	}
	cfg, err := fsconfig.LoadConfig(dir, "docker")
	if err != nil {
		t.Fatalf("the UI's config template with the temporal-ui environment: %v", err)
	}
	return cfg
}

func TestComposeTemporalUIDecodesThroughTheAPI(t *testing.T) {
	p := mustLoadCompose(t)
	ui, ok := p.Services["temporal-ui"]
	if !ok {
		t.Fatal("no temporal-ui service")
	}
	api, ok := p.Services["api"]
	if !ok {
		t.Fatal("no api service")
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	cfg, err := config.LoadFrom(func(k string) string { return env(api, k) }, config.Production, "")
	if err != nil {
		t.Fatalf("api's configuration: %v", err)
	}
	settings := uiSettings(t, ui)
	codec := settings.Codec
	if codec.Endpoint != cfg.PublicURL+"/codec" {
		t.Errorf("the UI decodes through %q; the API's codec is %s/codec", codec.Endpoint, cfg.PublicURL)
	}
	if !codec.IncludeCredentials {
		t.Error("the UI calls the codec without credentials: the codec cookie would never be sent")
	}
	if codec.DefaultErrorLink != cfg.PublicURL+"/admin/codec" || codec.DefaultErrorMessage == "" {
		t.Errorf("a failed decode does not point at the sign-in page: link %q, message %q", codec.DefaultErrorLink, codec.DefaultErrorMessage)
	}
	if !settings.CORS.CookieInsecure && strings.HasPrefix(cfg.PublicURL, "http://") {
		t.Error("the UI sets a Secure CSRF cookie on plain HTTP: its write actions would fail")
	}

	// The browser opens the UI at its published port; the API must let
	// that origin call the codec, and the codec cookie (SameSite=Strict)
	// needs both on one site.
	var origin string
	for _, pc := range ui.Ports {
		if pc.Target == 8080 {
			origin = "http://localhost:" + pc.Published
		}
	}
	if origin == "" {
		t.Fatal("temporal-ui does not publish its port 8080")
	}
	if !slices.Contains(cfg.CodecOrigins, origin) {
		t.Errorf("api's AUTHFLOW_CODEC_ORIGINS %v lacks the UI's origin %s", cfg.CodecOrigins, origin)
	}
	if u, err := url.Parse(cfg.PublicURL); err != nil || u.Hostname() != "localhost" {
		t.Errorf("the API's public URL %s is not on the UI's site, localhost: the codec cookie would not be sent", cfg.PublicURL)
	}
}

func TestComposeHealthchecksAskReadyz(t *testing.T) {
	p := mustLoadCompose(t)
	bin := authflowBinary(t)
	for _, name := range []string{"api", "worker"} {
		t.Run("case="+name, func(t *testing.T) {
			s, ok := p.Services[name]
			if !ok {
				t.Fatalf("no %s service", name)
			}
			hc := s.HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) < 4 || hc.Test[0] != "CMD" || hc.Test[1] != "/authflow" {
				t.Fatalf("%s: healthcheck %+v; want [CMD, /authflow, healthcheck, URL] (the image has no shell)", name, hc)
			}
			path, err := runHelp(t, bin, hc.Test[2:])
			if err != nil || !slices.Equal(path, []string{"authflow", "healthcheck"}) {
				t.Fatalf("%s: the healthcheck runs %q, which the CLI resolves to %q (%v)", name, hc.Test[2:], path, err)
			}
			u, err := url.Parse(hc.Test[3])
			if err != nil || u.Path != "/readyz" {
				t.Fatalf("%s: the healthcheck asks %q, not /readyz", name, hc.Test[3])
			}
			addr := s.Environment["AUTHFLOW_HTTP_ADDR"]
			if addr == nil {
				t.Fatalf("%s: AUTHFLOW_HTTP_ADDR is unset: nothing listens for the healthcheck", name)
			}
			if _, port, _ := net.SplitHostPort(*addr); port != u.Port() {
				t.Errorf("%s: the healthcheck asks port %s; AUTHFLOW_HTTP_ADDR is %s", name, u.Port(), *addr)
			}
		})
	}
}
