//go:build unix && !linux

package funchost

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the handler in its own process group so that stopping
// it also stops whatever it spawned. There is no parent-death
// signal in Go's syscall package, so a killed host leaves its handlers running.
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
