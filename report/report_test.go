package report

import (
	"strings"
	"testing"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/trainer"
)

// The sweep's report page holds every chart and table, with escaped labels.
func TestSweepPage(t *testing.T) {
	r := &experiment.Result{ID: "x", Run: experiment.Run{Config: experiment.Defaults()}}
	r.Fit.Evals = append(r.Fit.Evals, trainerEval(10, "<b>task</b>", 0.5), trainerEval(20, "<b>task</b>", 0.7))
	page := SweepPage("t", "i", []*experiment.Result{r})
	if len(page.Charts) != 3 || len(page.Tables) != 2 || page.Tables[0].Header[4] != "<b>task</b>" {
		t.Errorf("page: %d charts, tables %+v", len(page.Charts), page.Tables)
	}
}

func trainerEval(step int, task string, score float64) trainer.Eval {
	return trainer.Eval{Step: step, Score: score, Tasks: []trainer.TaskMetrics{{Task: task, Score: score}}}
}

// One seed shows the mean alone: a standard deviation of one value is no spread.
func TestMeanStd(t *testing.T) {
	if got := MeanStd([2]float64{0.81234, 0}, 1); got != "0.8123" {
		t.Errorf("one seed: %q", got)
	}
	if got := MeanStd([2]float64{0.81234, 0.015}, 3); got != "0.8123 ± 0.0150" {
		t.Errorf("three seeds: %q", got)
	}
}

// A multiple-choice task's score is drawn with its chance level; a classification task's is not (its chance
// is not one number).
func TestRunPageDrawsChance(t *testing.T) {
	r := &experiment.Result{ID: "x", Run: experiment.Run{Config: experiment.Defaults()}}
	for _, step := range []int{10, 20} {
		r.Fit.Evals = append(r.Fit.Evals, trainer.Eval{Step: step, Tasks: []trainer.TaskMetrics{
			{Task: "mc", Score: 0.4, Metrics: map[string]float64{"accuracy": 0.4, "chance": 0.3125}},
			{Task: "cls", Score: 0.6, Metrics: map[string]float64{"macro_f1": 0.6}}}})
	}
	r.Fit.Losses = []float64{1, 0.5}
	page := RunPage(r)
	data, err := page.Body()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(data, `"yAxis":0.3125`); n != 1 {
		t.Errorf("%d chance lines at 0.3125, want the multiple-choice task's one", n)
	}
	if strings.Count(data, `"markLine"`) != 1 {
		t.Errorf("chance drawn for a task without a chance level")
	}
}
