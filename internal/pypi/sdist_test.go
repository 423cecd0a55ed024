package pypi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A source distribution comes by name through the index's simple API (here a local server standing in for
// PyPI, with a relative link as real indexes may give), once; a file whose SHA-256 is not the pinned one is
// refused and leaves nothing behind.
func TestSdistFetch(t *testing.T) {
	content := []byte("not really a tarball, but bytes with a hash")
	sum := sha256.Sum256(content)
	downloads := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/simple/demo/":
			fmt.Fprintf(w, `<a href="../../files/demo-1.0.tar.gz#sha256=%x">demo-1.0.tar.gz</a><a href="/files/demo-0.9.tar.gz">demo-0.9.tar.gz</a>`, sum)
		case "/files/demo-1.0.tar.gz":
			downloads++
			w.Write(content)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("PIP_INDEX_URL", srv.URL+"/simple")
	dir := t.TempDir()
	s := Sdist{Name: "demo", Version: "1.0", SHA256: hex.EncodeToString(sum[:])}
	for range 2 {
		p, err := s.Fetch(dir, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(p); string(data) != string(content) || filepath.Base(p) != "demo-1.0.tar.gz" {
			t.Fatalf("fetched %s: %q", p, data)
		}
	}
	if downloads != 1 {
		t.Errorf("%d downloads: the second fetch should use the cached file", downloads)
	}
	bad := Sdist{Name: "demo", Version: "1.0", SHA256: strings.Repeat("0", 64)}
	other := t.TempDir()
	_, err := bad.Fetch(other, io.Discard)
	if err == nil || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), hex.EncodeToString(sum[:])) || !strings.Contains(err.Error(), "expected 0000") {
		t.Errorf("a wrong hash: %v", err)
	}
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Errorf("a refused download left %d files", len(left))
	}
	if _, err := (Sdist{Name: "demo", Version: "2.0", SHA256: s.SHA256}).Fetch(t.TempDir(), io.Discard); err == nil || !strings.Contains(err.Error(), "lists no demo-2.0.tar.gz") {
		t.Errorf("a version the index lacks: %v", err)
	}
}
