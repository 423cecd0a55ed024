package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// interopDatasets reads the "datasets" part of $MTLORA_INTEROP_DIR/expected.json (see readInterop).
func interopDatasets(t *testing.T) (hive struct {
	Path   string                `json:"path"`
	Rows   int                   `json:"rows"`
	ByTask map[string][][]string `json:"by_task"`
}, shards struct {
	Path  string   `json:"path"`
	Rows  int      `json:"rows"`
	Texts []string `json:"texts"`
}, double, boolean struct {
	Path   string `json:"path"`
	Labels []any  `json:"labels"`
}) {
	dir, _, _ := readInterop(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Datasets struct {
			Hive    json.RawMessage `json:"hive"`
			Shards  json.RawMessage `json:"shards"`
			Double  json.RawMessage `json:"labels_double"`
			Boolean json.RawMessage `json:"labels_bool"`
		} `json:"datasets"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if exp.Datasets.Hive == nil {
		t.Fatal("expected.json has no datasets: rerun scripts/reference/arrow_interop.py")
	}
	for _, p := range []struct {
		raw json.RawMessage
		v   any
	}{{exp.Datasets.Hive, &hive}, {exp.Datasets.Shards, &shards}, {exp.Datasets.Double, &double}, {exp.Datasets.Boolean, &boolean}} {
		if err := json.Unmarshal(p.raw, p.v); err != nil {
			t.Fatal(err)
		}
	}
	return
}

// A hive-partitioned folder written by pyarrow.dataset (task=NAME/part-N.parquet, the names URL-encoded)
// loads with the task taken from the folder names: every (text, label) of every task that pyarrow reads back,
// no more. Its inferred spec finds the three tasks and their kinds.
func TestInteropHivePartitionedFolder(t *testing.T) {
	hive, _, _, _ := interopDatasets(t)
	spec, err := InferSpec(hive.Path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, ts := range spec.Tasks {
		kinds[ts.Name] = fmt.Sprint(ts.Regression, ts.Labels)
	}
	want := map[string]string{"sentiment": "false [neg pos]", "topic & more": "false [politics sport]", "rating": "true []"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("inferred tasks %v, want %v", kinds, want)
	}
	set, err := Load(spec, ReadOptions{}, 0.1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Examples) != hive.Rows {
		t.Fatalf("%d examples, pyarrow reads %d rows", len(set.Examples), hive.Rows)
	}
	got := map[string][]string{}
	for _, e := range set.Examples {
		ts := set.Spec.Tasks[e.Task]
		label := fmt.Sprint(e.Value)
		if !ts.Regression {
			label = ts.Labels[e.Label]
		}
		got[ts.Name] = append(got[ts.Name], e.Text+"|"+LabelKey(label))
	}
	for task, rows := range hive.ByTask {
		var w []string
		for _, r := range rows {
			w = append(w, r[0]+"|"+LabelKey(r[1])) // regression values compare as numbers
		}
		g := got[task]
		slices.Sort(w)
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("task %q: %d rows differ from pyarrow's %d (first: %v vs %v)", task, len(g), len(w), first(g), first(w))
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Parquet shards without a file extension are read when the format is given (and skipped when it is not):
// every row, in shard order, as pyarrow wrote them.
func TestInteropShardsWithoutExtension(t *testing.T) {
	_, shards, _, _ := interopDatasets(t)
	if _, err := Files(shards.Path, FormatAuto); err == nil {
		t.Error("shards without an extension were taken without a format")
	}
	files, err := Files(shards.Path, FormatParquet)
	if err != nil || len(files) != 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	spec, err := InferSpec(shards.Path, ReadOptions{Format: FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Format != "parquet" {
		t.Errorf("inferred spec has format %q: loading it again would not find the shards", spec.Format)
	}
	set, err := Load(spec, ReadOptions{}, 0.1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range set.Examples {
		texts = append(texts, e.Text)
	}
	if !slices.Equal(texts, shards.Texts) {
		t.Errorf("%d texts, pyarrow wrote %d (first %q vs %q)", len(texts), len(shards.Texts), first(texts), first(shards.Texts))
	}
}

// Labels stored as DOUBLE (1.0, 0.0) and BOOLEAN columns by pyarrow match a spec's labels by value — "1" and
// "0", "True" and "False" as Python writes them — and the inferred spec names them as the loader reads them.
func TestInteropLabelsMatchByValue(t *testing.T) {
	_, _, double, boolean := interopDatasets(t)
	for _, c := range []struct {
		path   string
		labels []string
		want   []any
		task   string
	}{
		{double.Path, []string{"0", "1"}, double.Labels, "spam"},
		{double.Path, []string{"0.0", "1.00"}, double.Labels, "spam"},
		{boolean.Path, []string{"False", "True"}, boolean.Labels, "flag"},
	} {
		spec := Spec{Name: "typed", Path: c.path, Tasks: []TaskSpec{{Name: c.task, Labels: c.labels}}}
		set, err := Load(spec, ReadOptions{}, 0.1, 0.1)
		if err != nil {
			t.Errorf("labels %q: %v", c.labels, err)
			continue
		}
		for i, e := range set.Examples {
			want := 0
			switch v := c.want[i].(type) {
			case bool:
				if v {
					want = 1
				}
			case float64:
				want = int(v)
			}
			if int(e.Label) != want {
				t.Errorf("labels %q row %d: class %d, pyarrow's label %v is class %d", c.labels, i+1, e.Label, c.want[i], want)
			}
		}
		inferred, err := InferSpec(c.path, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(inferred.Tasks[0].Labels, ","); got != "0,1" && got != "false,true" {
			t.Errorf("%s: inferred labels %s", filepath.Base(c.path), got)
		}
	}
}
