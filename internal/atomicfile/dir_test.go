package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Dir replaces a folder only once it is filled: a failed fill leaves the old folder as it was and nothing
// beside it; a successful one leaves exactly the new files.
func TestDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "prepared")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "old.txt"), []byte("old"), 0o644)
	if err := Dir(dir, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "half.txt"), []byte("half"), 0o644)
		return errors.New("the build failed")
	}); err == nil {
		t.Fatal("a failed fill was not an error")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "old.txt")); string(data) != "old" {
		t.Error("a failed fill changed the old folder")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("a failed fill left %d entries beside the folder", len(entries))
	}
	if err := Dir(dir, func(tmp string) error { return os.WriteFile(filepath.Join(tmp, "new.txt"), []byte("new"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "new.txt" {
		t.Errorf("after a successful fill: %v", entries)
	}
}
