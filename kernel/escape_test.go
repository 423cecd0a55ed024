package kernel

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/report"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/trainer"
)

// hostile is a data-derived string (a task name, a label, a sweep name, a status line) that would run
// script if any HTML output copied it unescaped.
const hostile = `</script><script>alert("x")</script><img src=x onerror=alert(1)>`

// Every HTML output of the toolkit — the sweep report, the sweep and run chart pages, the notebook
// tables, adapter summaries and live dashboards — escapes data-derived strings.
func TestEveryHTMLOutputEscapesDataStrings(t *testing.T) {
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
	eval := trainer.Eval{Step: 2, Score: 0.5, Tasks: []trainer.TaskMetrics{
		{Task: hostile, Metrics: map[string]float64{hostile: 0.5}, Score: 0.5}, {Task: "b", Metrics: map[string]float64{"f1": 0.5}, Score: 0.5}}}
	run := experiment.Defaults()
	run.Data, run.Config, run.Tasks = hostile, cfg, []string{hostile, "b"}
	res := &experiment.Result{ID: "run-" + hostile, Run: experiment.Run{Plan: hostile, Config: run}, Fit: trainer.FitResult{Step: 2, Losses: []float64{1, 0.5}, Evals: []trainer.Eval{eval}, Best: &eval}}
	outputs := map[string]func() (string, error){
		"report.ReportHTML": func() (string, error) {
			b, err := report.ReportHTML(hostile, hostile, hostile, []*experiment.Result{res})
			return string(b), err
		},
		"report.SweepPage": func() (string, error) {
			b, err := report.SweepPage(hostile, hostile, []*experiment.Result{res}).HTML()
			return string(b), err
		},
		"report.RunPage": func() (string, error) {
			b, err := report.RunPage(res).HTML()
			return string(b), err
		},
		"kernel.TableHTML": func() (string, error) { return TableHTML([]string{hostile}, [][]string{{hostile}}), nil },
		"kernel.AdapterSummary": func() (string, error) {
			return AdapterSummary(cfg, map[string][2]int{hostile: {4, 4}}, 1), nil
		},
		"kernel.Dashboard": func() (string, error) {
			d := &Dashboard{title: hostile, total: 2}
			d.losses = []float64{1, 0.5}
			d.status = hostile
			return d.render(), nil
		},
	}
	for name, out := range outputs {
		page, err := out()
		if errors.Is(err, plots.ErrNoECharts) {
			t.Logf("%s: skipped (%v)", name, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(page, "alert") {
			t.Errorf("%s: the data string is not in the output at all: the test would prove nothing", name)
		}
		for _, raw := range []string{`<script>alert`, `<img src=x`} {
			if strings.Contains(page, raw) {
				t.Errorf("%s: output holds %q unescaped", name, raw)
			}
		}
	}
}
