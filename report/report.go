// Package report shows runs: the per-configuration summary over seeds (mean ± std), the sweep and run chart
// pages, and the self-contained HTML report of the demo and of mtlora report.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/mtlora/mtlora/experiment"
)

// Summary aggregates final evaluations of runs that differ only by seed: mean ± standard deviation.
type Summary struct {
	Config     string     // method and rank, and any other hyperparameter the summarised configurations differ in
	Method     string     //
	Params     int        // trainable parameters
	Seeds      int        //
	Score      [2]float64 // mean, std of the mean score
	TaskScores map[string][2]float64
	// Results are the configuration's runs, in the order given.
	Results []*experiment.Result
}

// MeanStd writes a mean over seeds as a table shows it: "0.8123 ± 0.0150", or "0.8123" for one seed (a
// standard deviation of one value is not a zero spread, it is no measurement of spread).
func MeanStd(v [2]float64, seeds int) string {
	if seeds <= 1 {
		return fmt.Sprintf("%.4f", v[0])
	}
	return fmt.Sprintf("%.4f ± %.4f", v[0], v[1])
}

// Summarize groups results whose configurations differ only by seed (in first-seen order) and aggregates
// their final scores. A group is named by its method and rank, plus every other hyperparameter whose value
// differs between the groups ("mtl-lora r=8 lambda=full").
func Summarize(results []*experiment.Result) (rows []Summary, tasks []string) {
	index := map[string]int{}
	var fields []map[string]string
	for _, r := range results {
		if r == nil {
			continue
		}
		f := configFields(r.Run.Config)
		key := fmt.Sprint(f)
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			fields = append(fields, f)
			rows = append(rows, Summary{Method: r.Run.Config.Method.String(), Params: r.Run.TrainableParams, TaskScores: map[string][2]float64{}})
		}
		rows[i].Results = append(rows[i].Results, r)
		if i == 0 && len(rows[0].Results) == 1 {
			for _, t := range r.Final().Tasks {
				tasks = append(tasks, t.Task)
			}
		}
	}
	var differ []string // hyperparameters (other than method and rank) that differ between groups
	if len(fields) > 0 {
		for _, k := range slices.Sorted(maps.Keys(fields[0])) {
			if k == "method" || k == "rank" {
				continue
			}
			for _, f := range fields[1:] {
				if f[k] != fields[0][k] {
					differ = append(differ, k)
					break
				}
			}
		}
	}
	for i := range rows {
		c := rows[i].Results[0].Run.Config
		rows[i].Config = fmt.Sprintf("%s r=%d", c.Method, c.Rank)
		for _, k := range differ {
			rows[i].Config += fmt.Sprintf(" %s=%s", k, fields[i][k])
		}
		var scores []float64
		taskScores := map[string][]float64{}
		for _, r := range rows[i].Results {
			f := r.Final()
			scores = append(scores, f.Score)
			for _, t := range f.Tasks {
				taskScores[t.Task] = append(taskScores[t.Task], t.Score)
			}
		}
		rows[i].Seeds = len(scores)
		rows[i].Score = meanStd(scores)
		for t, v := range taskScores {
			rows[i].TaskScores[t] = meanStd(v)
		}
	}
	return rows, tasks
}

// configFields is a configuration's hyperparameters as JSON values by name, the seed left out.
func configFields(c experiment.Config) map[string]string {
	c.Seed = 0
	data, err := json.Marshal(c)
	if err != nil {
		panic(err) // a Config always marshals
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	out := map[string]string{}
	for k, v := range m {
		if k != "seed" {
			out[k] = strings.Trim(string(v), `"`)
		}
	}
	return out
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
