// Package safetensors reads and writes the safetensors format — the only weight format this project reads:
// it holds data, never code — for adapter checkpoints, PEFT exports and test fixtures.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/gomlx/compute/dtypes/float16"

	"github.com/mtlora/mtlora/internal/atomicfile"
)

// ErrFormat is wrapped by every error about a file's content: its header, a tensor's dtype, shape or bytes.
var ErrFormat = errors.New("safetensors: bad file")

// The safetensors format (the only weight format this project reads: it holds data, never code): an 8-byte
// little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} relative to the data section, then the data.

// Tensor is a float32 tensor held on the host, as read from or written to a safetensors file. DType is its
// dtype in the file (Write writes F32); a tensor of integers or booleans is read with its shape and dtype but
// no Data, so a reader that expects weights can name it.
type Tensor struct {
	Shape []int
	Data  []float32
	DType string
}

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so a corrupt length cannot make us allocate gigabytes.
const maxHeader = 100 << 20

// Write writes float32 tensors (and optional string metadata) to path atomically: a temporary file in
// the same directory, fsync, then rename — a crash never leaves a half-written file under path.
func Write(path string, tensors map[string]Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		size := int64(len(t.Data)) * 4
		header[n] = stEntry{DType: "F32", Shape: t.Shape, Offsets: [2]int64{off, off + size}}
		off += size
	}
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(h)%8 != 0 { // pad with spaces to keep the data aligned, as the reference writer does
		h = append(h, ' ')
	}
	buf := make([]byte, 8, 8+len(h)+int(off))
	binary.LittleEndian.PutUint64(buf, uint64(len(h)))
	buf = append(buf, h...)
	for _, n := range names {
		for _, x := range tensors[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	return atomicfile.Write(path, buf)
}

// Read reads every tensor of a safetensors file as float32: F32 as it is, F16 and BF16 exactly (every value
// of theirs is a float32), F64 rounded to the nearest float32 (the precision every model here computes in).
// Any inconsistency is an ErrFormat naming the file and the tensor.
func Read(path string) (map[string]Tensor, map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrFormat, path, fmt.Sprintf(format, args...))
	}
	if len(raw) < 8 {
		return nil, nil, bad("truncated: %d bytes, too short for a safetensors header", len(raw))
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	if n == 0 || n > maxHeader || n > uint64(len(raw)-8) {
		return nil, nil, bad("corrupt safetensors header: header length %d for a %d-byte file (truncated, or not safetensors)", n, len(raw))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, nil, bad("corrupt safetensors header: %v", err)
	}
	data := raw[8+n:]
	out := map[string]Tensor{}
	var meta map[string]string
	for name, msg := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, bad("corrupt __metadata__: %v", err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, bad("tensor %q: corrupt entry: %v", name, err)
		}
		count := 1
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, bad("tensor %q: negative dimension in shape %v", name, e.Shape)
			}
			count *= d
		}
		width := map[string]int64{"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
			"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}[e.DType]
		if width == 0 {
			return nil, nil, bad("tensor %q: unknown dtype %q", name, e.DType)
		}
		b, end := e.Offsets[0], e.Offsets[1]
		if b < 0 || end < b || end > int64(len(data)) {
			return nil, nil, bad("tensor %q: data offsets %v outside the %d-byte data section (truncated file?)", name, e.Offsets, len(data))
		}
		if end-b != int64(count)*width {
			return nil, nil, bad("tensor %q: shape %v of %s needs %d bytes, data offsets give %d", name, e.Shape, e.DType, int64(count)*width, end-b)
		}
		if !IsFloat(e.DType) {
			out[name] = Tensor{Shape: slices.Clone(e.Shape), DType: e.DType}
			continue
		}
		vals := make([]float32, count)
		src := data[b:end]
		for i := range vals {
			switch e.DType {
			case "F32":
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			case "F64":
				vals[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			case "BF16":
				vals[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
			case "F16":
				vals[i] = float16.Float16(binary.LittleEndian.Uint16(src[2*i:])).Float32()
			}
		}
		out[name] = Tensor{Shape: slices.Clone(e.Shape), Data: vals, DType: e.DType}
	}
	return out, meta, nil
}

// IsFloat reports whether a safetensors dtype is one Read converts to float32 values.
func IsFloat(dtype string) bool {
	return dtype == "F32" || dtype == "F64" || dtype == "F16" || dtype == "BF16"
}
