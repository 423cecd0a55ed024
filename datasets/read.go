package datasets

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
	// AllowUnterminatedStream accepts an Arrow IPC stream that ends without its end-of-stream marker (some
	// writers that stream into a pipe never close it). Off, such a stream is an error: it cannot be told
	// from one cut short at a message boundary.
	AllowUnterminatedStream bool
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
	var files, skipped []string
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
				} else {
					skipped = append(skipped, name+"/ (a folder not named KEY=VALUE)")
				}
				continue
			}
			f, err := FormatOf(name)
			switch {
			case err == nil && (format == FormatAuto || f == format):
			case err != nil && format != FormatAuto && filepath.Ext(name) == "":
			case err == nil:
				skipped = append(skipped, fmt.Sprintf("%s (%s, not %s)", name, f, format))
				continue
			default:
				skipped = append(skipped, name+" (not .parquet, .arrow, .arrows, .csv or .jsonl; files without an extension are read when the format is given)")
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
		if len(skipped) == 0 {
			return nil, fmt.Errorf("%w: directory %s holds no data files", ErrData, path)
		}
		if len(skipped) > 5 {
			skipped = append(skipped[:5], fmt.Sprintf("and %d more", len(skipped)-5))
		}
		return nil, fmt.Errorf("%w: directory %s holds no data files; skipped: %s", ErrData, path, strings.Join(skipped, "; "))
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
		if errors.Is(err, ErrData) {
			return err
		}
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
			if err := checkBatch(f, first, rec); err != nil {
				return err
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
		return scanParquet(path, opts, fn)
	case FormatIPCFile:
		return scanIPCFile(path, opts, fn)
	case FormatIPCStream:
		return scanIPCStream(path, opts, fn)
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

// checkBatch validates every column of a decoded batch before anything reads a value: offsets inside their
// data, buffers long enough for the rows, dictionary indices inside the dictionary. arrow-go's decoders do
// not check what damaged metadata declares, and a value read past a buffer would be a panic or another
// row's bytes.
func checkBatch(file string, first int64, rec arrow.RecordBatch) error {
	for c, col := range rec.Columns() {
		if err := checkArray(col); err != nil {
			return fmt.Errorf("%w: %s: rows %d to %d: column %q: %w", ErrData, file, first+1, first+rec.NumRows(), rec.Schema().Field(c).Name, err)
		}
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("%w: %s: rows %d to %d: column %q has %d values for %d rows", ErrData, file, first+1, first+rec.NumRows(), rec.Schema().Field(c).Name, col.Len(), rec.NumRows())
		}
	}
	return nil
}

func checkArray(arr arrow.Array) error {
	d := arr.Data()
	n := int64(d.Offset() + d.Len())
	if bufs := d.Buffers(); len(bufs) > 0 && bufs[0] != nil && int64(bufs[0].Len())*8 < n {
		return fmt.Errorf("validity bitmap of %d bytes for %d values", bufs[0].Len(), n)
	}
	if fw, ok := arr.DataType().(arrow.FixedWidthDataType); ok && arr.DataType().ID() != arrow.DICTIONARY {
		if bufs := d.Buffers(); len(bufs) < 2 || bufs[1] == nil && n > 0 || bufs[1] != nil && int64(bufs[1].Len())*8 < n*int64(fw.BitWidth()) {
			return fmt.Errorf("data buffer too short for %d values of %d bits", n, fw.BitWidth())
		}
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		if err := checkArray(a.Indices()); err != nil {
			return fmt.Errorf("dictionary indices: %w", err)
		}
		if err := checkArray(a.Dictionary()); err != nil {
			return fmt.Errorf("dictionary: %w", err)
		}
		size := a.Dictionary().Len()
		for i := range a.Len() {
			if a.IsValid(i) {
				if k := a.GetValueIndex(i); k < 0 || k >= size {
					return fmt.Errorf("value %d: dictionary index %d outside the %d-entry dictionary", i, k, size)
				}
			}
		}
		return nil
	case *array.List:
		if err := a.ValidateFull(); err != nil {
			return err
		}
		return checkArray(a.ListValues())
	case *array.LargeList:
		if err := a.ValidateFull(); err != nil {
			return err
		}
		return checkArray(a.ListValues())
	case *array.String:
		return checkOffsets(a.Validate(), a.ValueOffsets)
	case *array.LargeString:
		return checkOffsets(a.Validate(), a.ValueOffsets)
	case *array.Binary:
		return checkOffsets(a.Validate(), a.ValueOffsets)
	case *array.LargeBinary:
		return checkOffsets(a.Validate(), a.ValueOffsets)
	case interface{ ValidateFull() error }:
		return a.ValidateFull()
	}
	return nil
}

// checkOffsets completes arrow-go's Validate (offsets buffer long enough, first and last offsets inside the
// data) with what its ValidateFull checks too late to avoid a panic: no offset is negative or smaller than
// the one before — so every value lies inside the data. Text validity is column.text's, with its row.
func checkOffsets[T int32 | int64](err error, offsets func() []T) error {
	if err != nil {
		return err
	}
	offs := offsets()
	for i, o := range offs {
		if o < 0 || i > 0 && o < offs[i-1] {
			return fmt.Errorf("value offsets decrease or are negative at value %d (%d after %d)", i, o, offs[max(0, i-1)])
		}
	}
	return nil
}

// openData opens a data file for a reader that needs its size; errors wrap ErrData and name the file.
func openData(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %w", ErrData, path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s: %w", ErrData, path, err)
	}
	return f, st.Size(), nil
}
