//go:build unix

package funchost

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the handler in its own process group so that stopping
// it also stops whatever it spawned (a `go run` wrapper, a shell script).
func setProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func terminate(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
