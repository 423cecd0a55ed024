// Package gguf reads GGUF files (llama.cpp's model format, versions 2 and 3): the metadata, the tensor
// directory, and tensors dequantised to float32.
//
// Layout (ggml's docs/gguf.md): the magic "GGUF", a uint32 version, uint64 tensor and key-value counts; the
// key-value pairs (a string key, a uint32 value type, the value); the tensor directory (name, uint32
// dimension count, uint64 dimensions fastest-varying first, uint32 ggml type, uint64 offset into the data
// section); then, at the next multiple of general.alignment (default 32), the data section. Strings are a
// uint64 length and the bytes; everything is little-endian.
//
// Reading is strict: every length is checked against the bytes left before it is used, every tensor's data
// must lie inside the file at an aligned offset with exactly the bytes its type and shape need, and keys and
// tensor names must be unique. Errors wrap ErrFormat and name the file and the key or tensor.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/gomlx/compute/dtypes/float16"
)

// ErrFormat is wrapped by every error about a file's content.
var ErrFormat = errors.New("gguf: bad file")

// Type is a ggml tensor type.
type Type uint32

// The ggml types (ggml.h's enum ggml_type); those with a layout here can be read.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	BF16 Type = 30
)

// layout is how a type stores its values: blocks of blockLen values in blockBytes bytes.
type layout struct {
	name                 string
	blockLen, blockBytes int
}

var layouts = map[Type]layout{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24}, Q8_0: {"Q8_0", 32, 34},
}

// otherTypes names the ggml types that cannot be read here, for the error.
var otherTypes = map[Type]string{9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
	16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
	24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4"}

func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	if n, ok := otherTypes[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Supported lists the types Read dequantises.
func Supported() []string {
	var out []string
	for _, t := range []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0} {
		out = append(out, t.String())
	}
	return out
}

// Tensor is one entry of the tensor directory.
type Tensor struct {
	Name   string
	Shape  []int // row-major (slowest-varying first): GGUF's dimensions reversed, as PyTorch and GoMLX order them
	Type   Type
	Offset int64 // of its data in the file
	Bytes  int64 // of its data
}

// Len is the number of values.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is an open GGUF file's metadata and tensor directory; Read reads a tensor's values.
type File struct {
	Path    string
	Version uint32
	// Meta holds the key-value metadata: unsigned integers as uint64, signed as int64, floats as float64,
	// bools, strings, and arrays as []uint64, []int64, []float64, []bool, []string (or []any for arrays of
	// arrays).
	Meta      map[string]any
	Keys      []string // in file order
	Tensors   []Tensor // in file order
	Alignment int
	size      int64
}

// reader reads the header, tracking the bytes left in the file.
type reader struct {
	r    *bufio.Reader
	pos  int64
	size int64
}

func (r *reader) bytes(n uint64, what string) ([]byte, error) {
	if n > uint64(r.size-r.pos) {
		return nil, fmt.Errorf("%s of %d bytes at byte %d runs past the end of the file (%d bytes)", what, n, r.pos, r.size)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, fmt.Errorf("%s at byte %d: %w", what, r.pos, err)
	}
	r.pos += int64(n)
	return b, nil
}

func (r *reader) u32(what string) (uint32, error) {
	b, err := r.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64(what string) (uint64, error) {
	b, err := r.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) str(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n, what)
	return string(b), err
}

// Value types of the metadata.
const (
	vUint8 = iota
	vInt8
	vUint16
	vInt16
	vUint32
	vInt32
	vFloat32
	vBool
	vString
	vArray
	vUint64
	vInt64
	vFloat64
)

// scalarBytes is the size of each fixed-size value type.
var scalarBytes = map[uint32]uint64{vUint8: 1, vInt8: 1, vUint16: 2, vInt16: 2, vUint32: 4, vInt32: 4, vFloat32: 4,
	vBool: 1, vUint64: 8, vInt64: 8, vFloat64: 8}

func (r *reader) scalar(typ uint32, what string) (any, error) {
	b, err := r.bytes(scalarBytes[typ], what)
	if err != nil {
		return nil, err
	}
	switch typ {
	case vUint8:
		return uint64(b[0]), nil
	case vInt8:
		return int64(int8(b[0])), nil
	case vUint16:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case vInt16:
		return int64(int16(binary.LittleEndian.Uint16(b))), nil
	case vUint32:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	case vInt32:
		return int64(int32(binary.LittleEndian.Uint32(b))), nil
	case vFloat32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case vBool:
		if b[0] > 1 {
			return nil, fmt.Errorf("%s: boolean byte %d (expected 0 or 1)", what, b[0])
		}
		return b[0] == 1, nil
	case vUint64:
		return binary.LittleEndian.Uint64(b), nil
	case vInt64:
		return int64(binary.LittleEndian.Uint64(b)), nil
	case vFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return nil, fmt.Errorf("%s: unknown value type %d", what, typ)
}

func (r *reader) value(typ uint32, what string, depth int) (any, error) {
	switch typ {
	case vString:
		return r.str(what)
	case vArray:
		if depth > 4 {
			return nil, fmt.Errorf("%s: arrays nested deeper than 4", what)
		}
		elem, err := r.u32(what + " element type")
		if err != nil {
			return nil, err
		}
		n, err := r.u64(what + " length")
		if err != nil {
			return nil, err
		}
		min := scalarBytes[elem] // the least bytes an element takes: bounds n before anything is allocated
		if elem == vString || elem == vArray {
			min = 8
		}
		if min == 0 {
			return nil, fmt.Errorf("%s: unknown array element type %d", what, elem)
		}
		if n > uint64(r.size-r.pos)/min {
			return nil, fmt.Errorf("%s: an array of %d elements cannot fit the %d bytes left", what, n, r.size-r.pos)
		}
		var out any
		switch elem {
		case vString:
			s := make([]string, n)
			for i := range s {
				if s[i], err = r.str(fmt.Sprintf("%s[%d]", what, i)); err != nil {
					return nil, err
				}
			}
			out = s
		case vArray:
			a := make([]any, n)
			for i := range a {
				if a[i], err = r.value(vArray, fmt.Sprintf("%s[%d]", what, i), depth+1); err != nil {
					return nil, err
				}
			}
			out = a
		default:
			var us []uint64
			var is []int64
			var fs []float64
			var bs []bool
			for i := range n {
				v, err := r.scalar(elem, fmt.Sprintf("%s[%d]", what, i))
				if err != nil {
					return nil, err
				}
				switch x := v.(type) {
				case uint64:
					us = append(us, x)
				case int64:
					is = append(is, x)
				case float64:
					fs = append(fs, x)
				case bool:
					bs = append(bs, x)
				}
			}
			switch elem {
			case vUint8, vUint16, vUint32, vUint64:
				out = orEmpty(us)
			case vInt8, vInt16, vInt32, vInt64:
				out = orEmpty(is)
			case vFloat32, vFloat64:
				out = orEmpty(fs)
			default:
				out = orEmpty(bs)
			}
		}
		return out, nil
	}
	if _, ok := scalarBytes[typ]; !ok {
		return nil, fmt.Errorf("%s: unknown value type %d", what, typ)
	}
	return r.scalar(typ, what)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Open reads a GGUF file's header: metadata and tensor directory, every entry checked.
func Open(path string) (*File, error) {
	bad := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrFormat, path, err) }
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	r := &reader{r: bufio.NewReaderSize(f, 1<<20), size: st.Size()}
	magic, err := r.bytes(4, "magic")
	if err != nil {
		return nil, bad(err)
	}
	if string(magic) != "GGUF" {
		return nil, bad(fmt.Errorf("starts with %q, not the magic \"GGUF\": not a GGUF file", magic))
	}
	out := &File{Path: path, Meta: map[string]any{}, Alignment: 32, size: st.Size()}
	if out.Version, err = r.u32("version"); err != nil {
		return nil, bad(err)
	}
	if out.Version != 2 && out.Version != 3 {
		return nil, bad(fmt.Errorf("version %d (supported: 2 and 3)", out.Version))
	}
	nTensors, err := r.u64("tensor count")
	if err != nil {
		return nil, bad(err)
	}
	nKV, err := r.u64("metadata count")
	if err != nil {
		return nil, bad(err)
	}
	if nKV > uint64(r.size)/12 || nTensors > uint64(r.size)/28 { // the smallest key-value pair and tensor entry
		return nil, bad(fmt.Errorf("%d metadata entries and %d tensors cannot fit %d bytes", nKV, nTensors, r.size))
	}
	for i := range nKV {
		key, err := r.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, bad(err)
		}
		if _, dup := out.Meta[key]; dup {
			return nil, bad(fmt.Errorf("metadata key %q appears twice", key))
		}
		typ, err := r.u32("value type of " + key)
		if err != nil {
			return nil, bad(err)
		}
		v, err := r.value(typ, "metadata "+key, 0)
		if err != nil {
			return nil, bad(err)
		}
		out.Meta[key] = v
		out.Keys = append(out.Keys, key)
	}
	if a, ok := out.Meta["general.alignment"]; ok {
		u, isU := a.(uint64)
		if !isU || u == 0 || u&(u-1) != 0 || u > 1<<20 {
			return nil, bad(fmt.Errorf("general.alignment %v: expected a power of two", a))
		}
		out.Alignment = int(u)
	}
	names := map[string]bool{}
	var rel []uint64
	for i := range nTensors {
		name, err := r.str(fmt.Sprintf("tensor %d name", i))
		if err != nil {
			return nil, bad(err)
		}
		if names[name] {
			return nil, bad(fmt.Errorf("tensor %q appears twice", name))
		}
		names[name] = true
		nd, err := r.u32("dimension count of " + name)
		if err != nil {
			return nil, bad(err)
		}
		if nd == 0 || nd > 4 {
			return nil, bad(fmt.Errorf("tensor %q: %d dimensions (ggml allows 1 to 4)", name, nd))
		}
		t := Tensor{Name: name, Shape: make([]int, nd)}
		n := uint64(1)
		for d := range nd {
			v, err := r.u64(fmt.Sprintf("dimension %d of %s", d, name))
			if err != nil {
				return nil, bad(err)
			}
			if v == 0 || v > 1<<40 || n*v/v != n || n*v > 1<<40 {
				return nil, bad(fmt.Errorf("tensor %q: dimension %d is %d", name, d, v))
			}
			n *= v
			t.Shape[int(nd)-1-int(d)] = int(v) // GGUF lists the fastest-varying dimension first
		}
		typ, err := r.u32("type of " + name)
		if err != nil {
			return nil, bad(err)
		}
		t.Type = Type(typ)
		off, err := r.u64("offset of " + name)
		if err != nil {
			return nil, bad(err)
		}
		if l, ok := layouts[t.Type]; ok {
			if t.Shape[len(t.Shape)-1]%l.blockLen != 0 {
				return nil, bad(fmt.Errorf("tensor %q: %s rows of %d values are not whole blocks of %d", name, l.name, t.Shape[len(t.Shape)-1], l.blockLen))
			}
			t.Bytes = int64(n) / int64(l.blockLen) * int64(l.blockBytes)
		}
		out.Tensors = append(out.Tensors, t)
		rel = append(rel, off)
	}
	data := (r.pos + int64(out.Alignment) - 1) / int64(out.Alignment) * int64(out.Alignment)
	for i := range out.Tensors {
		t := &out.Tensors[i]
		if rel[i]%uint64(out.Alignment) != 0 {
			return nil, bad(fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", t.Name, rel[i], out.Alignment))
		}
		if rel[i] > uint64(r.size) {
			return nil, bad(fmt.Errorf("tensor %q: its data at byte %d lies past the end of the file (%d bytes): the file is cut short", t.Name, rel[i], r.size))
		}
		t.Offset = data + int64(rel[i])
		if t.Bytes > 0 && t.Offset+t.Bytes > r.size {
			return nil, bad(fmt.Errorf("tensor %q: its %d bytes at byte %d run past the end of the file (%d bytes): the file is cut short", t.Name, t.Bytes, t.Offset, r.size))
		}
	}
	// Tensors must not overlap (sorted by offset, each must end before the next begins).
	order := slices.Clone(out.Tensors)
	slices.SortFunc(order, func(a, b Tensor) int { return int(a.Offset - b.Offset) })
	for i := 1; i < len(order); i++ {
		if order[i-1].Bytes > 0 && order[i-1].Offset+order[i-1].Bytes > order[i].Offset {
			return nil, bad(fmt.Errorf("tensors %q and %q overlap", order[i-1].Name, order[i].Name))
		}
	}
	return out, nil
}

// Tensor returns the directory entry of the named tensor.
func (f *File) Tensor(name string) (Tensor, bool) {
	i := slices.IndexFunc(f.Tensors, func(t Tensor) bool { return t.Name == name })
	if i < 0 {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Read returns a tensor's values as float32 in row-major order, dequantised.
func (f *File) Read(t Tensor) ([]float32, error) {
	l, ok := layouts[t.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %s: tensor %q is %s, a quantisation this reader does not dequantise (supported: %v)",
			ErrFormat, f.Path, t.Name, t.Type, Supported())
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fh.Close()
	raw := make([]byte, t.Bytes)
	if _, err := fh.ReadAt(raw, t.Offset); err != nil {
		return nil, fmt.Errorf("%w: %s: tensor %q: %w", ErrFormat, f.Path, t.Name, err)
	}
	out := make([]float32, t.Len())
	dequantize(t.Type, raw, out, l)
	return out, nil
}

// dequantize decodes raw (whole blocks of layout l) into out.
func dequantize(typ Type, raw []byte, out []float32, l layout) {
	half := func(b []byte) float32 { return float16.Float16(binary.LittleEndian.Uint16(b)).Float32() }
	for b := 0; b*l.blockLen < len(out); b++ {
		blk := raw[b*l.blockBytes : (b+1)*l.blockBytes]
		o := out[b*l.blockLen : (b+1)*l.blockLen]
		switch typ {
		case F32:
			o[0] = math.Float32frombits(binary.LittleEndian.Uint32(blk))
		case F16:
			o[0] = half(blk)
		case BF16:
			o[0] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(blk)) << 16)
		case Q8_0: // d (f16), 32 int8: x = d·q
			d := half(blk)
			for j := range 32 {
				o[j] = d * float32(int8(blk[2+j]))
			}
		case Q4_0: // d, 16 bytes of nibbles: low nibbles are values 0–15, high 16–31; x = d·(q − 8)
			d := half(blk)
			for j := range 16 {
				q := blk[2+j]
				o[j] = d * float32(int(q&0x0f)-8)
				o[j+16] = d * float32(int(q>>4)-8)
			}
		case Q4_1: // d, m, nibbles: x = d·q + m
			d, m := half(blk), half(blk[2:])
			for j := range 16 {
				q := blk[4+j]
				o[j] = d*float32(q&0x0f) + m
				o[j+16] = d*float32(q>>4) + m
			}
		case Q5_0, Q5_1: // d, [m,] 32 high bits, nibbles: the fifth bit of value j is bit j of qh
			d, m, p := half(blk), float32(0), 2
			if typ == Q5_1 {
				m, p = half(blk[2:]), 4
			}
			qh := binary.LittleEndian.Uint32(blk[p:])
			qs := blk[p+4:]
			for j := range 16 {
				lo := int(qs[j]&0x0f) | int((qh>>j)&1)<<4
				hi := int(qs[j]>>4) | int((qh>>(j+16))&1)<<4
				if typ == Q5_0 {
					o[j], o[j+16] = d*float32(lo-16), d*float32(hi-16)
				} else {
					o[j], o[j+16] = d*float32(lo)+m, d*float32(hi)+m
				}
			}
		}
	}
}
