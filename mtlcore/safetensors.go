package mtlcore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtlora/mtlora/internal/safetensors"
)

// readAdapterFile reads every tensor of an adapter's safetensors file; a bad file is an ErrCheckpoint.
func readAdapterFile(path string) (map[string]safetensors.Tensor, map[string]string, error) {
	ts, meta, err := safetensors.Read(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	for name, t := range ts {
		if !safetensors.IsFloat(t.DType) {
			return nil, nil, fmt.Errorf("%w: %s: tensor %s has dtype %s, expected floating-point values", ErrCheckpoint, path, name, t.DType)
		}
	}
	return ts, meta, nil
}

// rejectPickle explains, when a directory holds PyTorch pickles instead of safetensors, why they are refused.
func rejectPickle(dir string) error {
	for _, name := range []string{"adapter_model.bin", "pytorch_model.bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%w: %s holds %s, a PyTorch pickle: pickles can run arbitrary code when loaded and are "+
				"never read here; convert it to safetensors", ErrCheckpoint, dir, name)
		}
	}
	return nil
}

func keyOf(path string) string { return strings.TrimPrefix(path, "/") }
