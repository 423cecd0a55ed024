package datasets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/mtlora/mtlora/internal/arrowmsg"
)

// scanIPCFile reads an Arrow IPC file (Feather v2) by the record batches its footer lists, and holds the
// footer to the file: the footer's and every message's metadata are checked before arrow-go decodes them
// (internal/arrowmsg), and walking the messages between the leading magic and the footer must find exactly
// as many record batches as the footer lists, so a footer that leaves batches out (or a file that lost
// some) is an error.
func scanIPCFile(path string, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	bad := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrData, path, err) }
	f, size, err := openData(path)
	if err != nil {
		return err
	}
	defer f.Close()
	found, err := ipcFileBatches(f, size, opts)
	if err != nil {
		return bad(err)
	}
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(opts.Mem), ipc.WithMetadataSizeLimit(size), ipc.WithBodySizeLimit(size))
	if err != nil {
		return bad(err)
	}
	defer r.Close()
	if found != r.NumRecords() {
		return bad(fmt.Errorf("the footer lists %d record batches, the file holds %d", r.NumRecords(), found))
	}
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			return bad(fmt.Errorf("record batch %d: %w", i, err))
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// ipcFileBatches checks an IPC file's footer and counts the record-batch messages from its 8-byte leading
// magic up to the footer (whose length is the int32 before the 6-byte trailing magic).
func ipcFileBatches(f *os.File, size int64, opts ReadOptions) (int, error) {
	const magic = 8 // "ARROW1" and two bytes of padding
	if size < magic+10 {
		return 0, fmt.Errorf("%d bytes is too short for an Arrow IPC file", size)
	}
	var tail [10]byte
	if _, err := f.ReadAt(tail[:], size-10); err != nil {
		return 0, err
	}
	if string(tail[4:]) != "ARROW1" {
		return 0, fmt.Errorf("no ARROW1 magic at the end: not an Arrow IPC file, or cut short")
	}
	footerLen := int64(int32(binary.LittleEndian.Uint32(tail[:4])))
	end := size - 10 - footerLen
	if footerLen <= 0 || end < magic {
		return 0, fmt.Errorf("footer length %d does not fit the file (%d bytes)", footerLen, size)
	}
	footer := make([]byte, footerLen)
	if _, err := f.ReadAt(footer, end); err != nil {
		return 0, err
	}
	if err := arrowmsg.VerifyFooter(footer); err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	mr := arrowmsg.NewReader(io.NewSectionReader(f, magic, end-magic), end-magic, opts.Mem)
	defer mr.Release()
	n := 0
	for {
		msg, err := mr.Message()
		if errors.Is(err, io.EOF) {
			return n, nil // the end-of-stream marker, or the footer right after the last message
		}
		if err != nil {
			return n, err
		}
		if msg.Type() == ipc.MessageRecordBatch {
			n++
		}
	}
}

// scanIPCStream reads an Arrow IPC stream, each message's metadata checked before arrow-go decodes it
// (internal/arrowmsg). The stream must end with its end-of-stream marker and nothing after it, unless
// opts.AllowUnterminatedStream: a stream cut at a message boundary otherwise reads as a complete, shorter
// one.
func scanIPCStream(path string, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	bad := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrData, path, err) }
	f, size, err := openData(path)
	if err != nil {
		return err
	}
	defer f.Close()
	mr := arrowmsg.NewReader(f, size, opts.Mem)
	defer mr.Release()
	r, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(opts.Mem))
	if err != nil {
		return bad(err)
	}
	defer r.Release()
	batches := 0
	for r.Next() {
		if err := fn(r.RecordBatch()); err != nil {
			return err
		}
		batches++
	}
	if err := r.Err(); err != nil {
		return bad(fmt.Errorf("after record batch %d: %w", batches, err))
	}
	switch {
	case !mr.EOS && !opts.AllowUnterminatedStream:
		return bad(fmt.Errorf("the stream ends after %d record batches without its end-of-stream marker: the file may be cut short (ReadOptions.AllowUnterminatedStream accepts such streams)", batches))
	case mr.EOS && mr.Read != size:
		return bad(fmt.Errorf("%d bytes follow the end-of-stream marker (at byte %d)", size-mr.Read, mr.Read))
	}
	return nil
}
