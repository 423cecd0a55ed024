// Package parquetcrc walks the pages of a Parquet column chunk and checks the page checksums a writer put
// there. arrow-go (v18.8) neither writes nor verifies them; pyarrow writes them with write_page_checksum=True,
// parquet-mr and DuckDB with their own switches.
//
// A Parquet column chunk is a run of pages, each a Thrift (compact protocol) PageHeader followed by
// compressed_page_size bytes of page data. The header's optional crc field is the CRC-32 (IEEE polynomial,
// as zlib computes it) of exactly those bytes, as written to disk (after compression), for dictionary pages
// and both data page versions (parquet-format's PageHeader.crc documentation).
//
// Only the two header fields needed are decoded; every other field is skipped by its wire type, so future
// header fields do not break the walk.
package parquetcrc

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Chunk is what CheckChunk found in one column chunk.
type Chunk struct {
	Pages   int // pages in the chunk
	Checked int // pages whose checksum was present and matched
}

// CheckChunk walks the pages of the column chunk stored at [offset, offset+length) of r and verifies every
// checksum present. Errors name the page (0-based) and its byte offset: a header that does not decode, a
// page that runs past the chunk, a chunk past the end of r (size bytes), or a checksum mismatch.
func CheckChunk(r io.ReaderAt, size, offset, length int64) (Chunk, error) {
	var c Chunk
	end := offset + length
	if offset < 0 || length < 0 || end > size || end < offset {
		return c, fmt.Errorf("column chunk at bytes %d to %d lies outside the file (%d bytes)", offset, end, size)
	}
	for pos := offset; pos < end; c.Pages++ {
		br := &countingReader{r: bufio.NewReaderSize(io.NewSectionReader(r, pos, end-pos), 1024)}
		h, err := readPageHeader(br)
		if err != nil {
			return c, fmt.Errorf("page %d at byte %d: page header: %w", c.Pages, pos, err)
		}
		data := pos + br.n
		if h.compressedSize < 0 || data+int64(h.compressedSize) > end {
			return c, fmt.Errorf("page %d at byte %d: %d bytes of page data run past the column chunk's end (byte %d)",
				c.Pages, pos, h.compressedSize, end)
		}
		if h.hasCRC {
			sum := crc32.NewIEEE()
			if _, err := io.Copy(sum, io.NewSectionReader(r, data, int64(h.compressedSize))); err != nil {
				return c, fmt.Errorf("page %d at byte %d: %w", c.Pages, pos, err)
			}
			if got := sum.Sum32(); got != h.crc {
				return c, fmt.Errorf("page %d at byte %d: checksum mismatch: the page header says %08x, its %d bytes hash to %08x",
					c.Pages, pos, h.crc, h.compressedSize, got)
			}
			c.Checked++
		}
		pos = data + int64(h.compressedSize)
	}
	return c, nil
}

type pageHeader struct {
	compressedSize int32
	crc            uint32
	hasCRC         bool
}

// countingReader counts the bytes the decoder consumed: the header's length on disk.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) skip(n int64) error {
	d, err := c.r.Discard(int(n))
	c.n += int64(d)
	return err
}

// Thrift compact protocol wire types.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// PageHeader field ids (parquet.thrift).
const (
	fieldCompressedPageSize = 3
	fieldCRC                = 4
)

var errHeader = errors.New("malformed Thrift")

func readPageHeader(r *countingReader) (pageHeader, error) {
	var h pageHeader
	haveSize := false
	id := int16(0)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return h, noEOF(err)
		}
		typ := b & 0x0f
		if typ == tStop {
			break
		}
		if delta := b >> 4; delta != 0 {
			id += int16(delta)
		} else {
			v, err := readVarint(r)
			if err != nil {
				return h, err
			}
			id = int16(unzigzag(v))
		}
		switch {
		case id == fieldCompressedPageSize && typ == tI32:
			v, err := readVarint(r)
			if err != nil {
				return h, err
			}
			h.compressedSize, haveSize = int32(unzigzag(v)), true
		case id == fieldCRC && typ == tI32:
			v, err := readVarint(r)
			if err != nil {
				return h, err
			}
			h.crc, h.hasCRC = uint32(int32(unzigzag(v))), true
		default:
			if err := skipValue(r, typ, 0); err != nil {
				return h, err
			}
		}
	}
	if !haveSize {
		return h, fmt.Errorf("%w: no compressed_page_size", errHeader)
	}
	return h, nil
}

// maxDepth bounds nesting so a damaged header cannot recurse without end.
const maxDepth = 32

func skipValue(r *countingReader, typ byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", errHeader, maxDepth)
	}
	switch typ {
	case tTrue, tFalse:
		return nil // the value is in the type nibble
	case tByte:
		_, err := r.ReadByte()
		return noEOF(err)
	case tI16, tI32, tI64:
		_, err := readVarint(r)
		return err
	case tDouble:
		return noEOF(r.skip(8))
	case tBinary:
		n, err := readVarint(r)
		if err != nil {
			return err
		}
		if n > 1<<31 {
			return fmt.Errorf("%w: a %d-byte binary field", errHeader, n)
		}
		return noEOF(r.skip(int64(n)))
	case tList, tSet:
		b, err := r.ReadByte()
		if err != nil {
			return noEOF(err)
		}
		n, elem := uint64(b>>4), b&0x0f
		if n == 15 {
			if n, err = readVarint(r); err != nil {
				return err
			}
		}
		return skipN(r, n, depth, elem)
	case tMap:
		n, err := readVarint(r)
		if err != nil || n == 0 {
			return err
		}
		b, err := r.ReadByte()
		if err != nil {
			return noEOF(err)
		}
		for range n {
			if err := skipValue(r, b>>4, depth+1); err != nil {
				return err
			}
			if err := skipValue(r, b&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tStruct:
		for {
			b, err := r.ReadByte()
			if err != nil {
				return noEOF(err)
			}
			if b&0x0f == tStop {
				return nil
			}
			if b>>4 == 0 {
				if _, err := readVarint(r); err != nil {
					return err
				}
			}
			if err := skipValue(r, b&0x0f, depth+1); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("%w: unknown wire type %d", errHeader, typ)
}

func skipN(r *countingReader, n uint64, depth int, elem byte) error {
	if n > 1<<24 {
		return fmt.Errorf("%w: a list of %d elements", errHeader, n)
	}
	for range n {
		if elem == tTrue || elem == tFalse { // booleans in a list take one byte each
			if _, err := r.ReadByte(); err != nil {
				return noEOF(err)
			}
			continue
		}
		if err := skipValue(r, elem, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func readVarint(r *countingReader) (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: a varint longer than 10 bytes", errHeader)
}

func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

// noEOF reports running out of bytes inside a header as the damage it is, not as a normal end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the header is cut short", errHeader)
	}
	return err
}
