//go:build nodev

package main

import "github.com/spf13/cobra"

// devCommands is empty in a production binary (-tags nodev): no embedded
// Temporal server or UI, so a smaller image with less in it.
func devCommands() []*cobra.Command { return nil }
