package report

import (
	"fmt"
	"math"
	"sort"

	"github.com/mtlora/mtlora/experiment"

	"github.com/go-echarts/go-echarts/v2/render"

	"github.com/mtlora/mtlora/plots"
)

// SweepPage is the report of a set of runs (a sweep or the demo): mean score per configuration (mean ±
// std over seeds), per-task scores of each configuration, score over training per configuration, and the
// tables behind them; with baselines (MajorityOf, say), their rows under the methods and which tasks each
// configuration learned beyond chance and them (LearnedTable, p < 0.05).
func SweepPage(title, intro string, results []*experiment.Result, baselines ...Baseline) plots.Page {
	rows, tasks := Summarize(results)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Score[0] > rows[j].Score[0] })
	var bars []plots.MeanStd
	var configs []string
	heat := make([][]float64, len(rows))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range rows {
		label := fmt.Sprintf("%s (%d params)", r.Config, r.Params)
		bars = append(bars, plots.MeanStd{Name: label, Mean: r.Score[0], Std: r.Score[1]})
		configs = append(configs, r.Config)
		for _, t := range tasks {
			v := r.TaskScores[t][0]
			heat[i] = append(heat[i], v)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if !(lo < hi) {
		lo, hi = lo-1, lo+1
	}
	charts := []render.Renderer{
		plots.Ablation("Mean score per configuration", "mean task score", bars, averageLevels(results, tasks, baselines)...),
		plots.Heatmap("Score per task", "read: which configuration wins which task (mean over seeds of each task's final score)", configs, tasks, heat, lo, hi),
	}
	// Mean score over training, one line per configuration (seeds averaged).
	steps := map[int]bool{}
	curves := map[string]map[int][]float64{}
	for _, row := range rows {
		curves[row.Config] = map[int][]float64{}
		for _, r := range row.Results {
			for _, e := range r.Fit.Evals {
				steps[e.Step] = true
				curves[row.Config][e.Step] = append(curves[row.Config][e.Step], e.Score)
			}
		}
	}
	var xs []int
	for s := range steps {
		xs = append(xs, s)
	}
	sort.Ints(xs)
	if len(xs) > 1 {
		var series []plots.Series
		bands := false
		for _, c := range configs {
			var y, std []float64
			seeds := 0
			for _, s := range xs {
				ms := meanStd(curves[c][s])
				y, std, seeds = append(y, ms[0]), append(std, ms[1]), max(seeds, len(curves[c][s]))
			}
			if seeds < 2 {
				std = nil // one seed: no spread to draw
			}
			bands = bands || std != nil
			series = append(series, plots.Series{Name: c, Y: y, Std: std})
		}
		read := "read: how fast each configuration learns, and whether it is still rising at the end"
		if bands {
			read += "; dashed: ± one standard deviation over seeds"
		}
		charts = append(charts, plots.Lines("Mean score during training", read, "step", "mean task score", xs, series))
	}
	table := MainTable("Final scores (mean ± std over seeds)", results, baselines...)
	runs := plots.Table{Title: "Runs", Header: []string{"run", "method", "rank", "seed", "steps", "seconds", "final score"}}
	for _, r := range results {
		if r != nil {
			runs.Rows = append(runs.Rows, []string{r.ID, r.Run.Config.Method.String(), fmt.Sprint(r.Run.Config.Rank), fmt.Sprint(r.Run.Config.Seed),
				fmt.Sprint(r.Fit.Step), fmt.Sprintf("%.0f", r.Seconds), fmt.Sprintf("%.4f", r.Final().Score)})
		}
	}
	page := plots.Page{Title: title, Intro: intro, Charts: charts, Tables: []plots.Table{table},
		Notes: []string{"Score: accuracy for multiple-choice tasks, macro-F1 for classification tasks, Pearson correlation for regression tasks, −MSE on the synthetic set; the split of the final evaluation is in the table's title."}}
	if len(baselines) > 0 {
		addLearned(&page, results, baselines)
	}
	page.Tables = append(page.Tables, runs)
	return page
}

// RunPage is the report of one run: training loss, each task's score over the evaluations, final metrics.
func RunPage(r *experiment.Result) plots.Page {
	steps := make([]int, len(r.Fit.Losses))
	for i := range steps {
		steps[i] = i + 1
	}
	charts := []render.Renderer{plots.Lines("Training loss", "read: the multi-task loss falling; spikes are hard batches, a late rise is overfitting or too high a learning rate", "step", "loss (weighted mean over the batch)", steps, []plots.Series{{Name: "loss", Y: r.Fit.Losses}})}
	if len(r.Fit.Evals) > 0 {
		var xs []int
		byTask := map[string][]float64{}
		var names []string
		for _, e := range r.Fit.Evals {
			xs = append(xs, e.Step)
			for _, t := range e.Tasks {
				if _, ok := byTask[t.Task]; !ok {
					names = append(names, t.Task)
				}
				byTask[t.Task] = append(byTask[t.Task], t.Score)
			}
		}
		chance := map[string]float64{} // multiple-choice tasks: accuracy is compared with the mean of 1/K
		for _, t := range r.Final().Tasks {
			if c, ok := t.Metrics["chance"]; ok {
				chance[t.Task] = c
			}
		}
		var series []plots.Series
		for _, n := range names {
			s := plots.Series{Name: n, Y: byTask[n]}
			if c, ok := chance[n]; ok {
				s.Chance = &c
			}
			series = append(series, s)
		}
		read := "read: which tasks are learned, and whether one rises while another falls (interference)"
		if len(chance) > 0 {
			read += "; dotted: chance"
		}
		charts = append(charts, plots.Lines("Score per task", read, "step", "score", xs, series))
	}
	t := plots.Table{Title: "Final metrics", Header: []string{"task", "score", "metrics"}}
	for _, m := range r.Final().Tasks {
		var ks []string
		for k := range m.Metrics {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		desc := ""
		for _, k := range ks {
			desc += fmt.Sprintf("%s %.4f  ", k, m.Metrics[k])
		}
		t.Rows = append(t.Rows, []string{m.Task, fmt.Sprintf("%.4f", m.Score), desc})
	}
	return plots.Page{Title: "Run " + r.ID, Intro: fmt.Sprintf("%s rank %d on %s, seed %d, %d trainable parameters, %d steps (%.0f s).",
		r.Run.Config.Method, r.Run.Config.Rank, r.Run.Config.Data, r.Run.Config.Seed, r.Run.TrainableParams, r.Fit.Step, r.Seconds), Charts: charts, Tables: []plots.Table{t}}
}
