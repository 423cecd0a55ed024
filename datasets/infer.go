package datasets

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Default column names: what InferSpec looks for, and what a Spec uses when it names none.
const (
	DefaultTextColumn    = "text"
	DefaultPairColumn    = "pair"
	DefaultLabelColumn   = "label"
	DefaultTaskColumn    = "task"
	DefaultSplitColumn   = "split"
	DefaultChoicesColumn = "choices"
)

// MaxInferredClasses is the most distinct integer labels InferSpec takes for classes; a task with more is
// a regression task.
const MaxInferredClasses = 20

// InferSpec reads a bare data file or folder (any format Scan reads; hive-style task=NAME/ folders too)
// with the default column names and returns the spec that loads it:
//
//   - the text column "text" and the label column "label" are required;
//   - tasks are the values of the "task" column, in order of first appearance; without one, the data is
//     one task named after the file (or folder);
//   - a task whose labels are all numbers, not all integers or more than MaxInferredClasses distinct ones,
//     is a regression task; otherwise its classes are its distinct labels, numbers in numeric order,
//     booleans false before true, other text in byte order;
//   - a task is a text-pair task when a "pair" column exists and any of its rows has a non-empty pair;
//   - a task is a multiple-choice task when a "choices" column exists and its rows have choices there (the
//     label is then the index of the right choice, and a pair is the question);
//   - a "split" column (train / validation / test) gives the splits; without one, they are a stable hash.
//
// Labels are compared by value (see LabelKey): 1, 1.0 and "1" are one class. The spec is a starting point to
// edit: print it, save it, and pass it next time.
func InferSpec(path string, opts ReadOptions) (Spec, error) {
	type taskInfo struct {
		name    string
		labels  map[string]string // LabelKey → first spelling seen
		order   []string          // keys in order of first appearance
		pairs   bool
		choices bool // rows have candidate answers: multiple choice
		numeric bool // every label is a finite number
		integer bool // every label is an integer
	}
	var tasks []*taskInfo
	byName := map[string]*taskInfo{}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var hasTask, hasPair, hasSplit, hasChoices, checked bool
	err := Scan(path, opts, func(file string, first int64, rec arrow.RecordBatch) error {
		if !checked {
			if err := checkColumns(file, rec.Schema(), []string{DefaultTextColumn, DefaultLabelColumn}); err != nil {
				return err
			}
			s := rec.Schema()
			hasTask = len(s.FieldIndices(DefaultTaskColumn)) > 0
			hasPair = len(s.FieldIndices(DefaultPairColumn)) > 0
			hasSplit = len(s.FieldIndices(DefaultSplitColumn)) > 0
			hasChoices = len(s.FieldIndices(DefaultChoicesColumn)) > 0
			checked = true
		}
		var choicesCol column
		if hasChoices {
			choicesCol, _ = getColumn(file, rec, DefaultChoicesColumn)
		}
		labelCol, _ := getColumn(file, rec, DefaultLabelColumn)
		var taskCol, pairCol column
		if hasTask {
			taskCol, _ = getColumn(file, rec, DefaultTaskColumn)
		}
		if hasPair {
			pairCol, _ = getColumn(file, rec, DefaultPairColumn)
		}
		for i := range int(rec.NumRows()) {
			row := first + int64(i) + 1
			name := base
			if hasTask {
				var err error
				if name, err = taskCol.value(file, row, i); err != nil {
					return err
				}
			}
			t := byName[name]
			if t == nil {
				t = &taskInfo{name: name, labels: map[string]string{}, numeric: true, integer: true}
				byName[name] = t
				tasks = append(tasks, t)
			}
			label, err := labelCol.value(file, row, i)
			if err != nil {
				return err
			}
			key := LabelKey(label)
			if _, ok := t.labels[key]; !ok {
				t.labels[key] = label
				t.order = append(t.order, key)
				v, isNum := number(label)
				t.numeric = t.numeric && isNum
				t.integer = t.integer && isNum && v == math.Trunc(v)
			}
			if hasChoices && !t.choices && !choicesCol.arr.IsNull(i) {
				c, err := choicesCol.choices(file, row, i)
				if err != nil {
					return err
				}
				t.choices = len(c) > 0
			}
			if hasPair && !t.pairs && !pairCol.arr.IsNull(i) {
				p, err := pairCol.text(file, row, i)
				if err != nil {
					return err
				}
				t.pairs = p != ""
			}
		}
		return nil
	})
	if err != nil {
		return Spec{}, err
	}
	if len(tasks) == 0 {
		return Spec{}, fmt.Errorf("%w: %s: no rows", ErrData, path)
	}
	spec := Spec{Name: base, Path: path, TextColumn: DefaultTextColumn, LabelColumn: DefaultLabelColumn}
	if opts.Format != FormatAuto {
		spec.Format = opts.Format.String()
	}
	if hasTask {
		spec.TaskColumn = DefaultTaskColumn
	}
	if hasSplit {
		spec.SplitColumn = DefaultSplitColumn
	}
	for _, t := range tasks {
		ts := TaskSpec{Name: t.name, Pair: t.pairs}
		if t.pairs {
			spec.PairColumn = DefaultPairColumn
		}
		switch {
		case t.choices:
			ts.MultipleChoice = true
			spec.ChoicesColumn = DefaultChoicesColumn
		case t.numeric && (!t.integer || len(t.order) > MaxInferredClasses):
			ts.Regression = true
		default:
			keys := slices.Clone(t.order)
			slices.SortFunc(keys, compareLabelKeys)
			for _, k := range keys {
				ts.Labels = append(ts.Labels, t.labels[k])
			}
			if len(ts.Labels) < 2 {
				return Spec{}, fmt.Errorf("%w: %s: task %q has one label only (%q): a classification task needs two, a regression task numbers that are not all integers",
					ErrData, path, t.name, ts.Labels)
			}
		}
		spec.Tasks = append(spec.Tasks, ts)
	}
	if !hasTask && len(spec.Tasks) == 1 {
		// One task and no task column: the file is that task's own.
		spec.Tasks[0].Path, spec.Path = path, ""
	}
	return spec, spec.Validate()
}

// number parses a finite number.
func number(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// LabelKey is the value a label is compared by. Labels are matched by value, not by spelling:
//
//   - a finite number in any spelling strconv.ParseFloat reads (1, 1.0, 1e0, "1.00") is that number, so a
//     DOUBLE column holding 1.0 matches the class "1";
//   - true and false in any letter case ("True", "TRUE", a BOOLEAN column) are the booleans;
//   - anything else is its exact text (case and spaces count).
//
// A spec whose task lists two labels with one key (say "1" and "1.0") is rejected.
func LabelKey(label string) string {
	if v, ok := number(label); ok {
		if v == 0 {
			v = 0 // -0 is 0
		}
		return "n:" + strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch strings.ToLower(label) {
	case "true", "false":
		return "b:" + strings.ToLower(label)
	}
	return "s:" + label
}

// compareLabelKeys orders numbers numerically, then booleans (false first), then text.
func compareLabelKeys(a, b string) int {
	if a[0] != b[0] {
		return strings.Compare(string(a[0]), string(b[0])) // b < n < s
	}
	if a[0] == 'n' {
		x, _ := strconv.ParseFloat(a[2:], 64)
		y, _ := strconv.ParseFloat(b[2:], 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// Input is one row to predict: its task and text (and second text of a pair).
type Input struct {
	File    string // the file it came from
	Row     int64  // 1-based data row in that file
	Task    string // from the task column, or the task every row is for
	Text    string
	Pair    string
	Choices []string // the candidates of a multiple-choice input
}

// ReadInputs reads rows to predict from path (any format Scan reads): the text column, and the pair, task and
// choices columns when the file has them (default column names). task, when not empty, is the task of rows
// without a task column; a file with neither is an error. Labels, if present, are not read.
func ReadInputs(path string, opts ReadOptions, task string) ([]Input, error) {
	var out []Input
	err := Scan(path, opts, func(file string, first int64, rec arrow.RecordBatch) error {
		textCol, err := getColumn(file, rec, DefaultTextColumn)
		if err != nil {
			return err
		}
		s := rec.Schema()
		var taskCol, pairCol *column
		if len(s.FieldIndices(DefaultTaskColumn)) > 0 {
			c, _ := getColumn(file, rec, DefaultTaskColumn)
			taskCol = &c
		} else if task == "" {
			return fmt.Errorf("%w: %s: no column %q and no task given: say which task's head predicts", ErrData, file, DefaultTaskColumn)
		}
		if len(s.FieldIndices(DefaultPairColumn)) > 0 {
			c, _ := getColumn(file, rec, DefaultPairColumn)
			pairCol = &c
		}
		var choicesCol *column
		if len(s.FieldIndices(DefaultChoicesColumn)) > 0 {
			c, _ := getColumn(file, rec, DefaultChoicesColumn)
			choicesCol = &c
		}
		for i := range int(rec.NumRows()) {
			in := Input{File: file, Row: first + int64(i) + 1, Task: task}
			if in.Text, err = textCol.text(file, in.Row, i); err != nil {
				return err
			}
			if taskCol != nil {
				if in.Task, err = taskCol.value(file, in.Row, i); err != nil {
					return err
				}
			}
			if pairCol != nil && !pairCol.arr.IsNull(i) {
				if in.Pair, err = pairCol.text(file, in.Row, i); err != nil {
					return err
				}
			}
			if choicesCol != nil && !choicesCol.arr.IsNull(i) {
				if in.Choices, err = choicesCol.choices(file, in.Row, i); err != nil {
					return err
				}
			}
			out = append(out, in)
		}
		return nil
	})
	return out, err
}
