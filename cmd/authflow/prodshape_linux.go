//go:build !nodev

package main

import "syscall"

// childProcAttr puts a supervised process in its own process group (a
// terminal's ^C reaches the supervisor only, which stops the processes in
// order) and sends it SIGTERM should the supervisor die without stopping
// it (killed, crashed): nothing of the shape outlives `prodshape up`.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
