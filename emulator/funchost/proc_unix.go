//go:build unix

package funchost

import (
	"os/exec"
	"syscall"
)

// terminate and kill signal the handler's whole process group (see
// setProcessGroup).
func terminate(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
