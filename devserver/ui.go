package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// startUI serves the Temporal UI (its assets are embedded in the ui-server
// module) on port and returns once it answers HTTP.
func (s *Server) startUI(ctx context.Context, o Options, port int) error {
	host := o.IP
	// The UI server joins host and port with a plain colon.
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.hostPort,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		// Plain HTTP on a laptop: a Secure CSRF cookie would never be sent
		// back and every write action in the UI would fail.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// Its access log would bypass Options.Logger.
		HideLogs: true,
		// A dev server may be offline, and it should not phone home.
		DisableNewsFetch: true,
	}
	if o.UICodec != nil {
		cfg.Codec = uiconfig.Codec{Endpoint: o.UICodec.Endpoint, IncludeCredentials: true,
			DefaultErrorMessage: "Payloads are encrypted: sign this browser in to the codec with the admin token.",
			DefaultErrorLink:    o.UICodec.SignInURL}
	}
	ui := uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	// Start blocks until Stop. It exits the process if it cannot bind, which
	// pickPorts makes unlikely by checking the port just before.
	go func() { _ = ui.Start() }()
	s.ui = ui
	s.uiURL = "http://" + net.JoinHostPort(dialHost(o.IP), strconv.Itoa(port))

	health := s.uiURL + "/healthz"
	return poll(ctx, "UI at "+s.uiURL, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", health, resp.Status)
		}
		return nil
	})
}
