package benchmark

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mtlora/mtlora/datasets"
)

// requireBenchmark returns the prepared benchmark, skipping unless MTLORA_REQUIRE_DATA=1 (set by CI, which
// prepares it first).
func requireBenchmark(t *testing.T) string {
	t.Helper()
	dir, err := Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
			t.Fatal(err)
		}
		t.Skipf("%v (set MTLORA_REQUIRE_DATA=1 to make this an error)", err)
	}
	return dir
}

// The datasheet matches the data: every count per task, split and label is recounted from the Parquet file
// through datasets.Load, regression ranges too; the benchmark has ≥ 5 tasks of 200–10,000 examples of
// several kinds, no duplicate examples, and no text shared between splits.
func TestDatasheetMatchesData(t *testing.T) {
	dir := requireBenchmark(t)
	data, err := os.ReadFile(filepath.Join(dir, DatasheetFile))
	if err != nil {
		t.Fatal(err)
	}
	var sheet Datasheet
	if err := json.Unmarshal(data, &sheet); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	set, err := Load(dir, datasets.ReadOptions{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	if sheet.TotalRows != len(set.Examples) {
		t.Errorf("datasheet says %d rows, data has %d", sheet.TotalRows, len(set.Examples))
	}
	if len(sheet.Tasks) != len(set.Spec.Tasks) || len(set.Spec.Tasks) < 5 {
		t.Fatalf("datasheet lists %d tasks, spec %d (want ≥ 5)", len(sheet.Tasks), len(set.Spec.Tasks))
	}
	kinds := map[string]bool{}
	type key struct {
		task  int32
		text  string
		pair  string
		split datasets.Split
	}
	seen := map[key]bool{}
	splitOfText := map[string]datasets.Split{}
	for ti, ts := range set.Spec.Tasks {
		td := sheet.Tasks[ti]
		if td.Name != ts.Name {
			t.Fatalf("task %d: datasheet %q, spec %q", ti, td.Name, ts.Name)
		}
		kinds[strings.Fields(td.Kind)[0]] = true
		counts := map[string]int{}
		byLabel := map[string]map[string]int{}
		ranges := map[string][2]float64{}
		total := 0
		for _, e := range set.Examples {
			if int(e.Task) != ti {
				continue
			}
			s := e.Split.String()
			counts[s]++
			total++
			if ts.Regression {
				r, ok := ranges[s]
				v := float64(e.Value)
				if !ok {
					r = [2]float64{v, v}
				}
				ranges[s] = [2]float64{min(r[0], v), max(r[1], v)}
			} else {
				if byLabel[s] == nil {
					byLabel[s] = map[string]int{}
				}
				byLabel[s][ts.Labels[e.Label]]++
			}
			k := key{e.Task, e.Text, e.Pair, e.Split}
			if seen[k] {
				t.Errorf("%s: duplicate example %.60q", ts.Name, e.Text)
			}
			seen[k] = true
			// A text (e-mail, passage, word) sits in one split whatever the task.
			if prev, ok := splitOfText[e.Text]; ok && prev != e.Split {
				t.Errorf("%s: text %.60q is in %s and in %s", ts.Name, e.Text, prev, e.Split)
			}
			splitOfText[e.Text] = e.Split
		}
		if fmt.Sprint(counts) != fmt.Sprint(td.Counts) {
			t.Errorf("%s: counts per split %v, datasheet %v", ts.Name, counts, td.Counts)
		}
		if !ts.Regression && fmt.Sprint(byLabel) != fmt.Sprint(td.ByLabel) {
			t.Errorf("%s: counts per label %v, datasheet %v", ts.Name, byLabel, td.ByLabel)
		}
		if ts.Regression && fmt.Sprint(ranges) != fmt.Sprint(td.Values) {
			t.Errorf("%s: value ranges %v, datasheet %v", ts.Name, ranges, td.Values)
		}
		if total < 200 || total > 10000 {
			t.Errorf("%s: %d examples, outside 200–10,000", ts.Name, total)
		}
		for _, s := range []string{"train", "validation", "test"} {
			if counts[s] == 0 {
				t.Errorf("%s: empty %s split", ts.Name, s)
			}
		}
	}
	for _, k := range []string{"2", "4", "text", "regression"} {
		if !kinds[k] {
			t.Errorf("no task of kind %q (binary, multi-class, pair, regression): %v", k, kinds)
		}
	}
}

// tarballWith writes a .tgz holding the given files.
func tarballWith(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "fake.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The build on a small stand-in of the package: MIME decoding, deduplication, passages, pairs, lexicons,
// and group-consistent splits. Fetching refuses a tarball that is not the pinned one.
func TestBuildOnStandIn(t *testing.T) {
	speech := strings.Repeat("The Union is strong and our people are at work in every state of the land today. ", 40)
	mail := func(subject, kind, body string) string {
		b, _ := json.Marshal(map[string]any{"id": "1", "group": "x", "text": "From: a@b\nSubject: " + subject +
			"\nContent-Type: text/" + kind + "; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + body})
		return string(b)
	}
	files := map[string]string{
		"package/spam-assassin/data/spam-1/1.json":              strings.Replace(mail("Win =?utf-8?q?b=C3=A9g?=", "plain", "Buy n=E9w pills now"), `"x"`, `"spam-1"`, 1),
		"package/spam-assassin/data/easy-ham-1/1.json":          strings.Replace(mail("Meeting", "html", "See you at <b>noon</b>&amp;after"), `"x"`, `"easy-ham-1"`, 1),
		"package/spam-assassin/data/easy-ham-1/2.json":          strings.Replace(mail("Meeting", "html", "See you at <b>noon</b>&amp;after"), `"x"`, `"easy-ham-1"`, 1),
		"package/sotu/data/1801_a.json":                         fmt.Sprintf(`{"year":1801,"name":"A","party":"Federalist","text":%q}`, speech),
		"package/afinn-111/data/words.json":                     `[["good",3],["bad",-3]]`,
		"package/liu-positive-opinion-words-en/data/words.json": `["good","fine"]`,
		"package/liu-negative-opinion-words-en/data/words.json": `["bad","fine"]`,
	}
	rows, notes, err := Build(tarballWith(t, files))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]Row{}
	for _, r := range rows {
		by[r.Task] = append(by[r.Task], r)
		if r.Split != datasets.SplitOf(r.Group, validationFraction, testFraction) {
			t.Errorf("%s: split is not the group's", r.Task)
		}
	}
	if len(by["spam"]) != 2 || by["spam"][0].Text != "Subject: Meeting See you at noon &after" && by["spam"][1].Text != "Subject: Meeting See you at noon &after" {
		t.Errorf("spam rows %+v", by["spam"])
	}
	for _, r := range by["spam"] {
		if r.Label == "spam" && r.Text != "Subject: Win bég Buy néw pills now" {
			t.Errorf("spam text %q: quoted-printable and encoded-word subject not decoded", r.Text)
		}
	}
	if len(by["sotu-party"]) == 0 || by["sotu-party"][0].Label != "other" || by["sotu-period"][0].Label != "1790-1860" {
		t.Errorf("sotu rows %+v", by["sotu-party"])
	}
	if len(by["sotu-next"]) == 0 || len(by["sotu-next"])%2 != 0 {
		t.Errorf("sotu-next rows: %d", len(by["sotu-next"]))
	}
	if len(by["afinn"]) != 2 || len(by["opinion"]) != 2 { // "fine" is in both opinion lists: dropped
		t.Errorf("lexicon rows: afinn %d, opinion %d", len(by["afinn"]), len(by["opinion"]))
	}
	if !strings.Contains(strings.Join(notes["spam"], " "), "1 duplicate") {
		t.Errorf("notes %v", notes["spam"])
	}
	if _, err := Fetch(t.TempDir(), tarballWith(t, files), os.Stderr); err == nil || !errors.Is(err, ErrPrepare) || !strings.Contains(err.Error(), "integrity") {
		t.Errorf("an unpinned tarball was accepted: %v", err)
	}
}
