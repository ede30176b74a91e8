//go:build !unix

package funchost

import "os/exec"

func setProcessGroup(*exec.Cmd) {}

// terminate kills at once: there is no SIGTERM outside unix.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Kill() }

func kill(cmd *exec.Cmd) error { return cmd.Process.Kill() }
