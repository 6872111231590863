//go:build !nodev

package main

import "github.com/spf13/cobra"

// devCommands embed a Temporal server (and its UI): `dev` for a laptop,
// `bench` for measurements, `temporal-server` and `prodshape` for the
// production shape without Docker. Build with -tags nodev to leave them, and the
// server, out of the binary.
func devCommands() []*cobra.Command {
	return []*cobra.Command{devCmd(), benchCmd(), temporalServerCmd(), prodshapeCmd()}
}
