package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Spec describes a multi-task dataset: where its rows are, which columns hold the text (or text pair), the
// label and the task, and each task's label vocabulary (or that it is a regression task). Rows come either
// from Path with a task column, or from one file (or directory) per task (TaskSpec.Path).
type Spec struct {
	Name        string `json:"name"`
	Path        string `json:"path,omitempty"`         // a file or directory of shards holding every task
	Format      string `json:"format,omitempty"`       // auto (by extension), parquet, ipc, ipc-stream, csv, jsonl
	TextColumn  string `json:"text_column,omitempty"`  // default "text"
	PairColumn  string `json:"pair_column,omitempty"`  // second text of pair tasks (TaskSpec.Pair)
	LabelColumn string `json:"label_column,omitempty"` // default "label"
	TaskColumn  string `json:"task_column,omitempty"`  // default "task"; unused when every task has its own Path
	SplitColumn string `json:"split_column,omitempty"` // optional train/validation/test column; else a stable hash split
	// ChoicesColumn holds the candidate answers of multiple-choice tasks (default "choices"): a list of strings,
	// or a string holding a JSON array of strings (CSV).
	ChoicesColumn string `json:"choices_column,omitempty"`
	// AllowEmptyText keeps examples whose text, pair or a choice is the empty string; without it they are an
	// error naming the row (an empty text is more often a lost value than a meant one). A null is always an
	// error; in CSV an empty unquoted field is null and "" is the empty text.
	AllowEmptyText bool       `json:"allow_empty_text,omitempty"`
	Tasks          []TaskSpec `json:"tasks"`
}

// TaskSpec describes one task.
type TaskSpec struct {
	Name       string   `json:"name"`
	Labels     []string `json:"labels,omitempty"`     // class vocabulary of a classification task, in class-index order
	Regression bool     `json:"regression,omitempty"` // the label is a real number
	Pair       bool     `json:"pair,omitempty"`       // examples are text pairs (Spec.PairColumn); multiple choice: the question
	// MultipleChoice: each example is a context (the text column), optionally a question (the pair column, with
	// Pair), and K ≥ 2 candidate answers (Spec.ChoicesColumn); the label is the 0-based index of the right
	// one. K may differ between examples and tasks.
	MultipleChoice bool   `json:"multiple_choice,omitempty"`
	Path           string `json:"path,omitempty"` // this task's own file or directory (then no task column)
}

// Split is the partition an example belongs to.
type Split uint8

const (
	Train Split = iota
	Validation
	Test
)

var splitNames = []string{"train", "validation", "test"}

func (s Split) String() string {
	if int(s) < len(splitNames) {
		return splitNames[s]
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// ParseSplit reads train, validation (or valid, dev) or test.
func ParseSplit(s string) (Split, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "train":
		return Train, nil
	case "validation", "valid", "dev":
		return Validation, nil
	case "test":
		return Test, nil
	}
	return 0, fmt.Errorf("unknown split %q (expected train, validation or test)", s)
}

// SplitOf assigns key to a split with the given validation and test fractions, by SHA-256 of the key: the
// same key lands in the same split on every run and machine, whatever else is in the data. Give every row of
// a group (one document, one speech) the same key so a group never straddles two splits.
func SplitOf(key string, validation, test float64) Split {
	h := sha256.Sum256([]byte(key))
	u := float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
	switch {
	case u < test:
		return Test
	case u < test+validation:
		return Validation
	}
	return Train
}

// Example is one row of a multi-task dataset.
type Example struct {
	Task    int32    // index into Set.Tasks
	Text    string   // the text (first text of a pair)
	Pair    string   // the second text of a pair task
	Label   int32    // class index of a classification task, the right choice's index for multiple choice; 0 for regression
	Value   float32  // target of a regression task
	Choices []string // the candidate answers of a multiple-choice example
	Split   Split
}

// Set is a loaded multi-task dataset.
type Set struct {
	Spec     Spec
	Examples []Example
	labels   []map[string]int32 // per task: LabelKey → class index, built while loading
}

// labelIndex maps task's labels by LabelKey to their class index.
func (set *Set) labelIndex(task int) map[string]int32 {
	if set.labels == nil {
		set.labels = make([]map[string]int32, len(set.Spec.Tasks))
	}
	if set.labels[task] == nil {
		set.labels[task] = map[string]int32{}
		for i, l := range set.Spec.Tasks[task].Labels {
			set.labels[task][LabelKey(l)] = int32(i)
		}
	}
	return set.labels[task]
}

// ReadSpec reads a JSON Spec, rejecting unknown fields.
func ReadSpec(path string) (Spec, error) {
	var s Spec
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("datasets: spec %s: %w", path, err)
	}
	return s, nil
}

func (s *Spec) defaults() {
	if s.TextColumn == "" {
		s.TextColumn = "text"
	}
	if s.LabelColumn == "" {
		s.LabelColumn = "label"
	}
	if s.TaskColumn == "" {
		s.TaskColumn = "task"
	}
	if s.ChoicesColumn == "" {
		s.ChoicesColumn = DefaultChoicesColumn
	}
}

// Validate checks the spec itself (not the data).
func (s Spec) Validate() error {
	s.defaults()
	if len(s.Tasks) == 0 {
		return fmt.Errorf("datasets: spec %q: no tasks", s.Name)
	}
	for i, t := range s.Tasks {
		switch {
		case t.Name == "":
			return fmt.Errorf("datasets: spec %q: task %d has no name", s.Name, i)
		case slices.IndexFunc(s.Tasks, func(u TaskSpec) bool { return u.Name == t.Name }) != i:
			return fmt.Errorf("datasets: spec %q: task %q is listed twice", s.Name, t.Name)
		case t.Regression && len(t.Labels) > 0:
			return fmt.Errorf("datasets: spec %q: task %q is a regression task with labels", s.Name, t.Name)
		case t.MultipleChoice && (t.Regression || len(t.Labels) > 0):
			return fmt.Errorf("datasets: spec %q: task %q is a multiple-choice task: its labels are choice indices, so it has no labels list and is not regression", s.Name, t.Name)
		case !t.Regression && !t.MultipleChoice && len(t.Labels) < 2:
			return fmt.Errorf("datasets: spec %q: classification task %q needs at least 2 labels, has %d", s.Name, t.Name, len(t.Labels))
		case t.Pair && s.PairColumn == "":
			return fmt.Errorf("datasets: spec %q: task %q is a pair task but the spec names no pair_column", s.Name, t.Name)
		case t.Path == "" && s.Path == "":
			return fmt.Errorf("datasets: spec %q: task %q has no path, and the spec has none", s.Name, t.Name)
		}
		keys := map[string]string{}
		for _, l := range t.Labels {
			if prev, dup := keys[LabelKey(l)]; dup {
				return fmt.Errorf("datasets: spec %q: task %q lists label %q twice (as %q and %q: labels match by value, see LabelKey)",
					s.Name, t.Name, l, prev, l)
			}
			keys[LabelKey(l)] = l
		}
	}
	if s.Format != "" {
		if _, err := ParseFormat(s.Format); err != nil {
			return err
		}
	}
	return nil
}

// TaskIndex returns the index of the named task, or -1.
func (s Spec) TaskIndex(name string) int {
	return slices.IndexFunc(s.Tasks, func(t TaskSpec) bool { return t.Name == name })
}

// Load reads every row of the dataset (streaming each file by record batch) into memory as Examples,
// checking each: every named column present and of a usable type; task known; label in its task's
// vocabulary (or numeric for regression); no null text; every task with at least one example. Errors name
// the file, row and column. validation and test are the fractions of the hash split used when the spec has
// no split column.
func Load(spec Spec, opts ReadOptions, validation, test float64) (*Set, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec.defaults()
	if spec.Format != "" {
		opts.Format, _ = ParseFormat(spec.Format)
	}
	set := &Set{Spec: spec}
	sources := map[string]int{} // path → task index, or -1 for the shared path
	var order []string
	for i, t := range spec.Tasks {
		if t.Path != "" {
			if _, dup := sources[t.Path]; dup {
				return nil, fmt.Errorf("datasets: spec %q: path %s is given twice", spec.Name, t.Path)
			}
			sources[t.Path] = i
			order = append(order, t.Path)
		}
	}
	if spec.Path != "" {
		sources[spec.Path] = -1
		order = append([]string{spec.Path}, order...)
	}
	for _, path := range order {
		task := sources[path]
		cols := []string{spec.TextColumn, spec.LabelColumn}
		needPair, needChoices := false, false
		if task < 0 {
			cols = append(cols, spec.TaskColumn)
			for _, t := range spec.Tasks {
				needPair = needPair || (t.Pair && t.Path == "")
				needChoices = needChoices || (t.MultipleChoice && t.Path == "")
			}
		} else {
			needPair, needChoices = spec.Tasks[task].Pair, spec.Tasks[task].MultipleChoice
		}
		if needPair {
			cols = append(cols, spec.PairColumn)
		}
		if needChoices {
			cols = append(cols, spec.ChoicesColumn)
		}
		if spec.SplitColumn != "" {
			cols = append(cols, spec.SplitColumn)
		}
		o := opts
		o.Columns = cols
		err := Scan(path, o, func(file string, first int64, rec arrow.RecordBatch) error {
			return set.addRows(file, first, rec, task, needPair, needChoices, validation, test)
		})
		if err != nil {
			return nil, err
		}
	}
	counts := make([]int, len(spec.Tasks))
	for _, e := range set.Examples {
		counts[e.Task]++
	}
	for i, n := range counts {
		if n == 0 {
			where := spec.Tasks[i].Path
			if where == "" {
				where = spec.Path
			}
			return nil, fmt.Errorf("%w: %s: task %q has no examples", ErrData, where, spec.Tasks[i].Name)
		}
	}
	return set, nil
}

// column reads the values of one column of a record batch as strings or numbers.
type column struct {
	name string
	arr  arrow.Array
}

func getColumn(file string, rec arrow.RecordBatch, name string) (column, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return column{}, fmt.Errorf("%w: %s: missing column %q", ErrData, file, name)
	}
	return column{name, rec.Column(idx[0])}, nil
}

// view returns row i of a string column (utf8, large utf8, string view, dictionary of them) as a view into
// the Arrow buffers, valid only while the batch is; ok is false for other column types.
func (c column) view(i int) (s string, ok bool) {
	switch a := c.arr.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.StringView:
		return a.Value(i), true
	case *array.Dictionary:
		switch d := a.Dictionary().(type) {
		case *array.String:
			return d.Value(a.GetValueIndex(i)), true
		case *array.LargeString:
			return d.Value(a.GetValueIndex(i)), true
		}
	}
	return "", false
}

// text returns row i of a string column as a string of its own — a copy, not a view into the Arrow
// buffers, which the allocator may free or reuse once the batch is released — and checks it is valid
// UTF-8: the one rule for every format.
func (c column) text(file string, row int64, i int) (string, error) {
	if c.arr.IsNull(i) {
		return "", fmt.Errorf("%w: %s: row %d: column %q is null", ErrData, file, row, c.name)
	}
	v, ok := c.view(i)
	if !ok {
		return "", fmt.Errorf("%w: %s: column %q is %s, expected a string column", ErrData, file, c.name, c.arr.DataType())
	}
	if at := invalidAt(v); at >= 0 {
		return "", fmt.Errorf("%w: %s: row %d: column %q is not valid UTF-8 (byte %d of the value: %q)",
			ErrData, file, row, c.name, at, v[max(0, at-8):min(len(v), at+4)])
	}
	return strings.Clone(v), nil
}

// value returns row i in its canonical string form: strings as they are, integers in decimal, booleans as
// true/false, floats in Go's shortest form. Used for task names and labels.
func (c column) value(file string, row int64, i int) (string, error) {
	if c.arr.IsNull(i) {
		return "", fmt.Errorf("%w: %s: row %d: column %q is null", ErrData, file, row, c.name)
	}
	switch a := c.arr.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), nil
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32), nil
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64), nil
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i)), nil
	}
	if _, ok := c.view(i); !ok {
		return "", fmt.Errorf("%w: %s: column %q is %s, expected strings, integers, floats or booleans", ErrData, file, c.name, c.arr.DataType())
	}
	return c.text(file, row, i)
}

func (set *Set) addRows(file string, first int64, rec arrow.RecordBatch, fixedTask int, needPair, needChoices bool, validation, test float64) error {
	spec := set.Spec
	textCol, err := getColumn(file, rec, spec.TextColumn)
	if err != nil {
		return err
	}
	labelCol, err := getColumn(file, rec, spec.LabelColumn)
	if err != nil {
		return err
	}
	var taskCol, pairCol, splitCol, choicesCol column
	if fixedTask < 0 {
		if taskCol, err = getColumn(file, rec, spec.TaskColumn); err != nil {
			return err
		}
	}
	if needPair {
		if pairCol, err = getColumn(file, rec, spec.PairColumn); err != nil {
			return err
		}
	}
	if spec.SplitColumn != "" {
		if splitCol, err = getColumn(file, rec, spec.SplitColumn); err != nil {
			return err
		}
	}
	if needChoices {
		if choicesCol, err = getColumn(file, rec, spec.ChoicesColumn); err != nil {
			return err
		}
	}
	for i := range int(rec.NumRows()) {
		row := first + int64(i) + 1
		var e Example
		task := fixedTask
		if task < 0 {
			name, err := taskCol.value(file, row, i)
			if err != nil {
				return err
			}
			if task = spec.TaskIndex(name); task < 0 || spec.Tasks[task].Path != "" {
				var known []string
				for _, t := range spec.Tasks {
					if t.Path == "" {
						known = append(known, t.Name)
					}
				}
				return fmt.Errorf("%w: %s: row %d: column %q: unknown task %q (tasks of this file: %s)",
					ErrData, file, row, spec.TaskColumn, name, strings.Join(known, ", "))
			}
		}
		ts := spec.Tasks[task]
		e.Task = int32(task)
		if e.Text, err = textCol.text(file, row, i); err != nil {
			return err
		}
		if ts.Pair {
			if e.Pair, err = pairCol.text(file, row, i); err != nil {
				return err
			}
		}
		if !spec.AllowEmptyText {
			if err := notEmpty(file, row, spec.TextColumn, e.Text); err != nil {
				return err
			}
			if ts.Pair {
				if err := notEmpty(file, row, spec.PairColumn, e.Pair); err != nil {
					return err
				}
			}
		}
		label, err := labelCol.value(file, row, i)
		if err != nil {
			return err
		}
		switch {
		case ts.MultipleChoice:
			if e.Choices, err = choicesCol.choices(file, row, i); err != nil {
				return err
			}
			if !spec.AllowEmptyText && slices.Contains(e.Choices, "") {
				return fmt.Errorf("%w: %s: row %d: column %q: choice %d is the empty text (set allow_empty_text in the spec to keep empty texts)",
					ErrData, file, row, spec.ChoicesColumn, slices.Index(e.Choices, ""))
			}
			if len(e.Choices) < 2 {
				return fmt.Errorf("%w: %s: row %d: column %q: multiple-choice task %q needs at least 2 choices, found %d",
					ErrData, file, row, spec.ChoicesColumn, ts.Name, len(e.Choices))
			}
			k, isNum := number(label)
			if !isNum || k != math.Trunc(k) || k < 0 || int(k) >= len(e.Choices) {
				return fmt.Errorf("%w: %s: row %d: column %q: label %q of multiple-choice task %q must be the index of the right choice, 0 to %d",
					ErrData, file, row, spec.LabelColumn, label, ts.Name, len(e.Choices)-1)
			}
			e.Label = int32(k)
		case ts.Regression:
			v, perr := strconv.ParseFloat(strings.TrimSpace(label), 64)
			if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: %s: row %d: column %q: regression task %q needs a finite number, found %q",
					ErrData, file, row, spec.LabelColumn, ts.Name, label)
			}
			e.Value = float32(v)
		default:
			k, ok := set.labelIndex(task)[LabelKey(label)]
			if !ok {
				return fmt.Errorf("%w: %s: row %d: column %q: label %q is not in task %q's vocabulary %q",
					ErrData, file, row, spec.LabelColumn, label, ts.Name, ts.Labels)
			}
			e.Label = k
		}
		if spec.SplitColumn != "" {
			s, err := splitCol.value(file, row, i)
			if err != nil {
				return err
			}
			if e.Split, err = ParseSplit(s); err != nil {
				return fmt.Errorf("%w: %s: row %d: column %q: %w", ErrData, file, row, spec.SplitColumn, err)
			}
		} else {
			key := ts.Name + "\x00" + e.Text + "\x00" + e.Pair
			if e.Choices != nil {
				key += "\x00" + strings.Join(e.Choices, "\x00")
			}
			e.Split = SplitOf(key, validation, test)
		}
		set.Examples = append(set.Examples, e)
	}
	return nil
}

// notEmpty rejects an empty text unless the spec allows them (Spec.AllowEmptyText).
func notEmpty(file string, row int64, col, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s: row %d: column %q is the empty text (set allow_empty_text in the spec to keep empty texts)", ErrData, file, row, col)
	}
	return nil
}

// choices returns row i as a list of strings: a list column of strings, or a string holding a JSON array.
func (c column) choices(file string, row int64, i int) ([]string, error) {
	if c.arr.IsNull(i) {
		return nil, fmt.Errorf("%w: %s: row %d: column %q is null", ErrData, file, row, c.name)
	}
	var values arrow.Array
	var lo, hi int64
	switch a := c.arr.(type) {
	case *array.List:
		values = a.ListValues()
		lo, hi = a.ValueOffsets(i)
	case *array.LargeList:
		values = a.ListValues()
		lo, hi = a.ValueOffsets(i)
	default:
		s, err := c.text(file, row, i)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: column %q is %s, expected a list of strings or a JSON array in a string", ErrData, file, c.name, c.arr.DataType())
		}
		var out []string
		if s == "" {
			return nil, nil // an empty CSV field: no choices
		}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("%w: %s: row %d: column %q: expected a JSON array of strings, found %.60q", ErrData, file, row, c.name, s)
		}
		return out, nil
	}
	inner := column{c.name, values}
	out := make([]string, 0, hi-lo)
	for j := lo; j < hi; j++ {
		s, err := inner.text(file, row, int(j))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// MaxChoices is the most choices of any multiple-choice example (0 without multiple-choice tasks).
func (set *Set) MaxChoices() int {
	k := 0
	for _, e := range set.Examples {
		k = max(k, len(e.Choices))
	}
	return k
}

// Kind names a task's kind: classification, regression, text-pair classification, multiple choice (with a
// question when Pair).
func (t TaskSpec) Kind() string {
	switch {
	case t.MultipleChoice && t.Pair:
		return "multiple choice with a question"
	case t.MultipleChoice:
		return "multiple choice"
	case t.Regression && t.Pair:
		return "text-pair regression"
	case t.Regression:
		return "regression"
	case t.Pair:
		return "text-pair classification"
	}
	return "classification"
}

// Counts returns the number of examples per task and split: counts[task][split].
func (set *Set) Counts() [][3]int {
	out := make([][3]int, len(set.Spec.Tasks))
	for _, e := range set.Examples {
		out[e.Task][e.Split]++
	}
	return out
}

// Select returns the indices of the examples of the given split, grouped by task: idx[task] lists them in
// dataset order.
func (set *Set) Select(split Split) [][]int {
	out := make([][]int, len(set.Spec.Tasks))
	for i, e := range set.Examples {
		if e.Split == split {
			out[e.Task] = append(out[e.Task], i)
		}
	}
	return out
}

// MajorityAnswer is, per task, the accuracy on split of answering without reading the input (MajorityPicks):
// the bar a model must clear to have learned more than the answers' frequencies. NaN for a regression task and
// for a task without examples in split.
func (set *Set) MajorityAnswer(split Split) []float64 {
	picks, sel := set.MajorityPicks(split), set.Select(split)
	out := make([]float64, len(set.Spec.Tasks))
	for t := range set.Spec.Tasks {
		if len(picks[t]) == 0 {
			out[t] = math.NaN()
			continue
		}
		right := 0
		for j, i := range sel[t] {
			if picks[t][j] == set.Examples[i].Label {
				right++
			}
		}
		out[t] = float64(right) / float64(len(picks[t]))
	}
	return out
}

// MajorityPicks is, per task, the answer to each example of split (in Select's order) of a rule that does not
// read the input: a classification task answers the label most often right in the training split (ties: the
// lower class index); a multiple-choice task answers the candidate whose text is most often right in the
// training split or, when none of its candidates was ever right there or two tie, the position most often right
// there (ties: the first; past its last candidate: the last). Nil for a regression task.
func (set *Set) MajorityPicks(split Split) [][]int32 {
	out := make([][]int32, len(set.Spec.Tasks))
	train, eval := set.Select(Train), set.Select(split)
	for t, task := range set.Spec.Tasks {
		if task.Regression {
			continue
		}
		textRight, labelRight := map[string]int{}, map[int32]int{}
		for _, i := range train[t] {
			e := set.Examples[i]
			labelRight[e.Label]++
			if task.MultipleChoice {
				textRight[e.Choices[e.Label]]++
			}
		}
		var bestLabel int32
		for l, n := range labelRight {
			if n > labelRight[bestLabel] || n == labelRight[bestLabel] && l < bestLabel {
				bestLabel = l
			}
		}
		for _, i := range eval[t] {
			e := set.Examples[i]
			pick := bestLabel
			if task.MultipleChoice {
				byText, best, tie := int32(-1), 0, false
				for c, text := range e.Choices {
					switch n := textRight[text]; {
					case n > best:
						byText, best, tie = int32(c), n, false
					case n == best && n > 0:
						tie = true
					}
				}
				if pick = byText; byText < 0 || tie {
					pick = min(bestLabel, int32(len(e.Choices)-1))
				}
			}
			out[t] = append(out[t], pick)
		}
	}
	return out
}
