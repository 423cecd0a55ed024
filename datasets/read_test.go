package datasets

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// rows of a small two-task dataset: a sentiment task and a topic task.
var testRows = []struct{ task, text, label string }{
	{"sentiment", "I loved it", "pos"}, {"sentiment", "Terrible service", "neg"}, {"topic", "The match ended 2-1", "sport"},
	{"sentiment", "Not bad at all", "pos"}, {"topic", "Parliament voted today", "politics"}, {"topic", "Striker scores twice", "sport"},
	{"sentiment", "Would not recommend", "neg"}, {"topic", "Élections législatives", "politics"},
}

func testSpec(path string) Spec {
	return Spec{Name: "test", Path: path, Tasks: []TaskSpec{
		{Name: "sentiment", Labels: []string{"neg", "pos"}}, {Name: "topic", Labels: []string{"politics", "sport"}}}}
}

// testRecord builds the rows as an Arrow record batch (task, text, label: strings).
func testRecord(mem memory.Allocator) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "text", Type: arrow.BinaryTypes.String}, {Name: "label", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range testRows {
		b.Field(0).(*array.StringBuilder).Append(r.task)
		b.Field(1).(*array.StringBuilder).Append(r.text)
		b.Field(2).(*array.StringBuilder).Append(r.label)
	}
	return b.NewRecordBatch()
}

// writeAll writes the test rows in every format and returns path by format.
func writeAll(t *testing.T, dir string) map[Format]string {
	t.Helper()
	mem := memory.NewGoAllocator()
	rec := testRecord(mem)
	defer rec.Release()
	out := map[Format]string{}

	p := filepath.Join(dir, "data.parquet")
	f, _ := os.Create(p)
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(3),
		parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(true)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out[FormatParquet] = p

	p = filepath.Join(dir, "data.arrow")
	f, _ = os.Create(p)
	fw, err := ipc.NewFileWriter(f, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	f.Close()
	out[FormatIPCFile] = p

	p = filepath.Join(dir, "data.arrows")
	f, _ = os.Create(p)
	sw := ipc.NewWriter(f, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err := sw.Write(rec); err != nil {
		t.Fatal(err)
	}
	sw.Close()
	f.Close()
	out[FormatIPCStream] = p

	var csv, jsonl strings.Builder
	csv.WriteString("task,text,label\n")
	for _, r := range testRows {
		fmt.Fprintf(&csv, "%s,%q,%s\n", r.task, r.text, r.label)
		fmt.Fprintf(&jsonl, `{"task": %q, "text": %q, "label": %q}`+"\n", r.task, r.text, r.label)
	}
	out[FormatCSV] = filepath.Join(dir, "data.csv")
	out[FormatJSONL] = filepath.Join(dir, "data.jsonl")
	if err := os.WriteFile(out[FormatCSV], []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out[FormatJSONL], []byte(jsonl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every format loads the same examples, and nothing leaks from arrow's checked allocator.
func TestLoadEveryFormat(t *testing.T) {
	files := writeAll(t, t.TempDir())
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			set, err := Load(testSpec(path), ReadOptions{Mem: mem, BatchRows: 3}, 0.25, 0.25)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Examples) != len(testRows) {
				t.Fatalf("%d examples, want %d", len(set.Examples), len(testRows))
			}
			for i, e := range set.Examples {
				r := testRows[i]
				ts := set.Spec.Tasks[e.Task]
				if ts.Name != r.task || e.Text != r.text || ts.Labels[e.Label] != r.label {
					t.Errorf("example %d = %+v, want %+v", i, e, r)
				}
				if e.Split != SplitOf(ts.Name+"\x00"+e.Text+"\x00", 0.25, 0.25) {
					t.Errorf("example %d: split %s is not the hash split", i, e.Split)
				}
			}
		})
	}
}

// One file per task, and a directory of shards.
func TestLoadPerTaskFilesAndShards(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	a.WriteString("text,label\n")
	b.WriteString("text,label\n")
	for _, r := range testRows {
		if r.task == "sentiment" {
			fmt.Fprintf(&a, "%q,%s\n", r.text, r.label)
		} else {
			fmt.Fprintf(&b, "%q,%s\n", r.text, r.label)
		}
	}
	os.MkdirAll(filepath.Join(dir, "shards"), 0o755)
	os.WriteFile(filepath.Join(dir, "sentiment.csv"), []byte(a.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "shards", "part-0.csv"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "shards", "part-1.csv"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "shards", ".hidden.csv"), []byte("garbage"), 0o644)
	spec := Spec{Name: "per-task", Tasks: []TaskSpec{
		{Name: "sentiment", Labels: []string{"neg", "pos"}, Path: filepath.Join(dir, "sentiment.csv")},
		{Name: "topic", Labels: []string{"politics", "sport"}, Path: filepath.Join(dir, "shards")}}}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	set, err := Load(spec, ReadOptions{Mem: mem}, 0.1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range set.Counts() {
		n += c[0] + c[1] + c[2]
	}
	if c := set.Counts(); c[0][0]+c[0][1]+c[0][2] != 4 || c[1][0]+c[1][1]+c[1][2] != 8 || n != 12 {
		t.Errorf("counts %v", c)
	}
}

// Bad input: each case names the file, row or column at fault and wraps ErrData; no allocation leaks.
func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := writeAll(t, t.TempDir())
	truncated := write("truncated.parquet", func() string {
		data, _ := os.ReadFile(files[FormatParquet])
		return string(data[:len(data)/2])
	}())
	corruptIPC := write("corrupt.arrow", func() string {
		data, _ := os.ReadFile(files[FormatIPCFile])
		for i := len(data) - 60; i < len(data)-10; i++ { // the footer
			data[i] ^= 0x5a
		}
		return string(data)
	}())
	os.MkdirAll(filepath.Join(dir, "mixed"), 0o755)
	os.WriteFile(filepath.Join(dir, "mixed", "a.jsonl"), []byte(`{"task":"topic","text":"x","label":"sport"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mixed", "b.jsonl"), []byte(`{"task":"topic","text":7,"label":"sport"}`+"\n"), 0o644)
	cases := []struct {
		name string
		spec func() Spec
		want []string
	}{
		{"missing column", func() Spec { return testSpec(write("nolabel.csv", "task,text\nsentiment,hi\n")) },
			[]string{"nolabel.csv", `missing column "label"`, "columns: task, text"}},
		{"wrong type", func() Spec { return testSpec(write("num.jsonl", `{"task":"topic","text":12,"label":"sport"}`+"\n")) },
			[]string{"num.jsonl", `column "text" is float64`, "expected a string"}},
		{"type changes between lines", func() Spec {
			return testSpec(write("mixed.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n"+`{"task":"topic","text":3,"label":"sport"}`+"\n"))
		}, []string{"mixed.jsonl", "line 2", `key "text"`, "expected a string"}},
		{"unknown task", func() Spec { return testSpec(write("task.csv", "task,text,label\nsentiment,a,pos\nweather,b,sun\n")) },
			[]string{"task.csv", "row 2", `unknown task "weather"`, "sentiment, topic"}},
		{"label outside vocabulary", func() Spec { return testSpec(write("label.csv", "task,text,label\ntopic,a,sport\ntopic,b,science\n")) },
			[]string{"label.csv", "row 2", `label "science"`, `task "topic"`}},
		{"empty task", func() Spec { return testSpec(write("onetask.csv", "task,text,label\ntopic,a,sport\n")) },
			[]string{`task "sentiment" has no examples`}},
		{"null text", func() Spec {
			return testSpec(write("null.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n"+`{"task":"topic","text":null,"label":"sport"}`+"\n"))
		}, []string{"null.jsonl", "row 2", `column "text" is null`}},
		{"regression label not a number", func() Spec {
			s := testSpec(write("reg.csv", "task,text,label\nsentiment,a,pos\ntopic,b,high\n"))
			s.Tasks[1] = TaskSpec{Name: "topic", Regression: true}
			return s
		}, []string{"reg.csv", "row 2", `regression task "topic"`, `"high"`}},
		{"truncated parquet", func() Spec { return testSpec(truncated) }, []string{"truncated.parquet"}},
		{"corrupt ipc", func() Spec { return testSpec(corruptIPC) }, []string{"corrupt.arrow"}},
		{"truncated ipc stream", func() Spec {
			data, _ := os.ReadFile(files[FormatIPCStream])
			return testSpec(write("truncated.arrows", string(data[:len(data)*2/3])))
		}, []string{"truncated.arrows"}},
		{"empty csv", func() Spec { return testSpec(write("empty.csv", "")) }, []string{"empty.csv", "empty file"}},
		{"empty jsonl", func() Spec { return testSpec(write("empty.jsonl", "\n")) }, []string{"empty.jsonl", "empty file"}},
		{"broken csv quoting", func() Spec { return testSpec(write("quote.csv", "task,text,label\ntopic,\"unclosed,sport\n")) },
			[]string{"quote.csv", "row 1"}},
		{"not json", func() Spec {
			return testSpec(write("bad.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n{oops\n"))
		},
			[]string{"bad.jsonl", "line 2", "not a JSON object"}},
		{"schemas differ between shards", func() Spec { return testSpec(filepath.Join(dir, "mixed")) },
			[]string{"schemas differ", `column "text"`, "a.jsonl", "b.jsonl"}},
		{"path does not exist", func() Spec { return testSpec(filepath.Join(dir, "absent.parquet")) }, []string{"absent.parquet"}},
		{"unknown extension", func() Spec { return testSpec(write("data.xlsx", "x")) }, []string{"data.xlsx", "extension"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			_, err := Load(c.spec(), ReadOptions{Mem: mem}, 0.1, 0.1)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, ErrData) {
				t.Errorf("error does not wrap ErrData")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSpecValidation(t *testing.T) {
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "x", Path: "p"}, "no tasks"},
		{Spec{Name: "x", Path: "p", Tasks: []TaskSpec{{Name: "a", Labels: []string{"y"}}}}, "at least 2 labels"},
		{Spec{Name: "x", Path: "p", Tasks: []TaskSpec{{Name: "a", Regression: true, Labels: []string{"y", "n"}}}}, "regression task with labels"},
		{Spec{Name: "x", Path: "p", Tasks: []TaskSpec{{Name: "a", Labels: []string{"y", "y"}}}}, "twice"},
		{Spec{Name: "x", Path: "p", Tasks: []TaskSpec{{Name: "a", Pair: true, Labels: []string{"y", "n"}}}}, "pair_column"},
		{Spec{Name: "x", Tasks: []TaskSpec{{Name: "a", Labels: []string{"y", "n"}}}}, "no path"},
		{Spec{Name: "x", Path: "p", Format: "xml", Tasks: []TaskSpec{{Name: "a", Labels: []string{"y", "n"}}}}, "unknown format"},
	} {
		if err := c.spec.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to mention %q", c.spec, err, c.want)
		}
	}
}

func TestSplitIsStableAndProportional(t *testing.T) {
	counts := [3]int{}
	for i := range 20000 {
		counts[SplitOf(fmt.Sprintf("doc-%d", i), 0.1, 0.2)]++
	}
	if counts[Train] < 13600 || counts[Train] > 14400 || counts[Validation] < 1800 || counts[Validation] > 2200 {
		t.Errorf("split counts %v for fractions 0.7/0.1/0.2", counts)
	}
	// Pinned: the split of a key never changes across versions, runs or machines.
	if SplitOf("doc-0", 0.1, 0.2) != SplitOf("doc-0", 0.1, 0.2) || SplitOf("stable key", 0.1, 0.1).String() != "train" {
		t.Errorf("split of a fixed key changed: %s", SplitOf("stable key", 0.1, 0.1))
	}
}

// A panic in the caller's function is not disguised as a corrupt file.
func TestScanDoesNotHideCallerPanics(t *testing.T) {
	files := writeAll(t, t.TempDir())
	defer func() {
		if r := recover(); r != "caller bug" {
			t.Errorf("recovered %v, want the caller's panic", r)
		}
	}()
	_ = Scan(files[FormatParquet], ReadOptions{}, func(string, int64, arrow.RecordBatch) error { panic("caller bug") })
	t.Error("Scan returned")
}

// MajorityAnswer, counted by hand: classification answers train's most frequent label; multiple choice the
// candidate text most often right in train, else (never right, or a tie) train's most frequent position.
func TestMajorityAnswer(t *testing.T) {
	set := &Set{Spec: Spec{Tasks: []TaskSpec{{Name: "cls", Labels: []string{"a", "b", "c"}}, {Name: "mc", MultipleChoice: true},
		{Name: "reg", Regression: true}, {Name: "empty", Labels: []string{"x", "y"}}}}}
	add := func(task int32, split Split, label int32, choices ...string) {
		set.Examples = append(set.Examples, Example{Task: task, Label: label, Choices: choices, Split: split})
	}
	// cls: train labels b, b, c, a → answer b; validation b, a, b, c → 2 of 4.
	for _, l := range []int32{1, 1, 2, 0} {
		add(0, Train, l)
	}
	for _, l := range []int32{1, 0, 1, 2} {
		add(0, Validation, l)
	}
	add(0, Test, 0) // test: a → 0 of 1
	// mc: train right "No" twice, "Yes" once; positions right: 1, 1, 0 → position 1.
	add(1, Train, 1, "Yes", "No")
	add(1, Train, 1, "Yes", "No")
	add(1, Train, 0, "Yes", "No")
	add(1, Validation, 0, "No", "Yes")       // "No" picked (position 0): right
	add(1, Validation, 1, "Yes", "No")       // "No" picked: right
	add(1, Validation, 0, "Maybe", "Never")  // never right in train: position 1: wrong
	add(1, Validation, 1, "Yes", "No", "No") // "No" twice: a tie → position 1: right
	add(1, Validation, 0, "Only")            // no text right in train; position 1 is past the last: the last, 0: right
	add(2, Train, 0)
	add(2, Validation, 0)
	add(3, Train, 0)
	got := set.MajorityAnswer(Validation)
	if got[0] != 0.5 || got[1] != 0.8 || !math.IsNaN(got[2]) || !math.IsNaN(got[3]) {
		t.Errorf("MajorityAnswer(validation) = %v, want [0.5 0.8 NaN NaN]", got)
	}
	if got := set.MajorityAnswer(Test); got[0] != 0 || !math.IsNaN(got[1]) {
		t.Errorf("MajorityAnswer(test) = %v, want [0 NaN …]", got)
	}
}
