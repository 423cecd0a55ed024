// Package arrowmsg reads Arrow IPC messages with their FlatBuffers metadata checked before arrow-go decodes
// it. arrow-go (v18.8) trusts the vector lengths in that metadata: a damaged length makes it allocate
// length × element size — hundreds of gigabytes from one flipped byte — and the process dies of an
// out-of-memory error no recover can catch. Here every table, vector and string that arrow-go reads from a
// Message or a file Footer is checked to lie inside the metadata buffer first, so a damaged file is an
// error.
//
// Layout (FlatBuffers): a buffer starts with the uint32 offset of its root table; a table starts with an
// int32 back to its vtable (uint16 vtable size, uint16 table size, then one uint16 offset per field, 0 when
// absent); an offset field holds a uint32 relative to its own position; a vector or string is a uint32
// length followed by its elements. Tables and field numbers are those of Arrow's Schema.fbs, Message.fbs
// and File.fbs.
package arrowmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMetadata is wrapped by every error about damaged metadata.
var ErrMetadata = errors.New("arrowmsg: damaged Arrow IPC metadata")

type buffer struct {
	b     []byte
	depth int
}

type table struct {
	buf       *buffer
	pos       int
	vt, vtLen int // vtable position and size in bytes
	size      int // inline size of the table
}

func (b *buffer) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMetadata, fmt.Sprintf(format, args...))
}

func (b *buffer) u32(pos int) (int, error) {
	if pos < 0 || pos+4 > len(b.b) {
		return 0, b.fail("offset %d outside the %d-byte metadata", pos, len(b.b))
	}
	return int(binary.LittleEndian.Uint32(b.b[pos:])), nil
}

// table checks the table at pos: its vtable and inline size lie inside the buffer.
func (b *buffer) table(pos int) (table, error) {
	t := table{buf: b, pos: pos}
	if pos < 0 || pos+4 > len(b.b) {
		return t, b.fail("table at %d outside the %d-byte metadata", pos, len(b.b))
	}
	t.vt = pos - int(int32(binary.LittleEndian.Uint32(b.b[pos:])))
	if t.vt < 0 || t.vt+4 > len(b.b) {
		return t, b.fail("vtable at %d outside the %d-byte metadata", t.vt, len(b.b))
	}
	t.vtLen = int(binary.LittleEndian.Uint16(b.b[t.vt:]))
	t.size = int(binary.LittleEndian.Uint16(b.b[t.vt+2:]))
	if t.vtLen < 4 || t.vtLen%2 != 0 || t.vt+t.vtLen > len(b.b) || pos+t.size > len(b.b) {
		return t, b.fail("table at %d: vtable of %d bytes or table of %d bytes does not fit", pos, t.vtLen, t.size)
	}
	return t, nil
}

// field returns the position of field i, or 0 when the table does not have it.
func (t table) field(i int) (int, error) {
	if 4+2*i+2 > t.vtLen {
		return 0, nil
	}
	off := int(binary.LittleEndian.Uint16(t.buf.b[t.vt+4+2*i:]))
	if off == 0 {
		return 0, nil
	}
	if off+1 > t.size {
		return 0, t.buf.fail("table at %d: field %d at %d lies past the table's %d bytes", t.pos, i, off, t.size)
	}
	return t.pos + off, nil
}

// ref follows the offset field i to the position it points at (0: absent).
func (t table) ref(i int) (int, error) {
	p, err := t.field(i)
	if err != nil || p == 0 {
		return 0, err
	}
	off, err := t.buf.u32(p)
	if err != nil {
		return 0, err
	}
	return p + off, nil
}

// vector checks the vector of field i whose elements take elem bytes, and returns its length and the
// position of its first element.
func (t table) vector(i, elem int) (n, start int, err error) {
	p, err := t.ref(i)
	if err != nil || p == 0 {
		return 0, 0, err
	}
	if n, err = t.buf.u32(p); err != nil {
		return 0, 0, err
	}
	if n > (len(t.buf.b)-p-4)/elem {
		return 0, 0, t.buf.fail("table at %d: field %d is a vector of %d elements of %d bytes, more than the %d-byte metadata holds",
			t.pos, i, n, elem, len(t.buf.b))
	}
	return n, p + 4, nil
}

// child returns the table of field i (ok false when absent).
func (t table) child(i int) (table, bool, error) {
	p, err := t.ref(i)
	if err != nil || p == 0 {
		return table{}, false, err
	}
	c, err := t.buf.table(p)
	return c, err == nil, err
}

// tables checks a vector of tables (field i) with check.
func (t table) tables(i int, check func(table) error) error {
	n, start, err := t.vector(i, 4)
	if err != nil {
		return err
	}
	for k := range n {
		off, err := t.buf.u32(start + 4*k)
		if err != nil {
			return err
		}
		c, err := t.buf.table(start + 4*k + off)
		if err != nil {
			return err
		}
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func (t table) str(i int) error {
	_, _, err := t.vector(i, 1)
	return err
}

func root(b []byte) (table, error) {
	buf := &buffer{b: b}
	off, err := buf.u32(0)
	if err != nil {
		return table{}, err
	}
	return buf.table(off)
}

func keyValues(t table, i int) error {
	return t.tables(i, func(kv table) error {
		if err := kv.str(0); err != nil {
			return err
		}
		return kv.str(1)
	})
}

// maxNesting bounds how deep fields nest (Field.children), so damaged metadata cannot recurse without end.
const maxNesting = 64

func field(f table) error {
	if f.buf.depth++; f.buf.depth > maxNesting {
		return f.buf.fail("fields nested deeper than %d", maxNesting)
	}
	defer func() { f.buf.depth-- }()
	if err := f.str(0); err != nil { // name
		return err
	}
	for _, i := range []int{3, 4} { // type, dictionary
		if _, _, err := f.child(i); err != nil {
			return err
		}
	}
	if err := f.tables(5, field); err != nil { // children
		return err
	}
	return keyValues(f, 6)
}

func schema(s table) error {
	if err := s.tables(1, field); err != nil {
		return err
	}
	if err := keyValues(s, 2); err != nil {
		return err
	}
	_, _, err := s.vector(3, 8) // features
	return err
}

func recordBatch(r table) error {
	for _, v := range [][2]int{{1, 16}, {2, 16}, {4, 8}} { // nodes, buffers, variadicBufferCounts
		if _, _, err := r.vector(v[0], v[1]); err != nil {
			return err
		}
	}
	_, _, err := r.child(3) // compression
	return err
}

// Message header types (Message.fbs MessageHeader).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
)

// Header is what VerifyMessage reads of a message.
type Header struct {
	Type       byte  // Message.fbs MessageHeader: 1 schema, 2 dictionary batch, 3 record batch
	BodyLength int64 // bytes of body after the metadata
}

// VerifyMessage checks the FlatBuffers metadata of one IPC message (a Message table).
func VerifyMessage(meta []byte) (Header, error) {
	var hd Header
	m, err := root(meta)
	if err != nil {
		return hd, err
	}
	if p, err := m.field(1); err != nil {
		return hd, err
	} else if p != 0 {
		hd.Type = meta[p]
	}
	if p, err := m.field(3); err != nil {
		return hd, err
	} else if p != 0 {
		if p+8 > len(meta) {
			return hd, m.buf.fail("bodyLength at %d past the end", p)
		}
		hd.BodyLength = int64(binary.LittleEndian.Uint64(meta[p:]))
	}
	h, ok, err := m.child(2)
	if err != nil {
		return hd, err
	}
	if ok {
		switch hd.Type {
		case headerSchema:
			err = schema(h)
		case headerRecordBatch:
			err = recordBatch(h)
		case headerDictionaryBatch:
			var data table
			if data, ok, err = h.child(1); err == nil && ok {
				err = recordBatch(data)
			}
		}
		if err != nil {
			return hd, err
		}
	}
	return hd, keyValues(m, 4)
}

// VerifyFooter checks the FlatBuffers footer of an IPC file (a Footer table).
func VerifyFooter(footer []byte) error {
	f, err := root(footer)
	if err != nil {
		return err
	}
	s, ok, err := f.child(1)
	if err != nil {
		return err
	}
	if ok {
		if err := schema(s); err != nil {
			return err
		}
	}
	for _, i := range []int{2, 3} { // dictionaries, recordBatches: Block structs of 24 bytes
		if _, _, err := f.vector(i, 24); err != nil {
			return err
		}
	}
	return keyValues(f, 4)
}
