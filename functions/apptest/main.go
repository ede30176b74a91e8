package apptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// bins holds what Main prepares for the whole test binary.
var bins struct {
	root    string // repository root
	handler string // the real custom handler
	flaky   string // testdata/flaky: fault-injecting wrapper around it
	// flakyLambda is testdata/flakylambda: the same around the Lambda bootstrap.
	flakyLambda string
}

// Main builds the handler and the fault-injecting wrapper once, runs the
// tests and removes the binaries. Call it from TestMain.
func Main(m *testing.M) {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "apptest:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "apptest-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "apptest:", err)
		os.Exit(1)
	}
	bins.root = root
	bins.handler = filepath.Join(dir, "handler")
	bins.flaky = filepath.Join(dir, "flaky")
	bins.flakyLambda = filepath.Join(dir, "flakylambda")
	for out, pkg := range map[string]string{bins.handler: "./functions/cmd/handler", bins.flaky: "./functions/apptest/testdata/flaky",
		bins.flakyLambda: "./functions/apptest/testdata/flakylambda"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "apptest: building %s: %v\n%s", pkg, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot() (string, error) { return stage.RepoRoot() }
