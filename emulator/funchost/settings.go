package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// settings is the app-settings view the real host has under func start.
//
// Precedence (checked against Core Tools StartHostAction.UpdateEnvironmentVariables):
// a process environment variable with a non-empty value wins over the same key in
// local.settings.json Values ("Skipping 'X' from local settings as it's already
// defined in current environment variables"); an empty one does not. Config.Settings
// win over both, being explicit programmatic overrides.
type settings struct {
	values map[string]string
	// local holds the keys that came from local.settings.json or Config.Settings;
	// they are added to the handler's environment.
	local map[string]string
}

// localSettingsFile is the subset of local.settings.json the host reads.
type localSettingsFile struct {
	IsEncrypted bool              `json:"IsEncrypted"`
	Values      map[string]string `json:"Values"`
}

func loadSettings(appDir string, overrides map[string]string, environ []string) (*settings, []string, error) {
	var warnings []string
	s := &settings{values: map[string]string{}, local: map[string]string{}}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			s.values[k] = v
		}
	}
	raw, err := os.ReadFile(filepath.Join(appDir, "local.settings.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, fmt.Errorf("reading local.settings.json: %w", err)
	default:
		var f localSettingsFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, nil, fmt.Errorf("%w: parsing local.settings.json: %v", ErrConfig, err)
		}
		if f.IsEncrypted {
			return nil, nil, fmt.Errorf("%w: local.settings.json is encrypted; decrypt it with `func settings decrypt`", ErrConfig)
		}
		keys := make([]string, 0, len(f.Values))
		for k := range f.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s.values[k] != "" {
				warnings = append(warnings, fmt.Sprintf("Skipping '%s' from local settings as it's already defined in current environment variables.", k))
				continue
			}
			s.values[k] = f.Values[k]
			s.local[k] = f.Values[k]
		}
	}
	for k, v := range overrides {
		s.values[k] = v
		s.local[k] = v
	}
	return s, warnings, nil
}

// get looks a setting up by exact name, then case-insensitively as .NET
// configuration does.
func (s *settings) get(name string) (string, bool) {
	if v, ok := s.values[name]; ok {
		return v, true
	}
	for k, v := range s.values {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// resolve replaces every %Name% in str by the setting's value; an unknown
// setting is an error, as in the real host's name resolver.
func (s *settings) resolve(str string) (string, error) {
	if !strings.Contains(str, "%") {
		return str, nil
	}
	var b strings.Builder
	rest := str
	for {
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i+1:], '%')
		if j < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		name := rest[i+1 : i+1+j]
		v, ok := s.get(name)
		if !ok {
			return "", fmt.Errorf("'%%%s%%' does not resolve to a value (no such app setting)", name)
		}
		b.WriteString(rest[:i])
		b.WriteString(v)
		rest = rest[i+2+j:]
	}
}

// expandEnv expands %VAR% like Environment.ExpandEnvironmentVariables: unknown
// names are left as they are.
func (s *settings) expandEnv(str string) string {
	out, err := s.resolve(str)
	if err != nil {
		return str
	}
	return out
}

// isTrue reads a boolean setting the way the host reads Disabled flags.
func (s *settings) isTrue(name string) bool {
	v, _ := s.get(name)
	v = strings.TrimSpace(v)
	return v == "1" || strings.EqualFold(v, "true")
}
