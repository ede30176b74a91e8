//go:build linux

package funchost

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the handler in its own process group so that stopping
// it also stops whatever it spawned (a `go run` wrapper, a shell script), and
// has the kernel kill it when the host dies: a SIGKILLed host must not leave
// handlers behind.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
