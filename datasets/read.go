package datasets

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ErrData is wrapped by every error about the content of a data file: its format, schema or values. The
// message names the file and, where it applies, the row (1-based, counting data rows) and the column.
var ErrData = errors.New("datasets: bad data")

// Format is a data file format.
type Format int

const (
	FormatAuto      Format = iota // by extension: .parquet, .arrow/.feather/.ipc (file), .arrows (stream), .csv, .jsonl/.ndjson
	FormatParquet                 // Apache Parquet, read by row group
	FormatIPCFile                 // Arrow IPC file format (Feather v2)
	FormatIPCStream               // Arrow IPC stream format
	FormatCSV                     // CSV with a header row; every column is read as a string
	FormatJSONL                   // JSON Lines: one object per line; column types from the first line that has them
)

var formatNames = map[Format]string{FormatAuto: "auto", FormatParquet: "parquet", FormatIPCFile: "ipc",
	FormatIPCStream: "ipc-stream", FormatCSV: "csv", FormatJSONL: "jsonl"}

func (f Format) String() string { return formatNames[f] }

// ParseFormat reads a format name (as String writes it).
func ParseFormat(s string) (Format, error) {
	for f, n := range formatNames {
		if n == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("datasets: unknown format %q (expected auto, parquet, ipc, ipc-stream, csv or jsonl)", s)
}

// FormatOf guesses a file's format from its extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return FormatParquet, nil
	case ".arrow", ".feather", ".ipc":
		return FormatIPCFile, nil
	case ".arrows":
		return FormatIPCStream, nil
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	}
	return 0, fmt.Errorf("%w: %s: cannot tell the format from the extension (expected .parquet, .arrow, .arrows, .csv or .jsonl)", ErrData, path)
}

// ReadOptions tune Scan.
type ReadOptions struct {
	Format    Format           // FormatAuto: by each file's extension
	Columns   []string         // Parquet reads only these columns (nil: all); every format checks they exist
	BatchRows int              // rows per record batch for Parquet, CSV and JSON Lines (default 4096)
	Mem       memory.Allocator // default memory.DefaultAllocator
}

// Files lists the data files of path: the file itself, or the files of a directory (shards, sorted by path;
// hidden files, files starting with "_" and files of other formats skipped), including those in hive-style
// partition folders (KEY=VALUE/, at any depth; see Scan). With a format given, files without an extension
// count as that format's shards.
func Files(path string, format Format) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				continue
			}
			if e.IsDir() {
				if k, _, ok := strings.Cut(name, "="); ok && k != "" {
					if err := walk(filepath.Join(dir, name)); err != nil {
						return err
					}
				}
				continue
			}
			f, err := FormatOf(name)
			switch {
			case err == nil && (format == FormatAuto || f == format):
			case err != nil && format != FormatAuto && filepath.Ext(name) == "":
			default:
				continue
			}
			files = append(files, filepath.Join(dir, name))
		}
		return nil
	}
	if err := walk(path); err != nil {
		return nil, err
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: directory %s holds no data files", ErrData, path)
	}
	return files, nil
}

// partitions returns the hive-style KEY=VALUE folders between root and file, values URL-unescaped (as
// pyarrow and DuckDB write them).
func partitions(root, file string) ([][2]string, error) {
	rel, err := filepath.Rel(root, filepath.Dir(file))
	if err != nil || rel == "." {
		return nil, nil
	}
	var out [][2]string
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		k, v, _ := strings.Cut(seg, "=")
		u, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: partition folder %q: %w", ErrData, file, seg, err)
		}
		for _, p := range out {
			if p[0] == k {
				return nil, fmt.Errorf("%w: %s: partition key %q appears twice in its path", ErrData, file, k)
			}
		}
		out = append(out, [2]string{k, u})
	}
	return out, nil
}

// withPartitions returns rec with one string column per partition key, every row holding its value. A key
// that is also a column of the file is an error: the two could disagree.
func withPartitions(file string, rec arrow.RecordBatch, parts [][2]string, mem memory.Allocator) (arrow.RecordBatch, error) {
	fields := slices.Clone(rec.Schema().Fields())
	cols := slices.Clone(rec.Columns())
	var built []arrow.Array
	defer func() {
		for _, a := range built {
			a.Release()
		}
	}()
	for _, p := range parts {
		if len(rec.Schema().FieldIndices(p[0])) > 0 {
			return nil, fmt.Errorf("%w: %s: column %q is also the partition folder %s=%s", ErrData, file, p[0], p[0], p[1])
		}
		b := array.NewStringBuilder(mem)
		for range rec.NumRows() {
			b.Append(p[1])
		}
		a := b.NewArray()
		b.Release()
		built = append(built, a)
		fields = append(fields, arrow.Field{Name: p[0], Type: arrow.BinaryTypes.String})
		cols = append(cols, a)
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

// Scan streams the record batches of path — one file, or a directory of shards read in path order — to fn,
// one batch at a time: a Parquet file is read row group by row group, so files larger than memory work.
// first is the 0-based index of the batch's first row within its file. A batch is released when fn returns
// (Retain it to keep it). Every shard must have the columns of the first with the same types. Shards in
// hive-style partition folders (task=spam/part-0.parquet) get each KEY as a string column holding VALUE.
func Scan(path string, opts ReadOptions, fn func(file string, first int64, rec arrow.RecordBatch) error) error {
	if opts.BatchRows <= 0 {
		opts.BatchRows = 4096
	}
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	files, err := Files(path, opts.Format)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrData, err)
	}
	var ref *arrow.Schema
	var refFile string
	for _, f := range files {
		format := opts.Format
		if format == FormatAuto {
			if format, err = FormatOf(f); err != nil {
				return err
			}
		}
		parts, err := partitions(path, f)
		if err != nil {
			return err
		}
		fileOpts := opts
		if len(parts) > 0 && opts.Columns != nil { // the file itself lacks the partition columns
			fileOpts.Columns = slices.DeleteFunc(slices.Clone(opts.Columns), func(c string) bool {
				return slices.ContainsFunc(parts, func(p [2]string) bool { return p[0] == c })
			})
		}
		var first int64
		checked := false
		err = scanFile(f, format, fileOpts, func(rec arrow.RecordBatch) error {
			if len(parts) > 0 {
				withParts, err := withPartitions(f, rec, parts, opts.Mem)
				if err != nil {
					return err
				}
				defer withParts.Release()
				rec = withParts
			}
			if !checked {
				if err := checkColumns(f, rec.Schema(), opts.Columns); err != nil {
					return err
				}
				if ref == nil {
					ref, refFile = rec.Schema(), f
				} else if err := sameSchema(refFile, ref, f, rec.Schema(), opts.Columns); err != nil {
					return err
				}
				checked = true
			}
			if err := fn(f, first, rec); err != nil {
				return err
			}
			first += rec.NumRows()
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func checkColumns(file string, s *arrow.Schema, cols []string) error {
	for _, c := range cols {
		if len(s.FieldIndices(c)) == 0 {
			var have []string
			for _, f := range s.Fields() {
				have = append(have, f.Name)
			}
			return fmt.Errorf("%w: %s: missing column %q (columns: %s)", ErrData, file, c, strings.Join(have, ", "))
		}
	}
	return nil
}

func sameSchema(refFile string, ref *arrow.Schema, file string, s *arrow.Schema, cols []string) error {
	if cols == nil {
		for _, f := range ref.Fields() {
			cols = append(cols, f.Name)
		}
	}
	for _, c := range cols {
		a, b := ref.FieldIndices(c), s.FieldIndices(c)
		if len(b) == 0 {
			return fmt.Errorf("%w: schemas differ between shards: %s has column %q, %s has not", ErrData, refFile, c, file)
		}
		if ta, tb := ref.Field(a[0]).Type, s.Field(b[0]).Type; !arrow.TypeEqual(ta, tb) {
			return fmt.Errorf("%w: schemas differ between shards: column %q is %s in %s but %s in %s", ErrData, c, ta, refFile, tb, file)
		}
	}
	return nil
}

// scanFile reads one file. Arrow's and Parquet's decoders can panic on corrupt input (seen: a damaged IPC
// footer); such a panic becomes an ErrData naming the file. A panic inside fn is not ours to hide: it goes on.
func scanFile(path string, format Format, opts ReadOptions, fn func(arrow.RecordBatch) error) (err error) {
	inFn := false
	defer func() {
		if r := recover(); r != nil {
			if inFn {
				panic(r)
			}
			err = fmt.Errorf("%w: %s: corrupt %s file: %v", ErrData, path, format, r)
		}
	}()
	userFn := fn
	fn = func(rec arrow.RecordBatch) error {
		inFn = true // stays true if userFn panics (a deferred reset would run before the recover above)
		err := userFn(rec)
		inFn = false
		return err
	}
	bad := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrData, path, err) }
	switch format {
	case FormatParquet:
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			return bad(err)
		}
		defer pf.Close()
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(opts.BatchRows)}, opts.Mem)
		if err != nil {
			return bad(err)
		}
		var cols []int
		if opts.Columns != nil {
			schema := pf.MetaData().Schema
			for _, c := range opts.Columns {
				found := false
				for i := range schema.NumColumns() { // the leaves of c: c itself, or c.list.element, c.key_value.key, …
					if p := schema.Column(i).ColumnPath().String(); p == c || strings.HasPrefix(p, c+".") {
						found = true
						if !slices.Contains(cols, i) {
							cols = append(cols, i)
						}
					}
				}
				if !found {
					s, err := fr.Schema()
					if err != nil {
						return bad(err)
					}
					if err := checkColumns(path, s, []string{c}); err != nil {
						return err
					}
					return fmt.Errorf("%w: %s: column %q has no Parquet leaf columns", ErrData, path, c)
				}
			}
		}
		rr, err := fr.GetRecordReader(context.Background(), cols, nil)
		if err != nil {
			return bad(err)
		}
		defer rr.Release()
		for rr.Next() {
			if err := fn(rr.RecordBatch()); err != nil {
				return err
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return bad(err)
		}
		return nil
	case FormatIPCFile:
		f, err := os.Open(path)
		if err != nil {
			return bad(err)
		}
		defer f.Close()
		r, err := ipc.NewFileReader(f, ipc.WithAllocator(opts.Mem))
		if err != nil {
			return bad(err)
		}
		defer r.Close()
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
	case FormatIPCStream:
		f, err := os.Open(path)
		if err != nil {
			return bad(err)
		}
		defer f.Close()
		r, err := ipc.NewReader(f, ipc.WithAllocator(opts.Mem))
		if err != nil {
			return bad(err)
		}
		defer r.Release()
		for r.Next() {
			if err := fn(r.RecordBatch()); err != nil {
				return err
			}
		}
		if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
			return bad(err)
		}
		return nil
	case FormatCSV:
		f, err := os.Open(path)
		if err != nil {
			return bad(err)
		}
		defer f.Close()
		return scanCSV(path, f, opts, fn)
	case FormatJSONL:
		f, err := os.Open(path)
		if err != nil {
			return bad(err)
		}
		defer f.Close()
		return scanJSONL(path, f, opts, fn)
	}
	return fmt.Errorf("datasets: unknown format %d", int(format))
}

// scanCSV reads CSV with a header row into batches of string columns.
func scanCSV(path string, r io.Reader, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%w: %s: empty file: expected a header row", ErrData, path)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrData, path, err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a UTF-8 byte-order mark
	}
	fields := make([]arrow.Field, len(header))
	for i, h := range header {
		if slices.Index(header, h) != i {
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
	row := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		row++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("%w: %s: row %d (line %d): %w", ErrData, path, row, pe.Line, pe.Err)
			}
			return fmt.Errorf("%w: %s: row %d: %w", ErrData, path, row, err)
		}
		for i, v := range rec {
			b.Field(i).(*array.StringBuilder).Append(v)
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
		dec := json.NewDecoder(strings.NewReader(text)) // keys in the order of the line
		_, _ = dec.Token()
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			k, _ := t.(string)
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
