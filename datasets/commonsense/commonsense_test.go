package commonsense

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/datasets"
)

// The rules on a task written here: choices keep the file's order and the label is the right one's index;
// an example without exactly one right answer is dropped as ambiguous; the same text and choices again is a
// duplicate (one kept); the same text and choices with another answer are conflicting (both dropped); the
// same text with other choices is another example, in the same split.
func TestBuildRules(t *testing.T) {
	files := map[string][]byte{}
	for _, task := range Tasks {
		files[task.Name] = []byte(`{"examples": [{"input": "Only one", "target_scores": {"z": 0, "a": 1}}]}`)
	}
	files["timedial"] = []byte(`{"examples": [{"input": "Which phrase best fits the <MASK> span? Context: A: at <MASK>.", "target_scores": {"z": 0, "a": 1}}]}`)
	files["siqa"] = []byte(`{"examples": [
		{"input": "Q1", "target_scores": {"c": 0, "b": 1, "a": 0}},
		{"input": "  Q1 ", "target_scores": {"c": 0, "b": 1, "a": 0}},
		{"input": "Q2", "target_scores": {"x": 1, "y": 1}},
		{"input": "Q3", "target_scores": {"x": 1, "y": 0}},
		{"input": "Q3", "target_scores": {"x": 0, "y": 1}},
		{"input": "Q4", "target_scores": {"p": 0, "q": 1}},
		{"input": "Q4", "target_scores": {"r": 1, "s": 0, "t": 0}}]}`)
	rows, sheets, err := Build(files)
	if err != nil {
		t.Fatal(err)
	}
	s := sheets[0]
	if s.Read != 7 || s.Ambiguous != 1 || s.Duplicates != 1 || s.Conflicts != 2 || s.Counts["train"]+s.Counts["validation"]+s.Counts["test"] != 3 {
		t.Errorf("siqa sheet %+v", s)
	}
	if math.Abs(s.Chance-(1.0/3+1.0/2+1.0/3)/3) > 1e-12 || s.Choices[3] != 2 || s.Choices[2] != 1 {
		t.Errorf("chance %v, choices %v", s.Chance, s.Choices)
	}
	var siqa []Row
	for _, r := range rows {
		if r.Task == "siqa" {
			siqa = append(siqa, r)
		}
	}
	if len(siqa) != 3 || strings.Join(siqa[0].Choices, ",") != "c,b,a" || siqa[0].Label != 1 || siqa[0].Text != "Q1" {
		t.Fatalf("rows %+v", siqa)
	}
	if siqa[1].Text != "Q4" || siqa[2].Text != "Q4" || siqa[1].Split != siqa[2].Split {
		t.Errorf("one text with two sets of choices: %+v, %+v", siqa[1], siqa[2])
	}
	files["strategyqa"] = []byte(`{"examples": [{"input": "Q", "target_scores": {"a": 0.5, "b": 0.5}}]}`)
	if _, _, err := Build(files); err == nil || !strings.Contains(err.Error(), "strategyqa kept no examples") {
		t.Errorf("a task left empty: %v", err)
	}
}

// The prepared suite, read back through its spec by datasets.Load, is what its datasheet says: every count
// per task and split, the choices per example and the chance level recomputed; no task has a text in two
// splits; every task has at least 900 examples. CI prepares the suite first
// (mtlora prepare-benchmark commonsense) and sets MTLORA_REQUIRE_DATA=1.
// TimeDial's dialogs are cut to the words around the blank; a text without its blank is an error naming the
// task and example, never a silent drop.
func TestTimedialWindow(t *testing.T) {
	q := "Which phrase best fits the <MASK> span? Context:"
	before := strings.Repeat("word ", 60) // 300 characters
	after := strings.Repeat("tail ", 40)  // 200 characters
	got, err := timedialWindow(q + "\nA: " + before + "at <MASK> then\nB: " + after)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, q+" … word ") || !strings.HasSuffix(got, "tail …") || !strings.Contains(got, "at <MASK> then\nB: tail") {
		t.Errorf("window %q", got)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(got, q+" … "), " …")
	m := strings.Index(body, "<MASK>")
	if m > TimedialBefore || len(body)-m-len("<MASK>") > TimedialAfter {
		t.Errorf("window %d before, %d after the blank: %q", m, len(body)-m-len("<MASK>"), body)
	}
	short := q + " A: at <MASK>. B: ok"
	if got, err := timedialWindow(short); err != nil || got != short {
		t.Errorf("a short dialog is kept whole: %q, %v", got, err)
	}
	files := map[string][]byte{}
	for _, task := range Tasks {
		files[task.Name] = []byte(`{"examples": [{"input": "Which phrase best fits the <MASK> span? Context: A: <MASK>", "target_scores": {"z": 0, "a": 1}}]}`)
	}
	files["timedial"] = []byte(`{"examples": [{"input": "Context: A: <MASK>", "target_scores": {"z": 0, "a": 1}}, {"input": "No blank. Context: A: hi", "target_scores": {"z": 0, "a": 1}}]}`)
	if _, _, err := Build(files); err == nil || !strings.Contains(err.Error(), "task timedial (timedial): example 1: no <MASK>") {
		t.Errorf("error %v", err)
	}
}

func TestDatasheetRecounted(t *testing.T) {
	dir, err := Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
			t.Fatal(err)
		}
		t.Skipf("%v (set MTLORA_REQUIRE_DATA=1 to make this an error)", err)
	}
	sheet, err := ReadDatasheet()
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir, datasets.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Spec.Tasks) != 8 || len(sheet.Tasks) != 8 {
		t.Fatalf("%d tasks in the spec, %d in the datasheet", len(set.Spec.Tasks), len(sheet.Tasks))
	}
	type count struct {
		splits     map[string]int
		choices    map[int]int
		chance     float64
		split      map[string]string // normalised text → split
		positions  map[int32]int     // right answers by position
		trainRight map[string]int    // right answers' texts in train
		valRight   map[string]int    // … in validation
		sets       map[string]bool   // the sets of choices (sorted)
	}
	got := make([]count, len(set.Spec.Tasks))
	for i := range got {
		got[i] = count{splits: map[string]int{}, choices: map[int]int{}, split: map[string]string{}, positions: map[int32]int{},
			trainRight: map[string]int{}, valRight: map[string]int{}, sets: map[string]bool{}}
	}
	for _, e := range set.Examples {
		c := &got[e.Task]
		c.positions[e.Label]++
		cs := slices.Clone(e.Choices)
		slices.Sort(cs)
		c.sets[strings.Join(cs, "\x00")] = true
		switch e.Split {
		case datasets.Train:
			c.trainRight[e.Choices[e.Label]]++
		case datasets.Validation:
			c.valRight[e.Choices[e.Label]]++
		}
		c.splits[e.Split.String()]++
		c.choices[len(e.Choices)]++
		c.chance += 1 / float64(len(e.Choices))
		key := strings.Join(strings.Fields(e.Text), " ")
		if s, ok := c.split[key]; ok && s != e.Split.String() {
			t.Errorf("task %s: the text %.60q is in %s and %s", set.Spec.Tasks[e.Task].Name, e.Text, s, e.Split)
		}
		c.split[key] = e.Split.String()
		if int(e.Label) >= len(e.Choices) {
			t.Fatalf("label %d of %d choices", e.Label, len(e.Choices))
		}
	}
	for i, ts := range sheet.Tasks {
		c := got[i]
		n := c.splits["train"] + c.splits["validation"] + c.splits["test"]
		if ts.Name != set.Spec.Tasks[i].Name || fmt.Sprint(ts.Counts) != fmt.Sprint(c.splits) || fmt.Sprint(ts.Choices) != fmt.Sprint(c.choices) ||
			math.Abs(ts.Chance-c.chance/float64(n)) > 1e-9 || n < 900 {
			t.Errorf("%s: datasheet counts %v choices %v chance %.4f; the data %v %v %.4f", ts.Name, ts.Counts, ts.Choices, ts.Chance,
				c.splits, c.choices, c.chance/float64(n))
		}
		// No task gives its answer away by position (TimeDial's source lists it third every time).
		for p, k := range c.positions {
			if float64(k) > 0.7*float64(n) {
				t.Errorf("%s: the right answer is at position %d in %d of %d examples", ts.Name, p, k, n)
			}
		}
		// Where every example has the same two choices ("Yes", "No"), the majority answer is the one right more
		// often in train, and its accuracy the share of validation examples it answers.
		if len(c.sets) == 1 && len(c.trainRight) == 2 {
			top := ""
			for text, k := range c.trainRight {
				if top == "" || k > c.trainRight[top] {
					top = text
				}
			}
			if want := float64(c.valRight[top]) / float64(c.splits["validation"]); math.Abs(ts.Majority-want) > 1e-9 {
				t.Errorf("%s: majority answer %.4f, recounted (%q) %.4f", ts.Name, ts.Majority, top, want)
			}
		} else if ts.Majority < 0 || ts.Majority > 1 {
			t.Errorf("%s: majority answer %v", ts.Name, ts.Majority)
		}
	}
	// The set's MajorityAnswer on validation is the datasheet's column (written when the suite was prepared).
	for i, m := range set.MajorityAnswer(datasets.Validation) {
		if m != sheet.Tasks[i].Majority {
			t.Errorf("%s: MajorityAnswer(validation) %.6f, datasheet %.6f", sheet.Tasks[i].Name, m, sheet.Tasks[i].Majority)
		}
	}
}
