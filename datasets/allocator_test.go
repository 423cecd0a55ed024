package datasets

import (
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// poolAllocator hands freed buffers out again, as pooling allocators do, after overwriting them: a value
// read from a released batch shows up as other bytes instead of passing by luck.
type poolAllocator struct {
	mu   sync.Mutex
	free map[int][][]byte
}

func (p *poolAllocator) Allocate(size int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[size]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[size] = l[:len(l)-1]
		clear(b)
		return b
	}
	return make([]byte, size)
}

func (p *poolAllocator) Reallocate(size int, b []byte) []byte {
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *poolAllocator) Free(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range b {
		b[i] = 0xDB
	}
	if p.free == nil {
		p.free = map[int][][]byte{}
	}
	p.free[len(b)] = append(p.free[len(b)], b[:len(b):len(b)])
}

// loadWith loads every integrity file with an allocator and returns the examples by file name.
func loadWith(t *testing.T, dir string, files map[string][]byte, mem memory.Allocator) map[string][]Example {
	t.Helper()
	out := map[string][]Example{}
	for name := range files {
		set, err := Load(integritySpec(filepath.Join(dir, name)), ReadOptions{BatchRows: 5, Mem: mem}, 0.2, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = set.Examples
	}
	return out
}

// Load (and InferSpec, ReadInputs) with a caller's allocator that really reuses memory returns exactly the
// values of the default allocator, in every format, and releases everything it allocated.
func TestLoadOwnsItsValues(t *testing.T) {
	dir := t.TempDir()
	files := integrityFiles(t)
	for name, data := range files {
		loadBytes(t, dir, name, data)
	}
	want := loadWith(t, dir, files, nil)
	allocators := map[string]memory.Allocator{"pooling": &poolAllocator{}}
	for name, mem := range cAllocators() {
		allocators[name] = mem
	}
	for name, base := range allocators {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(base)
			got := loadWith(t, dir, files, mem)
			for file := range files {
				if !reflect.DeepEqual(got[file], want[file]) {
					t.Errorf("%s: the %s allocator gives other values than the default one", file, name)
				}
				path := filepath.Join(dir, file)
				spec, err := InferSpec(path, ReadOptions{BatchRows: 5, Mem: mem})
				wantSpec, err2 := InferSpec(path, ReadOptions{BatchRows: 5})
				if err != nil || err2 != nil || !reflect.DeepEqual(spec, wantSpec) {
					t.Errorf("%s: InferSpec with the %s allocator: %+v, %v; default: %+v, %v", file, name, spec, err, wantSpec, err2)
				}
				in, err := ReadInputs(path, ReadOptions{BatchRows: 5, Mem: mem}, "")
				wantIn, err2 := ReadInputs(path, ReadOptions{BatchRows: 5}, "")
				if err != nil || err2 != nil || !reflect.DeepEqual(in, wantIn) {
					t.Errorf("%s: ReadInputs with the %s allocator differs from the default: %v, %v", file, name, err, err2)
				}
			}
			mem.AssertSize(t, 0)
		})
	}
	if len(allocators) < 2 {
		t.Log("built without cgo: arrow-go's C allocator not tested")
	}
}
