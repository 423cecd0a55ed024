package arrowmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reader reads the messages of an Arrow IPC stream, checking each one's metadata (VerifyMessage) before
// arrow-go sees it and bounding metadata and body by the bytes the source can hold. It is an
// ipc.MessageReader: give it to ipc.NewReaderFromMessageReader.
type Reader struct {
	r     io.Reader
	mem   memory.Allocator
	limit int64 // bytes left in the source
	msg   *ipc.Message
	refs  atomic.Int64

	Read     int64 // bytes consumed so far
	Messages int   // messages read so far
	EOS      bool  // the stream ended with its end-of-stream marker (not merely at the end of the source)
}

// NewReader reads messages from r, which holds size bytes.
func NewReader(r io.Reader, size int64, mem memory.Allocator) *Reader {
	m := &Reader{r: r, mem: mem, limit: size}
	m.refs.Add(1)
	return m
}

func (m *Reader) Retain() { m.refs.Add(1) }

func (m *Reader) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

func (m *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(m.r, b)
	m.Read += int64(n)
	return err
}

// Message returns the next message, valid until the next call; io.EOF at the end of the stream (EOS says
// whether the marker was there).
func (m *Reader) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	var word [4]byte
	err := m.readFull(word[:])
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, io.EOF // the source ended between messages
	}
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.Messages, err)
	}
	length := int64(binary.LittleEndian.Uint32(word[:]))
	if length == 0xFFFFFFFF { // continuation marker, then the length
		if err := m.readFull(word[:]); err != nil {
			return nil, fmt.Errorf("message %d: its length: %w", m.Messages, noEOF(err))
		}
		length = int64(int32(binary.LittleEndian.Uint32(word[:])))
	}
	if length == 0 {
		m.EOS = true
		return nil, io.EOF
	}
	if length < 8 || length > m.limit-m.Read {
		return nil, fmt.Errorf("%w: message %d: metadata length %d (at most %d bytes are left)", ErrMetadata, m.Messages, length, m.limit-m.Read)
	}
	meta := make([]byte, length)
	if err := m.readFull(meta); err != nil {
		return nil, fmt.Errorf("message %d: metadata: %w", m.Messages, noEOF(err))
	}
	hd, err := VerifyMessage(meta)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.Messages, err)
	}
	if hd.BodyLength < 0 || hd.BodyLength > m.limit-m.Read {
		return nil, fmt.Errorf("%w: message %d: body length %d (at most %d bytes are left)", ErrMetadata, m.Messages, hd.BodyLength, m.limit-m.Read)
	}
	body := memory.NewResizableBuffer(m.mem)
	defer body.Release()
	body.Resize(int(hd.BodyLength))
	if err := m.readFull(body.Bytes()); err != nil {
		return nil, fmt.Errorf("message %d: body: %w", m.Messages, noEOF(err))
	}
	metaBuf := memory.NewBufferBytes(meta)
	defer metaBuf.Release()
	m.msg = ipc.NewMessage(metaBuf, body)
	m.Messages++
	return m.msg, nil
}

// noEOF: running out of bytes inside a message is damage, not the end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
