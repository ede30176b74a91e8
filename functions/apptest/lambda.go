package apptest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// RIEPackage is the AWS Lambda Runtime Interface Emulator, the reference
// Runtime API the Lambda tests compare against. It is a test tool, not a
// dependency of the app: it is installed with go install into a cache
// directory, never added to go.mod.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

var (
	bootstrapBin struct {
		once sync.Once
		path string
		err  error
	}
	rieBin struct {
		once sync.Once
		path string
		err  error
	}
)

// Bootstrap builds the Lambda bootstrap (functions/cmd/lambda) for this
// machine as make package-lambda does for Lambda (CGO_ENABLED=0, tag
// lambda.norpc) and returns its path: once per test binary next to the
// handler when Main runs, else into the test's temporary directory.
func Bootstrap(t testing.TB) string {
	t.Helper()
	if bins.handler == "" {
		out, err := buildBootstrap(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	bootstrapBin.once.Do(func() {
		bootstrapBin.path, bootstrapBin.err = buildBootstrap(filepath.Dir(bins.handler))
	})
	if bootstrapBin.err != nil {
		t.Fatal(bootstrapBin.err)
	}
	return bootstrapBin.path
}

func buildBootstrap(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./functions/cmd/lambda")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building functions/cmd/lambda: %v\n%s", err, b)
	}
	return out, nil
}

// RIE returns the path of aws-lambda-rie: from PATH, else from the user
// cache directory, else installed there with go install (from the Go
// module proxy). The test is skipped, with the reason, only when it can
// be neither found nor installed.
func RIE(t testing.TB) string {
	t.Helper()
	rieBin.once.Do(func() {
		if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
			rieBin.path = p
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		gobin := filepath.Join(cache, "orderflow", "bin")
		p := filepath.Join(gobin, "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			rieBin.path = p
			return
		}
		cmd := exec.Command("go", "install", RIEPackage)
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
		cmd.Dir = os.TempDir() // outside our module: go install pkg@version ignores go.mod
		if b, err := cmd.CombinedOutput(); err != nil {
			rieBin.err = fmt.Errorf("go install %s: %v\n%s", RIEPackage, err, b)
			return
		}
		if _, err := os.Stat(p); err != nil {
			rieBin.err = errors.Join(fmt.Errorf("go install %s left no binary", RIEPackage), err)
			return
		}
		rieBin.path = p
	})
	if rieBin.err != nil {
		t.Skipf("the AWS Lambda Runtime Interface Emulator is not available: %v", rieBin.err)
	}
	return rieBin.path
}
