package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/mtlora/mtlora/internal/atomicfile"
)

// ErrCheckpoint is wrapped by every error reading a training checkpoint.
var ErrCheckpoint = errors.New("trainer: bad checkpoint")

// A training checkpoint is a directory step-NNNNNNNN/ holding variables.bin (raw little-endian tensors),
// manifest.json (path, dtype, shape, byte range and trainability of each variable) and state.json (the
// trainer's own state), written into a temporary directory, fsynced and renamed into place; the file LATEST
// names the newest one and is itself replaced atomically. A crash at any moment leaves either the previous
// checkpoint or the new one, never a half-written one. Frozen pretrained weights are not saved (they are
// reloaded from their own checkpoint); every other variable is — adapters, heads, optimizer moments, the
// global step, the random-number state.

type varEntry struct {
	Path      string `json:"path"`
	DType     string `json:"dtype"`
	Shape     []int  `json:"shape"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	Trainable bool   `json:"trainable"`
}

// saveCheckpoint writes state and every variable of store but those skip selects, as dir/step-<step>.
func saveCheckpoint(dir string, step int, store *model.Store, skip func(*model.Variable) bool, state any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-step-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var entries []varEntry
	var blob []byte
	for v := range store.IterVariables() {
		if skip(v) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("trainer: checkpoint: variable %s: %w", v.Path(), err)
		}
		e := varEntry{Path: v.Path(), DType: t.DType().String(), Shape: t.Shape().Dimensions, Offset: int64(len(blob)), Trainable: v.Trainable}
		t.ConstBytes(func(b []byte) { blob = append(blob, b...) })
		e.Length = int64(len(blob)) - e.Offset
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b varEntry) int { return strings.Compare(a.Path, b.Path) })
	manifest, err := json.MarshalIndent(entries, "", " ")
	if err != nil {
		return err
	}
	st, err := json.MarshalIndent(state, "", " ")
	if err != nil {
		return err
	}
	final := filepath.Join(dir, fmt.Sprintf("step-%08d", step))
	for name, data := range map[string][]byte{"variables.bin": blob, "manifest.json": manifest, "state.json": st} {
		if err := writeSynced(filepath.Join(tmp, name), data); err != nil {
			return fmt.Errorf("trainer: writing the checkpoint of step %d (%s): %w; the previous checkpoint is kept", step, final, err)
		}
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	syncDir(dir) // the rename is durable before LATEST names it
	if err := atomicfile.Write(filepath.Join(dir, "LATEST"), []byte(filepath.Base(final)+"\n")); err != nil {
		return fmt.Errorf("trainer: checkpoint of step %d: %w; the previous checkpoint is kept", step, err)
	}
	return pruneCheckpoints(dir, keepCheckpoints)
}

// keepCheckpoints is how many step-* checkpoints a directory keeps: the one LATEST names and the one before
// it (a run checkpointing every 1/20 of its steps would otherwise keep twenty).
const keepCheckpoints = 2

// pruneCheckpoints removes all but the newest keep step-* checkpoints of dir (names sort by step).
func pruneCheckpoints(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var steps []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") {
			steps = append(steps, e.Name())
		}
	}
	slices.Sort(steps)
	for _, name := range steps[:max(0, len(steps)-keep)] {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("trainer: removing the old checkpoint %s: %w", name, err)
		}
	}
	return nil
}

// loadCheckpoint reads the checkpoint named by dir/LATEST into store (creating or overwriting its variables)
// and state; found is false when dir has no checkpoint.
func loadCheckpoint(dir string, store *model.Store, state any) (found bool, err error) {
	latest, err := os.ReadFile(filepath.Join(dir, "LATEST"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	ck := filepath.Join(dir, strings.TrimSpace(string(latest)))
	var entries []varEntry
	if err := readJSON(filepath.Join(ck, "manifest.json"), &entries); err != nil {
		return false, err
	}
	if err := readJSON(filepath.Join(ck, "state.json"), state); err != nil {
		return false, err
	}
	blob, err := os.ReadFile(filepath.Join(ck, "variables.bin"))
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	for _, e := range entries {
		dt, ok := dtypes.MapOfNames[e.DType]
		if !ok {
			return false, fmt.Errorf("%w: %s: variable %s has unknown dtype %q", ErrCheckpoint, ck, e.Path, e.DType)
		}
		shape := shapes.Make(dt, e.Shape...)
		if e.Offset < 0 || e.Length != int64(shape.ByteSize()) || e.Offset+e.Length > int64(len(blob)) {
			return false, fmt.Errorf("%w: %s: variable %s: bytes [%d, %d) do not hold a %s tensor in a %d-byte file",
				ErrCheckpoint, ck, e.Path, e.Offset, e.Offset+e.Length, shape, len(blob))
		}
		t, err := tensors.FromRaw(nil, 0, shape, blob[e.Offset:e.Offset+e.Length])
		if err != nil {
			return false, fmt.Errorf("%w: %s: variable %s: %w", ErrCheckpoint, ck, e.Path, err)
		}
		if v := store.GetVariable(e.Path); v != nil {
			if !v.Shape().Equal(shape) {
				return false, fmt.Errorf("%w: %s: variable %s is %s in the checkpoint, %s in the model", ErrCheckpoint, ck, e.Path, shape, v.Shape())
			}
			if err := v.SetValue(t); err != nil {
				return false, err
			}
			v.Trainable = e.Trainable
			continue
		}
		v, err := store.CreateVariable(e.Path, t)
		if err != nil {
			return false, fmt.Errorf("%w: %s: variable %s: %w", ErrCheckpoint, ck, e.Path, err)
		}
		v.Trainable = e.Trainable
	}
	return true, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	return nil
}

// writeSynced writes and fsyncs a new file.
// syncDir flushes a directory's entries (renames) to disk; errors are ignored where a file system cannot.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadWeights reads the checkpoint named by dir/LATEST (a run's checkpoints/ or best/) into store: the
// variables a run saved (adapters, heads, optimizer state), creating or overwriting them.
func LoadWeights(dir string, store *model.Store) error {
	var state json.RawMessage
	found, err := loadCheckpoint(dir, store, &state)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s holds no checkpoint (no LATEST file)", ErrCheckpoint, dir)
	}
	return nil
}
