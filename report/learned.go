package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/trainer"
)

// BinomialAbove is the one-sided p-value of k or more successes in n independent trials of probability p,
// P(X ≥ k): the exact binomial test of "better than p" (SciPy's binomtest(k, n, p, alternative="greater")).
func BinomialAbove(k, n int, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	lgn, _ := math.Lgamma(float64(n + 1))
	var sum float64
	for i := k; i <= n; i++ {
		a, _ := math.Lgamma(float64(i + 1))
		b, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgn - a - b + float64(i)*lp + float64(n-i)*lq)
	}
	return min(sum, 1)
}

// CorrelationAbove is the one-sided p-value of a Pearson correlation r over n pairs under no correlation,
// P(R ≥ r) for normal data: Student's t = r·√((n−2)/(1−r²)) with n − 2 degrees of freedom (SciPy's
// pearsonr(x, y, alternative="greater")). 1 with fewer than 3 pairs.
func CorrelationAbove(r float64, n int) float64 {
	switch {
	case n < 3 || math.IsNaN(r):
		return 1
	case r >= 1:
		return 0
	case r <= -1:
		return 1
	}
	df := float64(n - 2)
	t := r * math.Sqrt(df/(1-r*r))
	if half := studentTwoSided(t, df) / 2; t >= 0 {
		return half
	} else {
		return 1 - half
	}
}

// LearnedTable says, per configuration (Summarize's groups, in the order given) and task, in how many of its
// runs the task was learned, by its final evaluation, beyond each level at significance alpha: first chance —
// for a multiple-choice task its chance level, by BinomialAbove on its accuracy (k right of the n examples
// scored); for a regression task no correlation, by CorrelationAbove on its Pearson r; a classification task
// has none ("—": the majority answer, at least 1/classes, is its bar) — then each baseline with a level for
// the task (Baseline.Levels, an accuracy: the majority answer on the same split, say, taken as the level, not
// as an estimate with an error of its own), by BinomialAbove. A cell reads "3/3 · 1/3": runs beyond chance ·
// runs beyond the first baseline, and so on. Evaluations that did not record how many examples they scored
// are errors naming the run.
func LearnedTable(title string, results []*experiment.Result, alpha float64, baselines ...Baseline) (plots.Table, error) {
	rows, tasks := Summarize(results)
	levels := []string{"chance"}
	for _, b := range baselines {
		levels = append(levels, b.Name)
	}
	t := plots.Table{Header: append([]string{"method", "seeds"}, tasks...)}
	var classified, regression bool // the kinds of test the table used, for its title
	for _, row := range rows {
		cells := []string{row.Config, fmt.Sprint(row.Seeds)}
		for _, task := range tasks {
			beyond := make([]int, len(levels))
			for _, r := range row.Results {
				var m *trainer.TaskMetrics
				for _, tm := range r.Final().Tasks {
					if tm.Task == task {
						m = &tm
					}
				}
				if m == nil {
					return t, fmt.Errorf("report: run %s has no evaluation of task %s", r.ID, task)
				}
				if m.Examples == 0 {
					return t, fmt.Errorf("report: run %s, task %s: its final evaluation has no example count (evaluated before examples were counted)", r.ID, task)
				}
				acc, ok := m.Metrics["accuracy"]
				classified, regression = classified || ok, regression || !ok
				if !ok { // regression: beyond no correlation; no baseline has a level
					for i := 1; i < len(beyond); i++ {
						beyond[i] = -1
					}
					if CorrelationAbove(m.Metrics["pearson"], m.Examples) < alpha { // no pearson: a constant prediction
						beyond[0]++
					}
					continue
				}
				k := int(math.Round(acc * float64(m.Examples)))
				for i := range levels {
					p, ok := m.Metrics["chance"]
					if i > 0 {
						p, ok = baselines[i-1].Levels[task]
					}
					if !ok || math.IsNaN(p) {
						beyond[i] = -1
					} else if beyond[i] >= 0 && BinomialAbove(k, m.Examples, p) < alpha {
						beyond[i]++
					}
				}
			}
			var parts []string
			for _, b := range beyond {
				if b < 0 {
					parts = append(parts, "—")
				} else {
					parts = append(parts, fmt.Sprintf("%d/%d", b, len(row.Results)))
				}
			}
			cells = append(cells, strings.Join(parts, " · "))
		}
		t.Rows = append(t.Rows, cells)
	}
	var tests []string
	if classified {
		tests = append(tests, "accuracy by a one-sided exact binomial test")
	}
	if regression {
		tests = append(tests, "regression: Pearson r > 0 by a one-sided t-test")
	}
	t.Title = fmt.Sprintf("%s, %s: runs beyond %s (%s; p < %g)", title, splitNote(results), strings.Join(levels, " · "), strings.Join(tests, "; "), alpha)
	return t, nil
}

// MajorityBaseline is the majority answer (experiment.MajorityEval) on split — at most evalMax examples a task
// (0: all) — for the examples a table's runs report (Result.FinalSplit): its score per task (macro-F1 for
// classification) and its accuracy as the level to beat. Regression tasks have none.
func MajorityBaseline(set *datasets.Set, split datasets.Split, evalMax int) (Baseline, error) {
	eval, err := experiment.MajorityEval(set, split, evalMax)
	if err != nil {
		return Baseline{Name: "majority answer"}, err
	}
	return baselineOf("majority answer", eval), nil
}

// baselineOf is a baseline's metrics per task: its score, and its accuracy as the level to beat (regression
// tasks have none).
func baselineOf(name string, eval []trainer.TaskMetrics) Baseline {
	b := Baseline{Name: name, Scores: map[string]float64{}, Levels: map[string]float64{}}
	for _, tm := range eval {
		b.Scores[tm.Task] = tm.Score
		if acc, ok := tm.Metrics["accuracy"]; ok {
			b.Levels[tm.Task] = acc
		}
	}
	return b
}

// MajorityOf is MajorityBaseline of the data results were trained on, on the examples they report
// (Result.FinalSplit: every test example, or the validation examples their eval_max keeps): runs on different
// data or reporting different splits or subsets are an error, and so is data without a majority answer (the
// synthetic set's regression targets).
func MajorityOf(results []*experiment.Result) (Baseline, error) {
	first, evalMax, err := reported(results, "majority answer", func(r *experiment.Result) string { return r.Run.Config.Data })
	if err != nil {
		return Baseline{}, err
	}
	src, err := experiment.OpenData(first.Run.Config.Data)
	if err != nil {
		return Baseline{}, err
	}
	if src.Synthetic() {
		return Baseline{}, fmt.Errorf("report: the synthetic set's tasks are regressions: no majority answer")
	}
	set, err := src.Load()
	if err != nil {
		return Baseline{}, err
	}
	return MajorityBaseline(set, first.FinalSplit(), evalMax)
}

// BaseModelOf is the base model of decoder runs — the checkpoint they fine-tune, without adapters
// (experiment.BaseModelEval) — scored on the examples they report as they score their answers, named
// "<model>, not fine-tuned". Runs that differ in data, model, prompts (chat, seq_len), scoring or the
// examples they report are an error, and so are encoder runs.
func BaseModelOf(env experiment.Env, results []*experiment.Result) (Baseline, error) {
	first, evalMax, err := reported(results, "base model", func(r *experiment.Result) string {
		c := r.Run.Config
		return fmt.Sprintf("data %s, model %s, chat %v, seq_len %d, scoring %s", c.Data, c.Model, c.Chat, c.SeqLen, c.Scoring)
	})
	if err != nil {
		return Baseline{}, err
	}
	eval, err := experiment.BaseModelEval(env, first.Run, first.FinalSplit(), evalMax)
	if err != nil {
		return Baseline{}, err
	}
	return baselineOf(first.Run.Config.Model+", not fine-tuned", eval), nil
}

// reported is the first of results and the examples a task they report (0: every one; Result.FinalSplit),
// when every run reports the same examples and has the same key (what a baseline of them is computed from).
func reported(results []*experiment.Result, baseline string, key func(*experiment.Result) string) (*experiment.Result, int, error) {
	var first *experiment.Result
	evalMax := func(r *experiment.Result) int {
		if r.FinalSplit() == datasets.Test {
			return 0
		}
		return r.Run.Config.EvalMax
	}
	for _, r := range results {
		switch {
		case r == nil:
		case first == nil:
			first = r
		case key(r) != key(first):
			return nil, 0, fmt.Errorf("report: runs %s and %s differ (%s; %s): no one %s", first.ID, r.ID, key(first), key(r), baseline)
		case r.FinalSplit() != first.FinalSplit():
			return nil, 0, fmt.Errorf("report: run %s reports the %s split, %s the %s split: no one %s", first.ID, first.FinalSplit(), r.ID, r.FinalSplit(), baseline)
		case evalMax(r) != evalMax(first):
			return nil, 0, fmt.Errorf("report: run %s reports at most %d validation examples a task (eval_max), %s at most %d: no one %s", first.ID, evalMax(first), r.ID, evalMax(r), baseline)
		}
	}
	if first == nil {
		return nil, 0, fmt.Errorf("report: no runs")
	}
	return first, evalMax(first), nil
}
