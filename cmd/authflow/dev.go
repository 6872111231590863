//go:build !nodev

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/devserver"
	"github.com/authflow/authflow/workflows"
)

func devCmd() *cobra.Command {
	var dataDir string
	var ephemeral bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process: embedded Temporal + UI, worker, API, pages and the dev outbox",
		Long: `dev starts, in one process, an embedded Temporal server (SQLite in the data
dir, namespace "default", authflow's search attributes registered), the
Temporal UI, the worker and the API with its pages. Messages, calls and
Telegram prompts go to the dev outbox (/dev/outbox) unless real channels are
configured. Ctrl-C stops it; starting it again on the same data dir keeps
users, sessions, flows in progress and the admin token. One dev at a time
runs on a data dir. --ephemeral keeps everything in memory.

Every port (AUTHFLOW_HTTP_ADDR, AUTHFLOW_TEMPORAL_PORT,
AUTHFLOW_TEMPORAL_UI_PORT) is checked before anything starts. The public URL
follows AUTHFLOW_HTTP_ADDR unless AUTHFLOW_PUBLIC_URL is set.

` + config.Help(config.ForDev),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			ctx := cmd.Context()
			dir := dataDir
			if ephemeral {
				dir = ""
			} else {
				// First of all: a second dev on this data dir stops here,
				// before it touches a file or a port.
				lock, err := lockDataDir(dir)
				if err != nil {
					return err
				}
				defer lock.Release()
			}
			cfg, err := config.Load(config.Dev, dir)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr())
			ln, err := claimDevPorts(cfg)
			if err != nil {
				return err
			}
			defer ln.Close()
			if cfg.PublicURLFollowsListener {
				// AUTHFLOW_HTTP_ADDR's port may be 0: name the one it got.
				cfg.PublicURL = config.DevPublicURL(ln.Addr().String())
			} else if msg := cfg.PublicURLMismatch(); msg != "" {
				log.Warn(msg)
			}
			var outbox *channels.Outbox
			if needsOutbox(cfg) {
				// Never mounted when every channel has a real provider.
				if outbox, err = devOutbox(dir); err != nil {
					return err
				}
				defer outbox.Close()
			}
			ts, err := devserver.Start(ctx, devserver.Options{
				DataDir: dir, Ephemeral: ephemeral, Namespace: cfg.TemporalNamespace,
				IP: devIP, Port: cfg.TemporalPort, UIPort: cfg.TemporalUIPort,
				SearchAttributes: workflows.SearchAttributes,
				// The UI decodes payloads through the API's codec, with
				// the cookie of a browser signed in at /admin/codec.
				UICodec: &devserver.UICodec{Endpoint: cfg.PublicURL + "/codec", SignInURL: cfg.PublicURL + "/admin/codec"},
			})
			if err != nil {
				return fmt.Errorf("embedded Temporal: %w", err)
			}
			defer func() {
				if err := ts.Stop(); err != nil {
					log.Warn("stopping embedded Temporal", "err", err)
				}
			}()
			if dir != "" {
				// `authflow flows` reads where this dev's Temporal is.
				remove, err := writeDevState(dir, devState{PID: os.Getpid(), TemporalAddress: ts.FrontendHostPort(),
					TemporalNamespace: ts.Namespace(), API: listenURL(ln.Addr()), TemporalUI: sameSiteUI(ts.UIURL(), cfg.PublicURL)})
				if err != nil {
					return err
				}
				defer remove()
			}
			a, err := app.New(ctx, app.Options{Config: cfg, Log: log, Outbox: outbox,
				Dial: func(co client.Options) (client.Client, error) {
					// The embedded server is on loopback: gzip would only cost CPU.
					co.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
					return ts.NewClient(co)
				}})
			if err != nil {
				return err
			}
			defer a.Close()
			w, err := a.NewWorker()
			if err != nil {
				return err
			}
			if err := w.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			defer w.Stop()
			srv := a.API
			if ui := ts.UIURL(); ui != "" {
				srv.CodecOrigins = append(srv.CodecOrigins, ui, onLocalhost(ui))
			}
			stopTelegram, err := startTelegram(ctx, cfg, log, srv)
			if err != nil {
				return fmt.Errorf("telegram: %w", err)
			}
			defer stopTelegram()
			h := srv.Handler()
			go announce(cmd.ErrOrStderr(), ln, ts, cfg, dir, started, outbox != nil)
			return serveHTTP(ctx, ln, h)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./.authflow", "where the SQLite databases and the generated secret key live")
	cmd.Flags().BoolVar(&ephemeral, "ephemeral", false, "keep everything in memory; nothing survives a restart")
	return cmd
}

// announce waits for /readyz, then prints what a person needs.
func announce(out io.Writer, ln net.Listener, ts *devserver.Server, cfg config.Config, dir string, started time.Time, outbox bool) {
	base := listenURL(ln.Addr())
	for range 300 {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	outboxURL := base + "/dev/outbox"
	if !outbox {
		outboxURL = "(off: every channel has a real provider)"
	}
	store := "in memory (--ephemeral)"
	if dir != "" {
		store = dir
	}
	token := cfg.AdminToken
	if dir != "" && os.Getenv("AUTHFLOW_ADMIN_TOKEN") == "" {
		token += "  (kept in " + filepath.Join(dir, config.AdminTokenFile) + ")"
	}
	fmt.Fprintf(out, `
authflow dev is ready in %s
  API and pages   %s  (login: %s/login)
  dev outbox      %s
  Temporal        %s  (namespace %s)
  Temporal UI     %s
  data            %s
  admin token     %s

  export TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s   # for the temporal CLI (authflow flows finds it by itself)
  curl -X POST %s/v1/admin/users -H 'Authorization: Bearer %s' -d '{"email":"me@example.com","password":"correct horse"}'

`, time.Since(started).Round(time.Millisecond), base, base, outboxURL, ts.FrontendHostPort(), ts.Namespace(),
		orNone(sameSiteUI(ts.UIURL(), cfg.PublicURL)), store, token, ts.FrontendHostPort(), ts.Namespace(), base, cfg.AdminToken)
}

// listenURL names the API's address as a person should open it: a
// loopback or every-interface listener (dev's default is 127.0.0.1:8080) as
// localhost, the default public URL's host. The pages refuse requests from
// any origin but the public URL's, and http://127.0.0.1:8080 is another.
func listenURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP.IsUnspecified() || tcp.IP.IsLoopback()) {
		return fmt.Sprintf("http://localhost:%d", tcp.Port)
	}
	return "http://" + addr.String()
}

func orNone(s string) string {
	if s == "" {
		return "(not running)"
	}
	return s
}

// devOutbox keeps the outbox in the data dir, so a login waiting for a code
// can still be finished after a restart; --ephemeral keeps it in memory.
func devOutbox(dir string) (*channels.Outbox, error) {
	if dir == "" {
		return channels.NewOutbox(), nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return channels.OpenOutbox(filepath.Join(dir, "outbox.jsonl"))
}

// sameSiteUI names the UI by the public URL's host when that is localhost:
// the UI's calls to the codec then carry the codec cookie, which is
// SameSite=Strict and 127.0.0.1 is another site than localhost.
func sameSiteUI(ui, publicURL string) string {
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() == "localhost" {
		return onLocalhost(ui)
	}
	return ui
}

// onLocalhost names a loopback URL's host localhost instead of 127.0.0.1:
// the same server, another site for the browser.
func onLocalhost(u string) string { return strings.Replace(u, "//127.0.0.1:", "//localhost:", 1) }
