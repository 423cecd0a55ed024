package datasets

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mtlora/mtlora/internal/parquetcrc"
)

// scanParquet reads a Parquet file row group by row group and holds it to what its footer declares: before
// a row group is decoded, the pages of each column read are walked and every page checksum present is
// verified (internal/parquetcrc); after, the rows decoded must be the row group's row count, and the row
// groups' counts must add up to the file's (where the file states one). Any shortfall is an error naming the row group and column —
// arrow-go reports a short read as an error wrapping io.EOF, which is not the end of the data.
func scanParquet(path string, opts ReadOptions, fn func(arrow.RecordBatch) error) error {
	bad := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrData, path, err) }
	f, size, err := openData(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return bad(err)
	}
	defer pf.Close()
	md := pf.MetaData()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(opts.BatchRows)}, opts.Mem)
	if err != nil {
		return bad(err)
	}
	var cols []int // leaf columns to read; nil: all
	if opts.Columns != nil {
		for _, c := range opts.Columns {
			found := false
			for i := range md.Schema.NumColumns() { // the leaves of c: c itself, or c.list.element, c.key_value.key, …
				if p := md.Schema.Column(i).ColumnPath().String(); p == c || strings.HasPrefix(p, c+".") {
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
	leaves := cols
	if leaves == nil {
		for i := range md.Schema.NumColumns() {
			leaves = append(leaves, i)
		}
	}
	var total int64
	for rg := range md.NumRowGroups() {
		meta := md.RowGroup(rg)
		for _, c := range leaves {
			cc, err := meta.ColumnChunk(c)
			if err != nil {
				return bad(fmt.Errorf("row group %d: column %s: %w", rg, md.Schema.Column(c).ColumnPath(), err))
			}
			start := cc.DataPageOffset()
			if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
				start = cc.DictionaryPageOffset()
			}
			if _, err := parquetcrc.CheckChunk(f, size, start, cc.TotalCompressedSize()); err != nil {
				return bad(fmt.Errorf("row group %d: column %s: %w", rg, md.Schema.Column(c).ColumnPath(), err))
			}
		}
		rr, err := fr.GetRecordReader(context.Background(), cols, []int{rg})
		if err != nil {
			return bad(fmt.Errorf("row group %d: %w", rg, err))
		}
		var rows int64
		for rr.Next() {
			rows += rr.RecordBatch().NumRows()
			if err := fn(rr.RecordBatch()); err != nil {
				rr.Release()
				return err
			}
		}
		err = rr.Err()
		rr.Release()
		if err != nil {
			return bad(fmt.Errorf("row group %d (rows %d to %d): %w", rg, total+1, total+meta.NumRows(), err))
		}
		if rows != meta.NumRows() {
			return bad(fmt.Errorf("row group %d: read %d rows, its metadata declares %d", rg, rows, meta.NumRows()))
		}
		total += rows
	}
	if total != md.NumRows && md.NumRows != 0 { // 0: left unset by some writers (parquet-testing's repeated_no_annotation.parquet)
		return bad(fmt.Errorf("read %d rows in %d row groups, the file's metadata declares %d", total, md.NumRowGroups(), md.NumRows))
	}
	return nil
}
