package datasets

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// jsonKind is the type of a JSON Lines column, fixed by the first line that has a non-null value.
type jsonKind int

const (
	jsonUnknown jsonKind = iota
	jsonString
	jsonNumber
	jsonBool
	jsonStrings
)

var jsonKindNames = []string{"null", "string", "number", "boolean", "array of strings"}

// scanJSONL reads JSON Lines into batches: columns are the keys of the first object (then in order of first
// appearance); strings become utf8, numbers float64, booleans bool, arrays of strings list<utf8>; a value of
// another type is an error naming the line and the key. Objects and other arrays are not supported as values.
func scanJSONL(path string, r io.Reader, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	type row struct {
		line int
		vals map[string]json.RawMessage
	}
	var keys []string
	kinds := map[string]jsonKind{}
	var pending []row
	frozen := false // the first batch fixes the columns and their types
	flush := func() error {
		if !frozen {
			for k, kind := range kinds {
				if kind == jsonUnknown {
					kinds[k] = jsonString // null on every line so far
				}
			}
			frozen = true
		}
		fields := make([]arrow.Field, len(keys))
		for i, k := range keys {
			t := arrow.DataType(arrow.BinaryTypes.String)
			switch kinds[k] {
			case jsonNumber:
				t = arrow.PrimitiveTypes.Float64
			case jsonBool:
				t = arrow.FixedWidthTypes.Boolean
			case jsonStrings:
				t = arrow.ListOf(arrow.BinaryTypes.String)
			}
			fields[i] = arrow.Field{Name: k, Type: t, Nullable: true}
		}
		b := array.NewRecordBuilder(opts.Mem, arrow.NewSchema(fields, nil))
		defer b.Release()
		for _, p := range pending {
			for i, k := range keys {
				raw, ok := p.vals[k]
				if !ok || string(raw) == "null" {
					b.Field(i).AppendNull()
					continue
				}
				var err error
				switch fb := b.Field(i).(type) {
				case *array.StringBuilder:
					var s string
					err = json.Unmarshal(raw, &s)
					fb.Append(s)
				case *array.Float64Builder:
					var x float64
					err = json.Unmarshal(raw, &x)
					fb.Append(x)
				case *array.BooleanBuilder:
					var x bool
					err = json.Unmarshal(raw, &x)
					fb.Append(x)
				case *array.ListBuilder:
					var x []string
					if err = json.Unmarshal(raw, &x); err == nil {
						fb.Append(true)
						fb.ValueBuilder().(*array.StringBuilder).AppendValues(x, nil)
					}
				}
				if err != nil {
					return fmt.Errorf("%w: %s: line %d: key %q: expected a %s (as on earlier lines), found %.40s",
						ErrData, path, p.line, k, jsonKindNames[kinds[k]], raw)
				}
			}
		}
		pending = pending[:0]
		rec := b.NewRecordBatch()
		defer rec.Release()
		return fn(rec)
	}
	line, rows := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var vals map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &vals); err != nil {
			return fmt.Errorf("%w: %s: line %d: not a JSON object: %w", ErrData, path, line, err)
		}
		if err := checkJSONText(text, vals); err != nil { // Go's decoder would replace such text with U+FFFD
			return fmt.Errorf("%w: %s: line %d: %w", ErrData, path, line, err)
		}
		dec := json.NewDecoder(strings.NewReader(text)) // keys in the order of the line
		_, _ = dec.Token()
		onLine := map[string]bool{}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			k, _ := t.(string)
			if onLine[k] {
				return fmt.Errorf("%w: %s: line %d: key %q appears twice (which value is meant?)", ErrData, path, line, k)
			}
			onLine[k] = true
			var skip json.RawMessage
			_ = dec.Decode(&skip)
			if _, seen := kinds[k]; !seen {
				if frozen {
					return fmt.Errorf("%w: %s: line %d: key %q first appears after the first %d lines fixed the columns",
						ErrData, path, line, k, opts.BatchRows)
				}
				keys = append(keys, k)
				kinds[k] = jsonUnknown
			}
		}
		for k, raw := range vals {
			kind := jsonUnknown
			switch c := strings.TrimSpace(string(raw)); {
			case c == "null":
			case strings.HasPrefix(c, `"`):
				kind = jsonString
			case c == "true" || c == "false":
				kind = jsonBool
			case strings.HasPrefix(c, "["):
				var x []string
				if json.Unmarshal(raw, &x) != nil {
					return fmt.Errorf("%w: %s: line %d: key %q: an array must hold strings only (as choices do), found %.40s", ErrData, path, line, k, c)
				}
				kind = jsonStrings
			case strings.HasPrefix(c, "{"):
				return fmt.Errorf("%w: %s: line %d: key %q: nested objects are not supported", ErrData, path, line, k)
			default:
				kind = jsonNumber
			}
			if kind == jsonUnknown {
				continue
			}
			if kinds[k] == jsonUnknown {
				kinds[k] = kind
			} else if kinds[k] != kind {
				return fmt.Errorf("%w: %s: line %d: key %q: expected a %s (as on earlier lines), found a %s",
					ErrData, path, line, k, jsonKindNames[kinds[k]], jsonKindNames[kind])
			}
		}
		pending = append(pending, row{line, vals})
		rows++
		if len(pending) == opts.BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: line %d: %w", ErrData, path, line+1, err)
	}
	if rows == 0 {
		return fmt.Errorf("%w: %s: empty file: no JSON objects", ErrData, path)
	}
	if len(pending) > 0 {
		return flush()
	}
	return nil
}

// checkJSONText rejects a line whose text is not valid Unicode: bytes that are not UTF-8, or a \u escape
// of half a surrogate pair. encoding/json would silently put U+FFFD in their place; every other format
// rejects invalid UTF-8 where a text is read (column.text), so JSON Lines does too.
func checkJSONText(line string, vals map[string]json.RawMessage) error {
	for k, raw := range vals {
		if !utf8.Valid(raw) {
			return fmt.Errorf("key %q: the value is not valid UTF-8 (at byte %d of it)", k, invalidAt(string(raw)))
		}
		if at := loneSurrogate(raw); at >= 0 {
			return fmt.Errorf("key %q: %.12s at byte %d of the value is half a UTF-16 surrogate pair, not a character", k, raw[at:], at)
		}
	}
	if !utf8.ValidString(line) {
		return fmt.Errorf("a key is not valid UTF-8 (at byte %d of the line)", invalidAt(line))
	}
	if at := loneSurrogate([]byte(line)); at >= 0 {
		return fmt.Errorf("a key holds half a UTF-16 surrogate pair (%.6s at byte %d of the line)", line[at:], at)
	}
	return nil
}

// invalidAt is the byte offset of the first invalid UTF-8 sequence of s, or -1.
func invalidAt(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return i
			}
		}
	}
	return -1
}

// loneSurrogate is the byte offset of the first \uD800–\uDFFF escape in JSON text that is not half of a
// high-low pair, or -1.
func loneSurrogate(b []byte) int {
	hex := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := hex(i)
		switch {
		case !ok:
			i++ // another escape (\\, \", \n, …): skip its second byte
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := hex(i + 6); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return i
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		default:
			i += 5
		}
	}
	return -1
}
