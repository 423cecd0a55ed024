// Package report shows runs: the per-configuration summary over seeds (mean ± std), the sweep and run chart
// pages, and the self-contained HTML report of the demo and of mtlora report.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"

	"github.com/mtlora/mtlora/experiment"
)

// Summary aggregates final evaluations of runs that differ only by seed: mean ± standard deviation.
type Summary struct {
	Config     string     // method and rank
	Method     string     //
	Params     int        // trainable parameters
	Seeds      int        //
	Score      [2]float64 // mean, std of the mean score
	TaskScores map[string][2]float64
}

// MeanStd writes a mean over seeds as a table shows it: "0.8123 ± 0.0150", or "0.8123" for one seed (a
// standard deviation of one value is not a zero spread, it is no measurement of spread).
func MeanStd(v [2]float64, seeds int) string {
	if seeds <= 1 {
		return fmt.Sprintf("%.4f", v[0])
	}
	return fmt.Sprintf("%.4f ± %.4f", v[0], v[1])
}

// Summarize groups results by method and rank (in first-seen order) and aggregates their final scores.
func Summarize(results []*experiment.Result) (rows []Summary, tasks []string) {
	index := map[string]int{}
	scores := map[string][]float64{}
	taskScores := map[string]map[string][]float64{}
	for _, r := range results {
		if r == nil {
			continue
		}
		key := fmt.Sprintf("%s r=%d", r.Run.Config.Method, r.Run.Config.Rank)
		if _, ok := index[key]; !ok {
			index[key] = len(rows)
			rows = append(rows, Summary{Config: key, Method: r.Run.Config.Method.String(), Params: r.Run.TrainableParams, TaskScores: map[string][2]float64{}})
			taskScores[key] = map[string][]float64{}
		}
		f := r.Final()
		scores[key] = append(scores[key], f.Score)
		for _, t := range f.Tasks {
			if len(index) == 1 && len(taskScores[key][t.Task]) == 0 {
				tasks = append(tasks, t.Task)
			}
			taskScores[key][t.Task] = append(taskScores[key][t.Task], t.Score)
		}
	}
	for i := range rows {
		k := rows[i].Config
		rows[i].Seeds = len(scores[k])
		rows[i].Score = meanStd(scores[k])
		for t, v := range taskScores[k] {
			rows[i].TaskScores[t] = meanStd(v)
		}
	}
	return rows, tasks
}

func meanStd(v []float64) [2]float64 {
	var m, s float64
	for _, x := range v {
		m += x / float64(len(v))
	}
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	if len(v) > 1 {
		s = math.Sqrt(s / float64(len(v)-1))
	}
	return [2]float64{m, s}
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pm":  MeanStd,
	"get": func(m map[string][2]float64, k string) [2]float64 { return m[k] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
code{background:#f4f4f4;padding:.1em .3em}</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Intro}}</p>
<table><tr><th>configuration</th><th>trainable params</th><th>seeds</th><th>mean score</th>{{range .Tasks}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Config}}</td><td>{{.Params}}</td><td>{{.Seeds}}</td><td>{{pm .Score .Seeds}}</td>{{$r := .}}{{range $.Tasks}}<td>{{pm (get $r.TaskScores .) $r.Seeds}}</td>{{end}}</tr>
{{end}}</table>
<p>Score: macro-F1 for classification tasks, Pearson correlation for regression tasks, −MSE on the synthetic set;
final evaluation on the validation split; mean ± standard deviation over seeds.</p>
<h2>Runs</h2>
<table><tr><th>run</th><th>method</th><th>rank</th><th>seed</th><th>steps</th><th>seconds</th><th>final score</th></tr>
{{range .Results}}<tr><td><code>{{.ID}}</code></td><td>{{.Run.Config.Method}}</td><td>{{.Run.Config.Rank}}</td><td>{{.Run.Config.Seed}}</td><td>{{.Fit.Step}}</td><td>{{printf "%.0f" .Seconds}}</td><td>{{printf "%.4f" .Final.Score}}</td></tr>
{{end}}</table>
<p>Reproduce: <code>{{.Command}}</code></p>
</body></html>
`))

// ReportHTML renders a self-contained HTML page of a set of results (every string escaped). Charts come with
// the analysis-and-plots work; this page holds the tables.
func ReportHTML(title, intro, command string, results []*experiment.Result) ([]byte, error) {
	rows, tasks := Summarize(results)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Score[0] > rows[j].Score[0] })
	var live []*experiment.Result
	for _, r := range results {
		if r != nil {
			live = append(live, r)
		}
	}
	var buf bytes.Buffer
	err := reportTemplate.Execute(&buf, map[string]any{"Title": title, "Intro": intro, "Command": command,
		"Rows": rows, "Tasks": tasks, "Results": live})
	return buf.Bytes(), err
}
