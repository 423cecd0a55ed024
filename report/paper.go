package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/go-echarts/go-echarts/v2/render"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/plots"
)

// Baseline is a row of scores per task that no training produced (e.g. the majority answer), shown under the
// methods: Scores on the table's scale (each task's score: accuracy for multiple choice, macro-F1 for
// classification), Levels the accuracy a run must beat to be beyond it (LearnedTable) — the same number for
// multiple choice, not for classification. A task without either has none.
type Baseline struct {
	Name   string
	Scores map[string]float64 // by task
	Levels map[string]float64 // by task: accuracy
}

// MainTable is the paper's main table from a sweep's results, its title followed by the split the scores
// are on (test when every run was tested, Result.Test): a row per configuration (Summarize's groups, in the
// order given) with its trainable parameters, seeds, and mean ± std over seeds of the average score and of
// every task's final score; then, when every task reports its chance level (multiple choice), a chance row;
// then a row per baseline that has a score for some task ("—" for the others, and then no average).
func MainTable(title string, results []*experiment.Result, baselines ...Baseline) plots.Table {
	rows, tasks := Summarize(results)
	t := plots.Table{Title: title + ", " + splitNote(results), Header: append([]string{"method", "trainable params", "seeds", "average"}, tasks...)}
	for _, r := range rows {
		row := []string{r.Config, fmt.Sprint(r.Params), fmt.Sprint(r.Seeds), MeanStd(r.Score, r.Seeds)}
		for _, task := range tasks {
			row = append(row, MeanStd(r.TaskScores[task], r.Seeds))
		}
		t.Rows = append(t.Rows, row)
	}
	for _, b := range references(results, tasks, baselines) {
		row := []string{b.Name, "", "", "—"} // an average over some of the tasks is not the methods' average
		have := 0
		for _, task := range tasks {
			v, ok := b.Scores[task]
			if !ok {
				row = append(row, "—")
				continue
			}
			row = append(row, fmt.Sprintf("%.4f", v))
			have++
		}
		if have == 0 {
			continue
		}
		if avg, ok := b.average(tasks); ok {
			row[3] = fmt.Sprintf("%.4f", avg)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// references is the rows MainTable gives under the methods: chance, when every task reports its chance level
// (multiple choice), then the baselines.
func references(results []*experiment.Result, tasks []string, baselines []Baseline) []Baseline {
	if chance, ok := chanceLevels(results, tasks); ok {
		return append([]Baseline{{Name: "chance", Scores: chance}}, baselines...)
	}
	return baselines
}

// average is b's score averaged over tasks, when it has a score for every one.
func (b Baseline) average(tasks []string) (float64, bool) {
	var sum float64
	for _, task := range tasks {
		v, ok := b.Scores[task]
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum / float64(len(tasks)), len(tasks) > 0
}

// averageLevels is the average score of chance and of each baseline (MainTable's average column) as chart
// levels; a baseline without a score for every task has none.
func averageLevels(results []*experiment.Result, tasks []string, baselines []Baseline) []plots.Level {
	var levels []plots.Level
	for _, b := range references(results, tasks, baselines) {
		if avg, ok := b.average(tasks); ok {
			levels = append(levels, plots.Level{Name: b.Name, Value: avg})
		}
	}
	return levels
}

// splitNote names the split of results' final evaluations (Result.Final) for a table's title.
func splitNote(results []*experiment.Result) string {
	var tested, untested int
	for _, r := range results {
		switch {
		case r == nil:
		case r.Test != nil:
			tested++
		default:
			untested++
		}
	}
	switch {
	case untested == 0:
		return "test split"
	case tested == 0:
		return "validation split (last evaluation)"
	}
	return fmt.Sprintf("test split (%s) and validation split (%s not tested)", counted(tested, "run"), counted(untested, "run"))
}

// chanceLevels are the tasks' chance levels as their final evaluations report them ("chance" metric).
func chanceLevels(results []*experiment.Result, tasks []string) (map[string]float64, bool) {
	out := map[string]float64{}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, m := range r.Final().Tasks {
			if c, ok := m.Metrics["chance"]; ok {
				out[m.Task] = c
			}
		}
	}
	for _, t := range tasks {
		if _, ok := out[t]; !ok {
			return nil, false
		}
	}
	return out, len(tasks) > 0
}

// CompareTo compares every configuration of results with the one named ref (a Summarize name, such as
// "mtl-lora r=8 lambda=full", or some of its words — a method, "lambda=diagonal" — when they name one
// configuration) by Compare, pairing runs by seed: once over
// (seed, task) pairs of final task scores, once over seeds' average scores. The second is the stricter test
// (tasks are not independent draws), and with 3 seeds its sign-flip test cannot go below p = 0.25. With one seed
// so far, the per-seed comparison is the one difference, untested.
func CompareTo(results []*experiment.Result, ref string) (perTask, perSeed []Comparison, err error) {
	rows, tasks := Summarize(results)
	ri := -1
	for i, r := range rows {
		if names(r.Config, ref) {
			if ri >= 0 {
				return nil, nil, fmt.Errorf("report: %q names configurations %q and %q: name one", ref, rows[ri].Config, r.Config)
			}
			ri = i
		}
	}
	if ri < 0 {
		return nil, nil, fmt.Errorf("report: no configuration %q among the results", ref)
	}
	bySeed := func(s Summary) map[int64]*experiment.Result {
		m := map[int64]*experiment.Result{}
		for _, r := range s.Results {
			m[r.Run.Config.Seed] = r
		}
		return m
	}
	refRuns := bySeed(rows[ri])
	for i, row := range rows {
		if i == ri {
			continue
		}
		var a, b, sa, sb []float64
		other := bySeed(row)
		var seeds []int64
		for s := range other {
			if _, ok := refRuns[s]; ok {
				seeds = append(seeds, s)
			}
		}
		sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
		for _, s := range seeds {
			fa, fb := taskScores(refRuns[s]), taskScores(other[s])
			for _, t := range tasks {
				va, okA := fa[t]
				vb, okB := fb[t]
				if okA && okB {
					a, b = append(a, va), append(b, vb)
				}
			}
			sa, sb = append(sa, refRuns[s].Final().Score), append(sb, other[s].Final().Score)
		}
		ct, err := compareOrNot(rows[ri].Config, row.Config, a, b)
		if err != nil {
			return nil, nil, err
		}
		cs, err := compareOrNot(rows[ri].Config, row.Config, sa, sb)
		if err != nil {
			return nil, nil, err
		}
		perTask, perSeed = append(perTask, ct), append(perSeed, cs)
	}
	return perTask, perSeed, nil
}

// names says whether every word of ref is a word of the configuration name config.
func names(config, ref string) bool {
	words := strings.Fields(config)
	for _, w := range strings.Fields(ref) {
		if !slices.Contains(words, w) {
			return false
		}
	}
	return ref != ""
}

// compareOrNot is Compare, or with fewer than 2 pairs (one seed so far) the difference without tests (NaN
// p-values, shown as "—").
func compareOrNot(nameA, nameB string, a, b []float64) (Comparison, error) {
	if len(a) >= 2 || len(a) != len(b) {
		return Compare(nameA, nameB, a, b)
	}
	c := Comparison{A: nameA, B: nameB, Pairs: len(a), StdDiff: math.NaN(), T: math.NaN(), PT: math.NaN(), PPermutation: math.NaN()}
	if len(a) == 1 {
		c.MeanDiff = b[0] - a[0]
		switch {
		case c.MeanDiff > 0:
			c.Wins = 1
		case c.MeanDiff < 0:
			c.Losses = 1
		default:
			c.Ties = 1
		}
	}
	return c, nil
}

func taskScores(r *experiment.Result) map[string]float64 {
	out := map[string]float64{}
	for _, t := range r.Final().Tasks {
		out[t.Task] = t.Score
	}
	return out
}

// ComparisonTable shows CompareTo's comparisons: per configuration, the mean difference from the reference
// with its spread, wins and losses, and both tests' p-values, over (seed, task) pairs and over seeds — each
// p-value followed by its Holm adjustment over the table's comparisons (HolmAdjust, per column): with several
// configurations compared with one reference, the adjusted p is the one to read against 0.05.
func ComparisonTable(title string, perTask, perSeed []Comparison) plots.Table {
	t := plots.Table{Title: title + " (p-values: as tested, then Holm-adjusted over the table's comparisons)",
		Header: []string{"configuration", "reference", "configuration − reference (seed × task)", "wins / losses / ties",
			"paired t p", "sign-flip p", "configuration − reference (seeds' averages)", "paired t p", "sign-flip p"}}
	column := func(cs []Comparison, p func(Comparison) float64) []string {
		raw := make([]float64, len(cs))
		for i, c := range cs {
			raw[i] = p(c)
		}
		out := make([]string, len(cs))
		for i, adj := range HolmAdjust(raw) {
			out[i] = pValue(raw[i])
			if !math.IsNaN(adj) && len(cs) > 1 {
				out[i] += " (" + pValue(adj) + ")"
			}
		}
		return out
	}
	pt := func(c Comparison) float64 { return c.PT }
	pp := func(c Comparison) float64 { return c.PPermutation }
	taskT, taskP, seedT, seedP := column(perTask, pt), column(perTask, pp), column(perSeed, pt), column(perSeed, pp)
	for i, c := range perTask {
		t.Rows = append(t.Rows, []string{c.B, c.A, difference(c, "pair"), fmt.Sprintf("%d / %d / %d", c.Wins, c.Losses, c.Ties),
			taskT[i], taskP[i], difference(perSeed[i], "seed"), seedT[i], seedP[i]})
	}
	return t
}

// difference writes a comparison's mean difference, its spread when there is one, and its count of unit.
func difference(c Comparison, unit string) string {
	if math.IsNaN(c.StdDiff) {
		return fmt.Sprintf("%+.4f (%s)", c.MeanDiff, counted(c.Pairs, unit))
	}
	return fmt.Sprintf("%+.4f ± %.4f (%s)", c.MeanDiff, c.StdDiff, counted(c.Pairs, unit))
}

// counted is "1 run", "3 runs".
func counted(n int, unit string) string {
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

func pValue(p float64) string {
	if math.IsNaN(p) {
		return "—"
	}
	return fmt.Sprintf("%.3g", p)
}

// TaskCurves are the learning curves of a sweep, one chart per task: each configuration's score over
// training (mean over seeds, dashed ± one standard deviation) against the task's chance level when it has one.
func TaskCurves(results []*experiment.Result) []render.Renderer {
	rows, tasks := Summarize(results)
	var charts []render.Renderer
	chance, hasChance := chanceLevels(results, tasks)
	for _, task := range tasks {
		steps := map[int]bool{}
		per := make([]map[int][]float64, len(rows))
		for i, row := range rows {
			per[i] = map[int][]float64{}
			for _, r := range row.Results {
				for _, e := range r.Fit.Evals {
					for _, m := range e.Tasks {
						if m.Task == task {
							steps[e.Step] = true
							per[i][e.Step] = append(per[i][e.Step], m.Score)
						}
					}
				}
			}
		}
		var xs []int
		for s := range steps {
			xs = append(xs, s)
		}
		sort.Ints(xs)
		var series []plots.Series
		for i, row := range rows {
			s := plots.Series{Name: row.Config}
			for _, x := range xs {
				ms := meanStd(per[i][x])
				s.Y, s.Std = append(s.Y, ms[0]), append(s.Std, ms[1])
			}
			if row.Seeds < 2 {
				s.Std = nil
			}
			if hasChance && i == 0 {
				c := chance[task]
				s.Chance = &c
			}
			series = append(series, s)
		}
		read := "read: whether each method learns the task beyond chance, and whether it is still rising at the end"
		if !hasChance {
			read = "read: how each method learns the task, and whether it is still rising at the end"
		}
		charts = append(charts, plots.Lines("Learning curve — "+task, read, "step", "validation score", xs, series))
	}
	return charts
}

// MainTablePage is a paper's main-table figure from a sweep's results: the average score per configuration
// (mean ± std over seeds), each task's learning curves against its chance level, the table (MainTable), the
// runs that learned each task beyond chance and the baselines (LearnedTable, p < 0.05), and every
// configuration compared with ref (CompareTo; left out when ref is empty).
func MainTablePage(title, intro string, results []*experiment.Result, ref string, baselines ...Baseline) (plots.Page, error) {
	rows, tasks := Summarize(results)
	var bars []plots.MeanStd
	for _, r := range rows {
		bars = append(bars, plots.MeanStd{Name: fmt.Sprintf("%s (%d params)", r.Config, r.Params), Mean: r.Score[0], Std: r.Score[1]})
	}
	page := plots.Page{Title: title, Intro: intro,
		Charts: append([]render.Renderer{plots.Ablation("Average score per method", "average task score", bars, averageLevels(results, tasks, baselines)...)}, TaskCurves(results)...),
		Tables: []plots.Table{MainTable("Final scores (mean ± std over seeds)", results, baselines...)},
		Notes: []string{"Score: accuracy for multiple-choice tasks (chance: the mean of 1/choices), macro-F1 for classification, Pearson for regression. " +
			"Test split: each run's best weights (chosen on the validation split) on every test example; validation split: the run's last evaluation. " +
			"Learning curves: validation."}}
	page.Notes = append(page.Notes, runTime(results))
	addLearned(&page, results, baselines)
	return page, addComparison(&page, results, ref)
}

// AblationPage is an ablation figure: the average score of each value of the varied hyperparameter (mean ±
// std over seeds), the table of every task's score with the baselines, the runs that learned each task
// beyond chance and the baselines (LearnedTable, p < 0.05), and every variant compared with ref, the
// reference value (CompareTo; left out when ref is empty). With one seed a variant's comparison pairs its
// tasks' scores with the reference's, which a page note says cannot tell an effect from seed-to-seed noise.
func AblationPage(title, intro string, results []*experiment.Result, ref string, baselines ...Baseline) (plots.Page, error) {
	rows, tasks := Summarize(results)
	var bars []plots.MeanStd
	oneSeed := false
	for _, r := range rows {
		bars = append(bars, plots.MeanStd{Name: r.Config, Mean: r.Score[0], Std: r.Score[1]})
		oneSeed = oneSeed || r.Seeds < 2
	}
	page := plots.Page{Title: title, Intro: intro, Charts: []render.Renderer{plots.Ablation("Average score per variant", "average task score", bars, averageLevels(results, tasks, baselines)...)},
		Tables: []plots.Table{MainTable(title+" (mean ± std over seeds)", results, baselines...)}, Notes: []string{runTime(results)}}
	addLearned(&page, results, baselines)
	if err := addComparison(&page, results, ref); err != nil || ref == "" {
		return page, err
	}
	if oneSeed {
		page.Notes = append(page.Notes, "One seed: a comparison pairs the variants' task scores in one run each, so its p-values ask whether the "+
			"tasks agree on a difference, not whether another seed would give it (the spread of a configuration over seeds is that noise).")
	}
	return page, nil
}

// runTime says how many runs a figure shows and how long they took together (each run's own wall-clock time
// and its test evaluation's, as its result records them).
func runTime(results []*experiment.Result) string {
	var s float64
	n := 0
	for _, r := range results {
		if r != nil {
			s += r.Seconds + r.TestSeconds
			n++
		}
	}
	total := fmt.Sprintf("%.1f hours", s/3600)
	if s < 3600 {
		total = fmt.Sprintf("%.1f minutes", s/60)
	}
	return fmt.Sprintf("%d runs, %s of run time in all (%.1f minutes a run on average).", n, total, s/60/float64(max(n, 1)))
}

// addComparison adds ComparisonTable of every configuration of results against ref (CompareTo; some words of a
// configuration's name are enough, the table names it in full); nothing when ref is empty.
func addComparison(page *plots.Page, results []*experiment.Result, ref string) error {
	if ref == "" {
		return nil
	}
	perTask, perSeed, err := CompareTo(results, ref)
	if err != nil {
		return err
	}
	if len(perTask) > 0 {
		ref = perTask[0].A
	}
	page.Tables = append(page.Tables, ComparisonTable("Paired comparison with "+ref, perTask, perSeed))
	return nil
}

// addLearned adds LearnedTable (p < 0.05) to page or, when runs were evaluated before examples were counted, a
// note saying why it is missing.
func addLearned(page *plots.Page, results []*experiment.Result, baselines []Baseline) {
	if learned, err := LearnedTable("Tasks learned", results, 0.05, baselines...); err != nil {
		page.Notes = append(page.Notes, "Tasks learned: not shown, "+err.Error())
	} else {
		page.Tables = append(page.Tables, learned)
	}
}
