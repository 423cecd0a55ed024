// Package commonsense builds a multi-task multiple-choice commonsense-reasoning suite in the spirit of the
// MTL-LoRA paper's (BoolQ, PIQA, SIQA, HellaSwag, WinoGrande, ARC, OBQA) from one package a registry serves:
// BIG-bench's source distribution bigbench==1.0.0 on PyPI (358 MB, SHA-256 pinned), whose task.json files
// hold {"input", "target_scores"} examples. Eight tasks are chosen (Tasks says which and why); only their
// task.json files are read from the archive.
//
// Prepare fetches the distribution by name once (cached), keeps each task's examples with exactly one right
// answer, removes exact duplicates and drops a text and set of choices that appear with different answers,
// assigns splits by a hash of each example's normalised text — so no text of a task is in two splits, even
// one that comes with several sets of choices — and writes one JSON Lines
// file (task, text, choices, label = the right choice's index, split), the datasets.Spec that loads it, and a
// datasheet: source, licence, counts per split, number of choices and chance level per task, and why each
// task was chosen. No third-party data is committed.
package commonsense

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/pypi"
)

// Source is the distribution the suite is built from.
var Source = pypi.Sdist{Name: "bigbench", Version: "1.0.0", SHA256: "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2", Size: "358 MB"}

// SourceLicense is what is known of the source's licence.
const SourceLicense = "Apache-2.0 (BIG-bench's repository and dataset card; the distribution's PKG-INFO says License: UNKNOWN); " +
	"each task's original data keeps its own terms (see its source)"

// Name and version of the prepared suite; the version changes whenever the output would.
const (
	Name    = "commonsense"
	Version = "3"
)

// Files of a prepared suite directory.
const (
	DataFile      = "commonsense.jsonl"
	SpecFile      = "spec.json"
	DatasheetFile = "datasheet.json"
	ReadmeFile    = "DATASHEET.md"
)

// Split fractions (by a hash of the normalised text).
const (
	ValidationFraction = 0.1
	TestFraction       = 0.1
)

// ErrPrepare is wrapped by errors fetching, verifying or reading the source.
var ErrPrepare = errors.New("commonsense: cannot prepare")

// Task is one task of the suite: its name here, its task.json inside the distribution, the paper's task it
// stands in for, its original source, and why it was chosen. Rewrite, when set, is applied to every input
// text (and stated in the datasheet as Rule); it fails on a text it cannot rewrite.
type Task struct {
	Name, Path, Mirrors, Source, Why string
	Rule                             string                       `json:",omitempty"`
	Rewrite                          func(string) (string, error) `json:"-"`
	// Shuffle puts each example's choices in an order drawn from a hash of its text and choices (for a
	// source that lists the right answer at one position).
	Shuffle bool `json:",omitempty"`
}

// Tasks are the suite's eight tasks.
var Tasks = []Task{
	{Name: "siqa", Path: "social_iqa", Mirrors: "SIQA", Source: "Social IQa (Sap et al., 2019)",
		Why: "SIQA itself: commonsense about people's motives, reactions and what happens next (3 choices)"},
	{Name: "strategyqa", Path: "strategyqa", Mirrors: "BoolQ", Source: "StrategyQA (Geva et al., 2021)",
		Why: "yes/no questions whose reasoning steps are implicit, as BoolQ's yes/no questions"},
	{Name: "winowhy", Path: "winowhy", Mirrors: "WinoGrande", Source: "WinoWhy (Zhang et al., 2020), on the Winograd Schema Challenge",
		Why: "Winograd-schema pronoun resolution with a stated reason, judged correct or not, as WinoGrande"},
	{Name: "timedial", Path: "timedial", Mirrors: "HellaSwag", Source: "TimeDial (Qin et al., 2021)",
		Why: "pick the phrase that fits a dialog's temporal context (3 choices): plausible continuation, as HellaSwag",
		Rule: fmt.Sprintf("the dialog cut to the words within %d characters before and %d after its <MASK> (dialogs are ~700 characters, far past a small model's sequence length, and the blank is anywhere in them); "+
			"the choices put in an order drawn from a hash of the text (the source lists the right answer third every time)", TimedialBefore, TimedialAfter),
		Rewrite: timedialWindow, Shuffle: true},
	{Name: "wikihow-step", Path: "goal_step_wikihow/step_inference", Mirrors: "PIQA", Source: "wikiHow goal–step relations (Zhang, Lyu and Callison-Burch, 2020)",
		Why: "pick the step that achieves a goal (4 choices), as PIQA's goal → solution"},
	{Name: "sports", Path: "sports_understanding", Mirrors: "PIQA (plausibility)", Source: "BIG-bench task sports_understanding (sentences built from templates by its authors)",
		Why: "is a sentence about sports plausible: world knowledge and physical plausibility"},
	{Name: "epistemic", Path: "epistemic_reasoning", Mirrors: "ARC (reasoning)", Source: "BIG-bench task epistemic_reasoning",
		Why: "entailment about what people know and believe: multi-step reasoning, as ARC's harder questions"},
	{Name: "fallacy", Path: "logical_fallacy_detection", Mirrors: "OBQA (reasoning)", Source: "BIG-bench task logical_fallacy_detection",
		Why: "is an argument valid or a fallacy: reasoning over stated premises"},
}

// Dir returns where the suite is prepared: $MTLORA_CACHE/datasets/commonsense-v<Version> (default the user
// cache directory's mtlora/datasets/commonsense-v<Version>).
func Dir() (string, error) { return cache.Dir("datasets", Name+"-v"+Version) }

// Path returns the prepared suite's directory, or an error saying how to prepare it.
func Path() (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	for _, f := range []string{DataFile, SpecFile, DatasheetFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("the %s suite is not prepared in %s (run: go run ./cmd/mtlora prepare-benchmark commonsense)", Name, dir)
		}
	}
	return dir, nil
}

// Row is one example as written.
type Row struct {
	Task    string   `json:"task"`
	Text    string   `json:"text"`
	Choices []string `json:"choices"`
	Label   int      `json:"label"`
	Split   string   `json:"split"`
}

// TaskSheet is one task's entry of the datasheet.
type TaskSheet struct {
	Task
	Counts     map[string]int `json:"counts"`      // per split
	Choices    map[int]int    `json:"choices"`     // examples per number of choices K
	Chance     float64        `json:"chance"`      // mean of 1/K: the accuracy of guessing
	Read       int            `json:"read"`        // examples in the task.json
	Ambiguous  int            `json:"ambiguous"`   // dropped: not exactly one right answer
	Duplicates int            `json:"duplicates"`  // dropped: the same text, choices and answer again
	Conflicts  int            `json:"conflicting"` // dropped: one text and set of choices with different answers
	// Majority is the validation accuracy of answering without reading the question (datasets.Set's
	// MajorityAnswer): the candidate whose text is most often right in the training split, or (no candidate
	// ever right there, or a tie) the position most often right there. Above Chance when the answers are
	// unbalanced ("No" more often than "Yes"): the bar a model must clear to have learned more than the
	// answers' frequencies.
	Majority float64 `json:"majority"`
}

// Datasheet describes a prepared suite.
type Datasheet struct {
	Name, Version string
	Source        string
	SourceSHA256  string
	License       string
	SplitRule     string
	Tasks         []TaskSheet
	TotalsBySplit map[string]int
}

// Prepare builds the suite into dir (atomically: built beside it, then renamed), fetching the source into
// downloads once; tarball, when given, is used instead (it must have the pinned SHA-256 too).
func Prepare(dir, downloads, tarball string, log io.Writer) (*Datasheet, error) {
	src := tarball
	if src == "" {
		p, err := Source.Fetch(downloads, log)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPrepare, err)
		}
		src = p
	} else if err := Source.Check(src); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrepare, err)
	}
	fmt.Fprintf(log, "building %s v%s from %s …\n", Name, Version, src)
	files, err := readTaskFiles(src, Tasks)
	if err != nil {
		return nil, err
	}
	return write(dir, files)
}

// readTaskFiles reads the tasks' task.json files out of the distribution (nothing else is extracted).
func readTaskFiles(tarball string, tasks []Task) (map[string][]byte, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPrepare, err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPrepare, tarball, err)
	}
	want := map[string]string{} // path in the archive → task name
	prefix := Source.Name + "-" + Source.Version + "/bigbench/benchmark_tasks/"
	for _, t := range tasks {
		want[prefix+t.Path+"/task.json"] = t.Name
	}
	out := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPrepare, tarball, err)
		}
		if name, ok := want[h.Name]; ok {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %s: %v", ErrPrepare, tarball, h.Name, err)
			}
			out[name] = data
		}
	}
	for p, name := range want {
		if out[name] == nil {
			return nil, fmt.Errorf("%w: %s has no %s", ErrPrepare, tarball, p)
		}
	}
	return out, nil
}

// example is one parsed example: its text and its choices with their scores, in the file's order.
// The window of a TimeDial dialog kept around its blank, in characters.
const (
	TimedialBefore = 100
	TimedialAfter  = 40
)

// timedialWindow keeps TimeDial's question ("Which phrase best fits the <MASK> span? Context: …") and the
// dialog's words within TimedialBefore characters before its blank and TimedialAfter after it, marking a cut
// with "…".
func timedialWindow(text string) (string, error) {
	const sep = "Context:"
	i := strings.Index(text, sep)
	if i < 0 {
		return "", fmt.Errorf("no %q in %.60q", sep, text)
	}
	question, dialog := text[:i+len(sep)], text[i+len(sep):]
	m := strings.Index(dialog, "<MASK>")
	if m < 0 {
		return "", fmt.Errorf("no <MASK> in the dialog of %.60q", text)
	}
	start, end := m, m+len("<MASK>")
	for start > 0 && m-start < TimedialBefore {
		start--
	}
	for end < len(dialog) && end-m-len("<MASK>") < TimedialAfter {
		end++
	}
	head, tail := "", ""
	if start > 0 { // begin at a word
		for start < m && !unicode.IsSpace(rune(dialog[start-1])) {
			start++
		}
		head = "… "
	}
	if end < len(dialog) { // end at a word
		for end > m+len("<MASK>") && !unicode.IsSpace(rune(dialog[end])) {
			end--
		}
		tail = " …"
	}
	return question + " " + head + strings.TrimSpace(dialog[start:end]) + tail, nil
}

type example struct {
	text    string
	choices []string
	scores  []float64
}

// parseTask reads a task.json's examples, keeping target_scores in the file's order.
func parseTask(name string, data []byte) ([]example, error) {
	var doc struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: task %s: %v", ErrPrepare, name, err)
	}
	var out []example
	for i, raw := range doc.Examples {
		var e struct {
			Input  string          `json:"input"`
			Scores json.RawMessage `json:"target_scores"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%w: task %s: example %d: %v", ErrPrepare, name, i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(e.Scores))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil, fmt.Errorf("%w: task %s: example %d: target_scores is not an object", ErrPrepare, name, i)
		}
		ex := example{text: e.Input}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: task %s: example %d: %v", ErrPrepare, name, i, err)
			}
			var v float64
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: task %s: example %d: score of %q: %v", ErrPrepare, name, i, key, err)
			}
			ex.choices, ex.scores = append(ex.choices, key.(string)), append(ex.scores, v)
		}
		out = append(out, ex)
	}
	return out, nil
}

// normalise is the key of a text for duplicates and splits: white space collapsed, case kept.
func normalise(s string) string { return strings.Join(strings.Fields(s), " ") }

// Build turns the tasks' files into rows and the datasheet's per-task entries.
func Build(files map[string][]byte) ([]Row, []TaskSheet, error) {
	var rows []Row
	var sheets []TaskSheet
	for _, t := range Tasks {
		exs, err := parseTask(t.Name, files[t.Name])
		if err != nil {
			return nil, nil, err
		}
		sheet := TaskSheet{Task: t, Counts: map[string]int{}, Choices: map[int]int{}, Read: len(exs)}
		byText := map[string][]Row{}
		var order []string
		for i, e := range exs {
			right, n := -1, 0
			for i, s := range e.scores {
				if s == 1 {
					right, n = i, n+1
				} else if s != 0 {
					n = 99 // graded scores: not a single right answer
				}
			}
			text := strings.TrimSpace(e.text)
			if t.Rewrite != nil {
				if text, err = t.Rewrite(text); err != nil {
					return nil, nil, fmt.Errorf("%w: task %s (%s): example %d: %v", ErrPrepare, t.Name, t.Path, i, err)
				}
			}
			if n != 1 || len(e.choices) < 2 || text == "" {
				sheet.Ambiguous++
				continue
			}
			choices := make([]string, len(e.choices))
			for i, c := range e.choices {
				choices[i] = strings.TrimSpace(c)
			}
			if t.Shuffle {
				choices, right = shuffled(t.Name, text, choices, right)
			}
			key := normalise(text) + "\x00" + normalise(strings.Join(choices, "\x00")) // the same text may come with other choices
			if _, seen := byText[key]; !seen {
				order = append(order, key)
			}
			byText[key] = append(byText[key], Row{Task: t.Name, Text: text, Choices: choices, Label: right})
		}
		for _, key := range order {
			group := byText[key]
			same := true
			for _, r := range group[1:] {
				same = same && r.Label == group[0].Label
			}
			if !same { // one text and choices, two answers
				sheet.Conflicts += len(group)
				continue
			}
			sheet.Duplicates += len(group) - 1
			r := group[0]
			// The split follows the text alone, so a text that comes with several sets of choices keeps them
			// all in one split.
			r.Split = datasets.SplitOf(t.Name+"\x00"+normalise(r.Text), ValidationFraction, TestFraction).String()
			rows = append(rows, r)
			sheet.Counts[r.Split]++
			sheet.Choices[len(r.Choices)]++
			sheet.Chance += 1 / float64(len(r.Choices))
		}
		total := sheet.Counts["train"] + sheet.Counts["validation"] + sheet.Counts["test"]
		if total == 0 {
			return nil, nil, fmt.Errorf("%w: task %s kept no examples", ErrPrepare, t.Name)
		}
		sheet.Chance /= float64(total)
		sheets = append(sheets, sheet)
	}
	set := &datasets.Set{Spec: SpecOf()} // tasks in Tasks' order, as the sheets
	for _, r := range rows {
		split, err := datasets.ParseSplit(r.Split)
		if err != nil {
			return nil, nil, err
		}
		task := slices.IndexFunc(Tasks, func(t Task) bool { return t.Name == r.Task })
		set.Examples = append(set.Examples, datasets.Example{Task: int32(task), Text: r.Text, Choices: r.Choices, Label: int32(r.Label), Split: split})
	}
	for i, m := range set.MajorityAnswer(datasets.Validation) {
		sheets[i].Majority = m
	}
	return rows, sheets, nil
}

// ReadDatasheet reads the prepared suite's datasheet (Path).
func ReadDatasheet() (*Datasheet, error) {
	dir, err := Path()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, DatasheetFile))
	if err != nil {
		return nil, err
	}
	var s Datasheet
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("commonsense: %s: %w", filepath.Join(dir, DatasheetFile), err)
	}
	return &s, nil
}

// Majorities are the tasks' majority-answer accuracies (TaskSheet.Majority) by task name.
func (s *Datasheet) Majorities() map[string]float64 {
	out := map[string]float64{}
	for _, t := range s.Tasks {
		out[t.Name] = t.Majority
	}
	return out
}

// shuffled reorders choices by a permutation drawn from a hash of the task, text and choices, and returns
// where the right one went.
func shuffled(task, text string, choices []string, right int) ([]string, int) {
	h := sha256.Sum256([]byte(task + "\x00" + normalise(text) + "\x00" + strings.Join(choices, "\x00")))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
	perm := rng.Perm(len(choices))
	out := make([]string, len(choices))
	at := 0
	for i, j := range perm { // choice j goes to position i
		out[i] = choices[j]
		if j == right {
			at = i
		}
	}
	return out, at
}

// SpecOf is the datasets.Spec of the suite's data file.
func SpecOf() datasets.Spec {
	spec := datasets.Spec{Name: Name, Path: DataFile, Format: "jsonl", TextColumn: "text", LabelColumn: "label", TaskColumn: "task",
		SplitColumn: "split", ChoicesColumn: "choices"}
	for _, t := range Tasks {
		spec.Tasks = append(spec.Tasks, datasets.TaskSpec{Name: t.Name, MultipleChoice: true})
	}
	return spec
}

func write(dir string, files map[string][]byte) (*Datasheet, error) {
	rows, sheets, err := Build(files)
	if err != nil {
		return nil, err
	}
	sheet := &Datasheet{Name: Name, Version: Version, Source: fmt.Sprintf("PyPI %s==%s (%s)", Source.Name, Source.Version, Source.Filename()),
		SourceSHA256: Source.SHA256, License: SourceLicense, Tasks: sheets, TotalsBySplit: map[string]int{},
		SplitRule: fmt.Sprintf("SHA-256 of task and normalised text: %.0f%% validation, %.0f%% test, the rest train; a text never in two splits",
			100*ValidationFraction, 100*TestFraction)}
	for _, r := range rows {
		sheet.TotalsBySplit[r.Split]++
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{DataFile: b.Bytes(), ReadmeFile: []byte(markdown(sheet))}
	for name, v := range map[string]any{SpecFile: SpecOf(), DatasheetFile: sheet} {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, err
		}
		out[name] = append(data, '\n')
	}
	err = atomicfile.Dir(dir, func(tmp string) error {
		for name, data := range out {
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sheet, nil
}

// markdown is the datasheet for people.
func markdown(s *Datasheet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s v%s: a multi-task commonsense suite\n\nBuilt by `mtlora prepare-benchmark commonsense` from %s, SHA-256 %s.\n\n", s.Name, s.Version, s.Source, s.SourceSHA256)
	fmt.Fprintf(&b, "Licence: %s.\n\nSplits: %s.\n\n", s.License, s.SplitRule)
	b.WriteString("| task | stands in for | train | validation | test | choices | chance | majority answer | dropped (ambiguous / duplicate / conflicting) | source | why |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range s.Tasks {
		var ks []string
		for _, k := range sortedInts(t.Choices) {
			ks = append(ks, fmt.Sprintf("%d: %d", k, t.Choices[k]))
		}
		why := t.Why
		if t.Rule != "" {
			why += "; built: " + t.Rule
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %.3f | %.3f | %d / %d / %d | %s | %s |\n", t.Name, t.Mirrors, t.Counts["train"], t.Counts["validation"],
			t.Counts["test"], strings.Join(ks, ", "), t.Chance, t.Majority, t.Ambiguous, t.Duplicates, t.Conflicts, t.Source, why)
	}
	fmt.Fprintf(&b, "\nExamples: %d train, %d validation, %d test.\n", s.TotalsBySplit["train"], s.TotalsBySplit["validation"], s.TotalsBySplit["test"])
	return b.String()
}

func sortedInts(m map[int]int) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// Load reads a prepared suite through its spec.
func Load(dir string, opts datasets.ReadOptions) (*datasets.Set, error) {
	spec, err := datasets.ReadSpec(filepath.Join(dir, SpecFile))
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(spec.Path) {
		spec.Path = filepath.Join(dir, spec.Path)
	}
	return datasets.Load(spec, opts, ValidationFraction, TestFraction)
}
