package experiment

import (
	"fmt"
	"path/filepath"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/go-echarts/go-echarts/v2/render"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// SyntheticAnalysis is what the analysis finds in a finished synthetic run's best weights.
type SyntheticAnalysis struct {
	GradientCosine [][]float64          `json:"gradient_cosine"` // per-task gradients on the shared A and B
	Layer          analysis.LayerReport `json:"layer"`
	Tasks          []string             `json:"tasks"`
}

// AnalyzeSynthetic loads a finished synthetic run and measures gradient conflict, task separation, Λ_t,
// mixing weights and update similarity on held-out inputs.
func AnalyzeSynthetic(env Env, dir string) (*SyntheticAnalysis, error) {
	res, ok, err := ReadResult(dir)
	if err != nil {
		return nil, err
	}
	if !ok || res.Run.Config.Data != Synthetic {
		return nil, fmt.Errorf("experiment: %s is not a finished synthetic run", dir)
	}
	sc := synthetic.DefaultConfig()
	sc.Conflict = res.Run.Config.Conflict
	ts, err := synthetic.New(sc)
	if err != nil {
		return nil, err
	}
	inj, err := mtlcore.NewInjector(res.Run.Config.Config)
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
		return nil, err
	}
	if err := trainer.LoadWeights(filepath.Join(dir, "best"), store); err != nil {
		return nil, err
	}
	linear := zoo.Linear(inj, ts.DOut)
	fn := func(scope *model.Scope, in []*Node) *Node { return linear(scope, in[0], in[1]) }
	held := ts.Draw(32, 3)
	batches := held.TaskBatches()
	var inputs [][]float64
	for _, x := range held.X[:held.PerTask] {
		row := make([]float64, len(x))
		for i, v := range x {
			row[i] = float64(v)
		}
		inputs = append(inputs, row)
	}
	grads, err := analysis.TaskGradients(env.Backend, store, fn, loss.MeanSquaredError, batches, analysis.SharedVariables(store))
	if err != nil {
		return nil, err
	}
	reps, err := analysis.AnalyzeLayers(store, res.Run.Config.Config, inputs)
	if err != nil {
		return nil, err
	}
	out := &SyntheticAnalysis{GradientCosine: analysis.CosineMatrix(grads), Layer: reps[0]}
	for t := range ts.Tasks {
		out.Tasks = append(out.Tasks, fmt.Sprintf("task%d", t))
	}
	return out, nil
}

// Charts draws the analysis: gradient-conflict, update and feature cosine heatmaps, the projected
// features coloured by task, and (MTL-LoRA) Λ_t summaries and mixing weights.
func (a *SyntheticAnalysis) Charts() []render.Renderer {
	l := a.Layer
	cs := []render.Renderer{
		plots.Heatmap("Gradient cosine between tasks", "read: −1 = two tasks pull the shared A and B in opposite directions (conflict), 1 = the same way",
			a.Tasks, a.Tasks, a.GradientCosine, -1, 1),
		plots.Heatmap("Update cosine between tasks", "read: how alike the tasks' learned updates ΔW_t are (1 = one update for all)", a.Tasks, a.Tasks, l.UpdateCosine, -1, 1),
	}
	if l.FeatureCosine != nil {
		cs = append(cs,
			plots.Heatmap("Feature cosine between tasks", "read: whether tasks see an input through the same low-rank features, mean of cos(A'_s·x, A'_t·x) (LoRA: 1 by construction)",
				a.Tasks, a.Tasks, l.FeatureCosine, -1, 1),
			plots.Scatter("Low-rank features by task", fmt.Sprintf("read: separate clouds = task-specific features. PCA of A'_t·x; silhouette %.2f, probe accuracy %.2f (chance %.2f)",
				l.Silhouette, l.Probe, 1/float64(len(a.Tasks))), "PC", a.Tasks, l.Projection, l.Tasks))
	}
	cs = append(cs, LambdaCharts(a.Tasks, []analysis.LayerReport{l})...)
	if len(l.Mixing) > 0 {
		var series []plots.Series
		var cats []string
		for i := range l.Mixing[0] {
			cats = append(cats, fmt.Sprintf("B%d", i+1))
		}
		for t, w := range l.Mixing {
			series = append(series, plots.Series{Name: a.Tasks[t], Y: w})
		}
		cs = append(cs, plots.Bars("Mixing weights softmax(w_t/τ)", fmt.Sprintf("read: each task's weights over the shared up-projections (%.2f each = no preference)", 1/float64(len(cats))),
			"weight", cats, series))
	}
	return cs
}
