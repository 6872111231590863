//go:build !nodev

package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/authflow/authflow/config"
)

// claimDevPorts checks every port `authflow dev` opens before anything
// starts, and returns the API's listener, already bound. A busy port is
// named with the variable that sets it (all of them at once), where
// otherwise the embedded Temporal would have started first and then
// failed, or the UI exited the process. The Temporal services' internal
// ports (history, matching, worker) are free ones the kernel picks.
func claimDevPorts(cfg config.Config) (net.Listener, error) {
	var errs []error
	_, httpPort, _ := net.SplitHostPort(cfg.HTTPAddr)
	ports := []struct {
		name string
		port int
	}{{"AUTHFLOW_TEMPORAL_PORT", cfg.TemporalPort}, {"AUTHFLOW_TEMPORAL_UI_PORT", cfg.TemporalUIPort}}
	for i, p := range ports {
		if p.port == 0 {
			continue
		}
		if strconv.Itoa(p.port) == httpPort {
			errs = append(errs, fmt.Errorf("%s and AUTHFLOW_HTTP_ADDR both name port %d: give one of them another port", p.name, p.port))
		}
		for _, q := range ports[:i] {
			if q.port == p.port {
				errs = append(errs, fmt.Errorf("%s and %s both name port %d: give one of them another port (0 picks a free one)", q.name, p.name, p.port))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		errs = append(errs, fmt.Errorf("AUTHFLOW_HTTP_ADDR %s cannot be listened on (%v): another authflow dev or another server has it; set AUTHFLOW_HTTP_ADDR to another address, e.g. 127.0.0.1:8081", cfg.HTTPAddr, err))
	}
	for _, p := range ports {
		if p.port == 0 {
			continue
		}
		probe, err := net.Listen("tcp", net.JoinHostPort(devIP, strconv.Itoa(p.port)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: port %d on %s is in use (%v): another authflow dev or Temporal server may run there; set %s to another port, or 0 for a free one", p.name, p.port, devIP, err, p.name))
			continue
		}
		probe.Close()
	}
	if len(errs) > 0 {
		if ln != nil {
			ln.Close()
		}
		return nil, errors.Join(errs...)
	}
	return ln, nil
}
