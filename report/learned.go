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

// LearnedTable says, per configuration (Summarize's groups, in the order given) and task, in how many of its
// runs the task was learned: its final accuracy, k right of the n examples the evaluation scored, beyond a
// level by BinomialAbove at significance alpha — the task's chance level, then each baseline that has a
// score for the task (the majority answer on the same split, say; its accuracy there is taken as the level, not
// as an estimate with an error of its own). A cell reads "3/3 · 1/3": runs beyond
// chance · runs beyond the first baseline, and so on. Evaluations that did not record how many examples
// they scored, or tasks that are not multiple choice (no chance level), are errors naming the run.
func LearnedTable(title string, results []*experiment.Result, alpha float64, baselines ...Baseline) (plots.Table, error) {
	rows, tasks := Summarize(results)
	levels := []string{"chance"}
	for _, b := range baselines {
		levels = append(levels, b.Name)
	}
	t := plots.Table{Title: fmt.Sprintf("%s, %s: runs beyond %s (one-sided exact binomial test, p < %g)", title, splitNote(results), strings.Join(levels, " · "), alpha),
		Header: append([]string{"method", "seeds"}, tasks...)}
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
				acc, okA := m.Metrics["accuracy"]
				chance, okC := m.Metrics["chance"]
				if !okA || !okC || m.Examples == 0 {
					return t, fmt.Errorf("report: run %s, task %s: its final evaluation has no accuracy, chance level or example count (multiple-choice tasks evaluated since examples were counted)", r.ID, task)
				}
				k := int(math.Round(acc * float64(m.Examples)))
				for i := range levels {
					p := chance
					if i > 0 {
						v, ok := baselines[i-1].Scores[task]
						if !ok || math.IsNaN(v) {
							beyond[i] = -1
							continue
						}
						p = v
					}
					if beyond[i] >= 0 && BinomialAbove(k, m.Examples, p) < alpha {
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
	return t, nil
}

// MajorityBaseline is the majority-answer baseline of set's tasks on split (datasets.Set's MajorityAnswer),
// for the split a table's runs report (Result.FinalSplit): tasks without one (regression) are left out.
func MajorityBaseline(set *datasets.Set, split datasets.Split) Baseline {
	b := Baseline{Name: "majority answer", Scores: map[string]float64{}}
	for t, v := range set.MajorityAnswer(split) {
		if !math.IsNaN(v) {
			b.Scores[set.Spec.Tasks[t].Name] = v
		}
	}
	return b
}
