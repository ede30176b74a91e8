package setting

import (
	"encoding/json"
	"fmt"
	"os"
)

// LoadLocalSettings copies the Values of a local.settings.json into the
// environment without overriding variables already set, so tools run
// beside `make run` see the app's settings. A missing file is not an error.
func LoadLocalSettings(path string) error {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var doc struct{ Values map[string]string }
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	for k, v := range doc.Values {
		if _, set := os.LookupEnv(k); !set {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
		}
	}
	return nil
}
