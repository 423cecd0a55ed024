package parquetcrc

import (
	"bytes"
	"hash/crc32"
	"strings"
	"testing"
)

// compact-protocol encoding of a PageHeader, written here by hand from the Thrift spec (the real writers'
// output is checked in datasets' interop test against pyarrow's write_page_checksum files).
func varint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func zz(v int64) uint64 { return uint64((v << 1) ^ (v >> 63)) }

func header(data []byte, withCRC bool, stats string) []byte {
	var h []byte
	h = append(h, 0x15) // field 1 (type), i32
	h = append(h, varint(zz(0))...)
	h = append(h, 0x15) // field 2 (uncompressed size), i32
	h = append(h, varint(zz(int64(len(data))))...)
	h = append(h, 0x15) // field 3 (compressed size), i32
	h = append(h, varint(zz(int64(len(data))))...)
	if withCRC {
		h = append(h, 0x15) // field 4 (crc), i32
		h = append(h, varint(zz(int64(int32(crc32.ChecksumIEEE(data)))))...)
	}
	h = append(h, 0x1c)                   // field 5 (data_page_header), struct
	h = append(h, 0x15, 0x08)             // num_values = 4
	h = append(h, 0x15, 0x00, 0x15, 0x06) // encoding, definition_level_encoding
	h = append(h, 0x15, 0x06)             // repetition_level_encoding
	h = append(h, 0x1c)                   // statistics (field 5), struct
	h = append(h, 0x18)                   // field 1: binary
	h = append(h, varint(uint64(len(stats)))...)
	h = append(h, stats...)
	h = append(h, 0x19, 0x25, 0x02, 0x04) // field 2: list of 2 i32
	h = append(h, 0x00, 0x00)             // end statistics, end data_page_header
	return append(h, 0x00)                // end PageHeader
}

func TestCheckChunk(t *testing.T) {
	pages := [][]byte{[]byte("first page data"), bytes.Repeat([]byte{7}, 3000), []byte("x")}
	var chunk []byte
	for i, p := range pages {
		chunk = append(chunk, header(p, i != 1, strings.Repeat("s", 200*i))...)
		chunk = append(chunk, p...)
	}
	file := append(append([]byte("PAR1"), chunk...), "footer"...)
	r := bytes.NewReader(file)
	got, err := CheckChunk(r, int64(len(file)), 4, int64(len(chunk)))
	if err != nil || got.Pages != 3 || got.Checked != 2 {
		t.Fatalf("got %+v, %v; want 3 pages, 2 checked", got, err)
	}
	// Every single-byte flip in a checked page's data is caught; flips elsewhere never panic.
	var checked [][2]int // [start, end) of checked page data in file
	pos := 4
	for i, p := range pages {
		pos += len(header(p, i != 1, strings.Repeat("s", 200*i)))
		if i != 1 {
			checked = append(checked, [2]int{pos, pos + len(p)})
		}
		pos += len(p)
	}
	for i := 4; i < 4+len(chunk); i++ {
		bad := bytes.Clone(file)
		bad[i] ^= 0x10
		_, err := CheckChunk(bytes.NewReader(bad), int64(len(bad)), 4, int64(len(chunk)))
		for _, c := range checked {
			if i >= c[0] && i < c[1] && (err == nil || !strings.Contains(err.Error(), "checksum mismatch")) {
				t.Errorf("flip at byte %d of checked page data: %v", i, err)
			}
		}
	}
	first := len(header(pages[0], true, ""))
	for _, tc := range []struct {
		name         string
		size, off, n int64
		want         string
	}{
		{"chunk past the end", int64(len(file)), 4, int64(len(file)), "outside the file"},
		{"chunk cut inside a page", int64(len(file)), 4, int64(len(chunk) - 1), "run past the column chunk"},
		{"chunk cut inside a header", int64(len(file)), 4, int64(first - 2), "cut short"},
	} {
		if _, err := CheckChunk(r, tc.size, tc.off, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
