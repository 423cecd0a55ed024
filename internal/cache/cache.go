// Package cache says where the toolkit keeps what it fetches: models, data, assets, tools.
package cache

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env names the environment variable that moves the toolkit's cache (models, data, assets, tools).
const Env = "MTLORA_CACHE"

// Dir returns a directory under the toolkit's cache: $MTLORA_CACHE/<parts…>, default the user cache
// directory's mtlora/<parts…>. Nothing is created.
func Dir(parts ...string) (string, error) {
	base := os.Getenv(Env)
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("cache: no cache directory (%v); set %s", err, Env)
		}
		base = filepath.Join(c, "mtlora")
	}
	return filepath.Join(append([]string{base}, parts...)...), nil
}
