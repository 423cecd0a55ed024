package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// CSV as read here (RFC 4180, the way pyarrow, DuckDB and pandas write it):
//
//   - the first row is the header; every row must have as many fields;
//   - fields are separated by commas and rows end with \n or \r\n; lines that are entirely empty are skipped;
//   - a field starting with a double quote is quoted: it ends at the next lone quote, "" inside it is one
//     quote, and every other byte — commas, \n, \r\n, \r — is kept exactly as written;
//   - an unquoted field is kept byte for byte; a quote inside it is an error (quote the field);
//   - an empty unquoted field is NULL; a quoted empty field ("") is the empty text. This is how pyarrow and
//     DuckDB write NULL and "" by default.
//
// Every column is a nullable string column; nothing is trimmed or converted.

// csvReader reads CSV records, keeping field bytes exactly.
type csvReader struct {
	r    *bufio.Reader
	line int // lines consumed so far
}

// errCSVEnd is returned by record at the end of the input.
var errCSVEnd = errors.New("end of CSV")

// readLine returns the next line with its terminator, or io.EOF when there is nothing left.
func (c *csvReader) readLine() ([]byte, error) {
	b, err := c.r.ReadBytes('\n')
	if len(b) > 0 {
		c.line++
		return b, nil
	}
	if err == nil {
		err = io.EOF
	}
	return nil, err
}

// record reads one record: its values, which of them are NULL, and the line where it starts. Errors give a
// field index (0-based, -1 when not about a field) and the line.
func (c *csvReader) record(vals []string, nulls []bool) ([]string, []bool, int, error) {
	vals, nulls = vals[:0], nulls[:0]
	var line []byte
	for { // skip empty lines
		l, err := c.readLine()
		if err == io.EOF {
			return nil, nil, 0, errCSVEnd
		}
		if err != nil {
			return nil, nil, 0, err
		}
		if s := string(l); s != "\n" && s != "\r\n" {
			line = l
			break
		}
	}
	start := c.line
	i := 0
	for {
		field := len(vals)
		if i < len(line) && line[i] == '"' {
			var b []byte
			opened := c.line
			i++
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					b = append(b, line[i:]...)
					next, err := c.readLine()
					if err == io.EOF {
						return nil, nil, start, &csvError{field, opened, "a quoted field opened on this line is never closed"}
					}
					if err != nil {
						return nil, nil, start, err
					}
					line, i = next, 0
					continue
				}
				b = append(b, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' { // "" is one quote
					b = append(b, '"')
					i++
					continue
				}
				break
			}
			vals, nulls = append(vals, string(b)), append(nulls, false)
			switch rest := line[i:]; {
			case len(rest) == 0 || string(rest) == "\n" || string(rest) == "\r\n":
				return vals, nulls, start, nil
			case rest[0] == ',':
				i++
			default:
				return nil, nil, start, &csvError{field, c.line, fmt.Sprintf("%q after the closing quote (expected a comma or the end of the row)", rest[0])}
			}
			continue
		}
		j := bytes.IndexByte(line[i:], ',')
		last := j < 0
		if last {
			j = len(line) - i
		}
		v := line[i : i+j]
		if last { // the row's terminator is not part of the field; a file may end without one
			v = bytes.TrimSuffix(v, []byte("\n"))
			if len(v) < j {
				v = bytes.TrimSuffix(v, []byte("\r"))
			}
		}
		if bytes.IndexByte(v, '"') >= 0 {
			return nil, nil, start, &csvError{field, c.line, "a double quote inside an unquoted field (quote the whole field and write the quote twice)"}
		}
		vals, nulls = append(vals, string(v)), append(nulls, len(v) == 0)
		if last {
			return vals, nulls, start, nil
		}
		i += j + 1
	}
}

// csvError is a syntax error in one field of a record.
type csvError struct {
	field, line int
	msg         string
}

func (e *csvError) Error() string { return e.msg }

// scanCSV reads CSV with a header row (see the rules above) into batches of nullable string columns.
func scanCSV(path string, r io.Reader, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	cr := &csvReader{r: bufio.NewReaderSize(r, 1<<16)}
	header, _, _, err := cr.record(nil, nil)
	if err == errCSVEnd {
		return fmt.Errorf("%w: %s: empty file: expected a header row", ErrData, path)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: header (line %d): %w", ErrData, path, cr.line, err)
	}
	header = slices.Clone(header)
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a UTF-8 byte-order mark
	fields := make([]arrow.Field, len(header))
	for i, h := range header {
		switch {
		case !utf8.ValidString(h):
			return fmt.Errorf("%w: %s: header: column %d's name %q is not valid UTF-8", ErrData, path, i+1, h)
		case slices.Index(header, h) != i:
			return fmt.Errorf("%w: %s: header names column %q twice", ErrData, path, h)
		}
		fields[i] = arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(opts.Mem, schema)
	defer b.Release()
	rows := 0
	flush := func() error {
		rec := b.NewRecordBatch()
		defer rec.Release()
		rows = 0
		return fn(rec)
	}
	var vals []string
	var nulls []bool
	row := 0
	for {
		var line int
		vals, nulls, line, err = cr.record(vals, nulls)
		if err == errCSVEnd {
			break
		}
		row++
		if err != nil {
			var ce *csvError
			if errors.As(err, &ce) && ce.field < len(header) {
				return fmt.Errorf("%w: %s: row %d (line %d): column %q: %s", ErrData, path, row, ce.line, header[ce.field], ce.msg)
			}
			if errors.As(err, &ce) {
				return fmt.Errorf("%w: %s: row %d (line %d): field %d (the header has %d columns): %s", ErrData, path, row, ce.line, ce.field+1, len(header), ce.msg)
			}
			return fmt.Errorf("%w: %s: row %d: %w", ErrData, path, row, err)
		}
		if len(vals) != len(header) {
			return fmt.Errorf("%w: %s: row %d (line %d): %d fields, the header has %d", ErrData, path, row, line, len(vals), len(header))
		}
		for i, v := range vals {
			if nulls[i] {
				b.Field(i).AppendNull()
			} else {
				b.Field(i).(*array.StringBuilder).Append(v)
			}
		}
		if rows++; rows == opts.BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if rows > 0 || row == 0 {
		return flush()
	}
	return nil
}
