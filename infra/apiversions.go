package infra

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AllowlistFile is the checked-in list of type@apiVersion pairs, in Dir.
const AllowlistFile = "api-versions.txt"

// APIVersions checks that every resource declaration names its API version
// and that each type@version is in api-versions.txt.
func (c Checker) APIVersions() error {
	allowed, err := readAllowlist(filepath.Join(c.dir(), AllowlistFile))
	if err != nil {
		return err
	}
	t, err := c.read()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range t.resources("") {
		typ, version := r.d.ResourceType()
		switch {
		case version == "":
			errs = append(errs, r.finding("resource %s: type %q has no @apiVersion", r.d.Name, r.d.Type))
		case !allowed[strings.ToLower(typ+"@"+version)]:
			errs = append(errs, r.finding("resource %s: %s@%s is not in %s", r.d.Name, typ, version, AllowlistFile))
		}
	}
	return errors.Join(errs...)
}

// readAllowlist returns the lower-cased type@version entries of path.
func readAllowlist(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading API version allowlist: %w", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 1 || !strings.Contains(fields[0], "@") {
			return nil, &Finding{File: path, Line: n, Msg: fmt.Sprintf("want type@version, got %q", line)}
		}
		out[strings.ToLower(fields[0])] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading API version allowlist: %w", err)
	}
	return out, nil
}
