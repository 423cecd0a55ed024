package benchmark

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/internal/atomicfile"
)

// Datasheet describes a prepared benchmark; a test recounts the data against it.
type Datasheet struct {
	Name      string          `json:"name"`
	Version   string          `json:"version"`
	Source    SourceInfo      `json:"source"`
	Columns   string          `json:"columns"`
	Splits    string          `json:"splits"`
	Tasks     []TaskDatasheet `json:"tasks"`
	TotalRows int             `json:"total_rows"`
}

// SourceInfo names the package the data came from.
type SourceInfo struct {
	Registry  string `json:"registry"`
	Package   string `json:"package"`
	Version   string `json:"version"`
	Integrity string `json:"integrity"`
	License   string `json:"license"`
}

// TaskDatasheet holds one task's facts.
type TaskDatasheet struct {
	Name    string                    `json:"name"`
	Kind    string                    `json:"kind"`
	Labels  []string                  `json:"labels,omitempty"`
	License string                    `json:"license"`
	Counts  map[string]int            `json:"counts"`                // per split
	ByLabel map[string]map[string]int `json:"by_label,omitempty"`    // split → label → count
	Values  map[string][2]float64     `json:"value_range,omitempty"` // split → [min, max] of regression targets
	Notes   []string                  `json:"cleaning_notes,omitempty"`
}

// Prepare fetches (or reuses) the verified source tarball in cache, builds the benchmark and writes it into
// dir atomically (a temporary directory renamed into place). tarball, if not "", is used instead of npm.
func Prepare(dir, cache, tarball string, log io.Writer) (*Datasheet, error) {
	src, err := Fetch(cache, tarball, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "building %s v%s from %s …\n", Name, Version, src)
	rows, notes, err := Build(src)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return slices.IndexFunc(Tasks, func(t datasets.TaskSpec) bool { return t.Name == rows[i].Task }) <
			slices.IndexFunc(Tasks, func(t datasets.TaskSpec) bool { return t.Name == rows[j].Task })
	})
	spec := datasets.Spec{Name: Name, Path: DataFile, TextColumn: "text", PairColumn: "pair", LabelColumn: "label",
		TaskColumn: "task", SplitColumn: "split", Tasks: Tasks}
	sheet := datasheetOf(rows, notes)
	err = atomicfile.Dir(dir, func(tmp string) error {
		if err := writeParquet(filepath.Join(tmp, DataFile), rows); err != nil {
			return err
		}
		for name, v := range map[string]any{SpecFile: spec, DatasheetFile: sheet} {
			data, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, name), append(data, '\n'), 0o644); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(tmp, ReadmeFile), []byte(markdown(sheet)), 0o644)
	})
	if err != nil {
		return nil, err
	}
	return sheet, nil
}

// Load reads a prepared benchmark directory with datasets.Load (the spec's relative path resolved).
func Load(dir string, opts datasets.ReadOptions) (*datasets.Set, error) {
	spec, err := Spec(dir)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(spec.Path) {
		spec.Path = filepath.Join(dir, spec.Path)
	}
	return datasets.Load(spec, opts, validationFraction, testFraction)
}

func writeParquet(path string, rows []Row) error {
	mem := memory.NewGoAllocator()
	meta := arrow.NewMetadata([]string{"mtlora.benchmark", "mtlora.source"}, []string{Name + " v" + Version, Source.Name + "@" + Source.Version})
	dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "task", Type: dict}, {Name: "text", Type: arrow.BinaryTypes.String},
		{Name: "pair", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "label", Type: arrow.BinaryTypes.String},
		{Name: "split", Type: dict},
	}, &meta)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(4096), parquet.WithDictionaryDefault(false)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		return err
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for start := 0; start < len(rows); start += 4096 {
		for _, r := range rows[start:min(start+4096, len(rows))] {
			if err := b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(r.Task); err != nil {
				return err
			}
			b.Field(1).(*array.StringBuilder).Append(r.Text)
			if r.Pair == "" {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(r.Pair)
			}
			b.Field(3).(*array.StringBuilder).Append(r.Label)
			if err := b.Field(4).(*array.BinaryDictionaryBuilder).AppendString(r.Split.String()); err != nil {
				return err
			}
		}
		rec := b.NewRecordBatch()
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func datasheetOf(rows []Row, notes Notes) *Datasheet {
	sheet := &Datasheet{Name: Name, Version: Version, TotalRows: len(rows),
		Source:  SourceInfo{Registry: "npm", Package: Source.Name, Version: Source.Version, Integrity: Source.Integrity, License: SourceLicense},
		Columns: "task (string), text (string), pair (string, null unless a pair task), label (string; a number for regression), split (train/validation/test)",
		Splits:  fmt.Sprintf("SHA-256 of each example's group (e-mail text, address, word): %.0f%% validation, %.0f%% test, the rest train; a group never straddles two splits, in any task", validationFraction*100, testFraction*100),
	}
	for _, t := range Tasks {
		td := TaskDatasheet{Name: t.Name, Labels: t.Labels, License: Licenses[t.Name], Counts: map[string]int{}, Notes: notes[t.Name]}
		switch {
		case t.Regression:
			td.Kind, td.Values = "regression", map[string][2]float64{}
		case t.Pair:
			td.Kind, td.ByLabel = fmt.Sprintf("text pair, %d classes", len(t.Labels)), map[string]map[string]int{}
		default:
			td.Kind, td.ByLabel = fmt.Sprintf("%d classes", len(t.Labels)), map[string]map[string]int{}
		}
		for _, r := range rows {
			if r.Task != t.Name {
				continue
			}
			s := r.Split.String()
			td.Counts[s]++
			if t.Regression {
				var v float64
				fmt.Sscan(r.Label, &v)
				mm, ok := td.Values[s]
				if !ok {
					mm = [2]float64{v, v}
				}
				td.Values[s] = [2]float64{min(mm[0], v), max(mm[1], v)}
			} else {
				if td.ByLabel[s] == nil {
					td.ByLabel[s] = map[string]int{}
				}
				td.ByLabel[s][r.Label]++
			}
		}
		sheet.Tasks = append(sheet.Tasks, td)
	}
	return sheet
}

func markdown(s *Datasheet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Datasheet: %s v%s\n\nBuilt by `mtlora prepare-benchmark` from the %s package %s@%s (integrity %s).\n\n",
		s.Name, s.Version, s.Source.Registry, s.Source.Package, s.Source.Version, s.Source.Integrity)
	fmt.Fprintf(&b, "Columns: %s.\n\nSplits: %s.\n\n", s.Columns, s.Splits)
	b.WriteString("| task | kind | train | validation | test | license |\n|---|---|---|---|---|---|\n")
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s |\n", t.Name, t.Kind, t.Counts["train"], t.Counts["validation"], t.Counts["test"], t.License)
	}
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, "\n## %s\n\n", t.Name)
		for _, split := range []string{"train", "validation", "test"} {
			if t.ByLabel != nil {
				var parts []string
				for _, l := range t.Labels {
					parts = append(parts, fmt.Sprintf("%s %d", l, t.ByLabel[split][l]))
				}
				fmt.Fprintf(&b, "- %s: %s\n", split, strings.Join(parts, ", "))
			} else {
				fmt.Fprintf(&b, "- %s: %d values in [%g, %g]\n", split, t.Counts[split], t.Values[split][0], t.Values[split][1])
			}
		}
		for _, n := range t.Notes {
			fmt.Fprintf(&b, "- cleaning: %s\n", n)
		}
	}
	return b.String()
}
