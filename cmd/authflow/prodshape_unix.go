//go:build !nodev && !linux

package main

import "syscall"

// childProcAttr puts a supervised process in its own process group: a
// terminal's ^C reaches the supervisor only, which stops the processes in
// order. (Only Linux can also stop them when the supervisor dies.)
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
