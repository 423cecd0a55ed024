package pypi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Sdist is a source distribution pinned by name, exact version and SHA-256: what pip cannot download
// without building it, fetched here as a file through the package index's simple API.
type Sdist struct {
	Name, Version string
	SHA256        string // hex
	Size          string // for the message while downloading, e.g. "358 MB"
}

// Filename is the distribution's file name, NAME-VERSION.tar.gz.
func (s Sdist) Filename() string { return s.Name + "-" + s.Version + ".tar.gz" }

// Index is the simple API's root: $PIP_INDEX_URL when set (a mirror), else PyPI's.
func Index() string {
	if u := os.Getenv("PIP_INDEX_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	return "https://pypi.org/simple"
}

// Fetch returns the path of the verified distribution in dir, downloading it once: the index page of the
// name gives the file's address, the file is written beside its final name and renamed only when its
// SHA-256 is the pinned one. A file already there is checked again.
func (s Sdist) Fetch(dir string, log io.Writer) (string, error) {
	path := filepath.Join(dir, s.Filename())
	if _, err := os.Stat(path); err == nil {
		if err := s.Check(path); err != nil {
			return "", err
		}
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	client := &http.Client{Timeout: 30 * time.Minute}
	page := Index() + "/" + s.Name + "/"
	body, err := get(client, page)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(body, 16<<20))
	body.Close()
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %v", ErrFetch, page, err)
	}
	m := regexp.MustCompile(`href="([^"#]*/` + regexp.QuoteMeta(s.Filename()) + `)(#[^"]*)?"`).FindStringSubmatch(string(data))
	if m == nil {
		return "", fmt.Errorf("%w: the index page %s lists no %s", ErrFetch, page, s.Filename())
	}
	base, err := url.Parse(page)
	if err != nil {
		return "", fmt.Errorf("%w: index %s: %v", ErrFetch, page, err)
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", fmt.Errorf("%w: %s links %q: %v", ErrFetch, page, m[1], err)
	}
	file := base.ResolveReference(ref).String() // absolute, or relative to the page
	fmt.Fprintf(log, "downloading %s==%s from %s (%s)…\n", s.Name, s.Version, Index(), s.Size)
	in, err := get(client, file)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+s.Filename()+"-*")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("%w: downloading %s: %v", ErrFetch, file, err)
	}
	if err := s.Check(tmp.Name()); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return path, nil
}

// Check compares a file's SHA-256 with the pinned one (a distribution downloaded elsewhere, say).
func (s Sdist) Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrFetch, path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
		return fmt.Errorf("%w: %s has SHA-256 %s, expected %s (the pinned %s==%s)", ErrFetch, path, got, s.SHA256, s.Name, s.Version)
	}
	return nil
}

func get(client *http.Client, address string) (io.ReadCloser, error) {
	resp, err := client.Get(address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %s", ErrFetch, address, resp.Status)
	}
	return resp.Body, nil
}
