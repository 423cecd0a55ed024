package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-echarts/go-echarts/v2/render"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/trainer"
)

// InspectionCharts show what MTL-LoRA's task-specific parts learned in every adapted layer (from
// analysis.AnalyzeLayers): LambdaCharts, then MixingChart. Each chart says in its subtitle what to read from
// it. Layers without Λ (other methods) give no charts.
func InspectionCharts(tasks []string, layers []analysis.LayerReport) []render.Renderer {
	charts := LambdaCharts(tasks, layers)
	if c := MixingChart(tasks, layers); c != nil {
		charts = append(charts, c)
	}
	return charts
}

// LambdaCharts are, per adapted layer, the Λ_t diagonals as a tasks × rank heatmap, and each full Λ_t as a
// matrix when Λ is full.
func LambdaCharts(tasks []string, layers []analysis.LayerReport) []render.Renderer {
	var charts []render.Renderer
	names := shortLayerNames(layerPaths(layers))
	for i, l := range layers {
		if len(l.LambdaDiagonal) == 0 {
			continue
		}
		r := len(l.LambdaDiagonal[0])
		dev := 1e-6 // colour range symmetric around 1 (a feature kept as the shared A gives it: white)
		for _, d := range l.LambdaDiagonal {
			for _, v := range d {
				dev = math.Max(dev, math.Abs(v-1))
			}
		}
		charts = append(charts, plots.Heatmap("Λ_t diagonal — "+names[i],
			"read: how each task rescales each shared low-rank feature (1 = as shared, 0 = switched off, < 0 = flipped)",
			tasks, indexNames("z", r), l.LambdaDiagonal, 1-dev, 1+dev))
		for t, m := range l.LambdaMatrix {
			charts = append(charts, plots.Heatmap(fmt.Sprintf("Λ_%s — %s", tasks[t], names[i]),
				"read: the task's mixing of the low-rank features (identity = as shared)", indexNames("z", r), indexNames("z", r), m, -1, 1))
		}
	}
	return charts
}

// MixingChart is one heatmap of every adapted layer's mixing weights softmax(w_t/τ): a row per layer, a
// column per task and up-projection (nil without mixing weights).
func MixingChart(tasks []string, layers []analysis.LayerReport) render.Renderer {
	names := shortLayerNames(layerPaths(layers))
	var mixRows, mixCols []string
	var mix [][]float64
	for i, l := range layers {
		if len(l.Mixing) > 0 {
			if mixCols == nil {
				for _, t := range tasks {
					for k := range l.Mixing[0] {
						mixCols = append(mixCols, fmt.Sprintf("%s·B%d", t, k+1))
					}
				}
			}
			var row []float64
			for _, m := range l.Mixing {
				row = append(row, m...)
			}
			mixRows, mix = append(mixRows, names[i]), append(mix, row)
		}
	}
	if len(mix) == 0 {
		return nil
	}
	n := len(mixCols) / len(tasks)
	return plots.Heatmap("Mixing weights softmax(w_t/τ) per layer",
		fmt.Sprintf("read: each task's weights over the %d shared up-projections B_i (a task's %d columns sum to 1; %.2f each = no preference)", n, n, 1/float64(n)),
		mixRows, mixCols, mix, 0, 1)
}

func layerPaths(layers []analysis.LayerReport) []string {
	out := make([]string, len(layers))
	for i, l := range layers {
		out[i] = l.Layer
	}
	return out
}

// shortLayerNames drops the path prefix every layer shares, so labels stay short.
func shortLayerNames(paths []string) []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimPrefix(p, "/")
	}
	if len(names) < 2 {
		return names
	}
	prefix := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	prefix = prefix[:strings.LastIndex(prefix, "/")+1] // whole path segments only
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], prefix)
	}
	return names
}

func indexNames(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// AdapterTrace is the file in a text run's directory where training records, every few steps, what the
// adapters' task-specific parts hold: each layer's Λ_t diagonals and mixing weights (MTL-LoRA), one JSON
// record per line.
const AdapterTrace = "adapters.jsonl"

// TraceRecord is one step's record of AdapterTrace.
type TraceRecord struct {
	Step   int          `json:"step"`
	Layers []TraceLayer `json:"layers"`
}

// TraceLayer is one adapted layer in a TraceRecord.
type TraceLayer struct {
	Layer          string      `json:"layer"`
	LambdaDiagonal [][]float64 `json:"lambda_diagonal"` // [task][rank]
	Mixing         [][]float64 `json:"mixing"`          // [task][n]: softmax(w_t/τ)
}

// traceHook records AdapterTrace into dir every `every` steps; nothing for methods without Λ or mixing weights.
func traceHook(store *model.Store, cfg mtlcore.Config, dir string, every int) trainer.Hook {
	return trainer.Hook{Every: every, Fn: func(step int) error {
		rec := TraceRecord{Step: step}
		for _, l := range mtlcore.Layers(store) {
			t, err := analysis.ReadTransforms(store, cfg, l.Path)
			if err != nil {
				return err
			}
			if t != nil {
				rec.Layers = append(rec.Layers, TraceLayer{Layer: l.Path, LambdaDiagonal: t.LambdaDiagonal, Mixing: t.Mixing})
			}
		}
		if len(rec.Layers) == 0 {
			return nil
		}
		line, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(dir, AdapterTrace), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}}
}

// traceEvery is how often a run records AdapterTrace: at its evaluations when there are several, else ten
// times over training.
func traceEvery(c Config) int {
	if c.EvalEvery > 0 && c.EvalEvery < c.Steps {
		return c.EvalEvery
	}
	return max(1, c.Steps/10)
}

// ReadTrace reads a run's AdapterTrace in step order; a step recorded twice (a run resumed from an earlier
// checkpoint repeats steps) keeps its last record. A run without one (other methods, older runs) has none.
func ReadTrace(dir string) ([]TraceRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, AdapterTrace))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	byStep := map[int]TraceRecord{}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r TraceRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("experiment: %s: line %d: %w", filepath.Join(dir, AdapterTrace), i+1, err)
		}
		byStep[r.Step] = r
	}
	var out []TraceRecord
	for _, r := range byStep {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b TraceRecord) int { return a.Step - b.Step })
	return out, nil
}

// TraceCharts show how the task-specific parts changed over training, one line per task, averaged over the
// adapted layers: how far Λ_t's diagonal has moved from 1 (its start), and how decided each task's mixing
// of the shared up-projections is (its largest weight; 1/n = undecided, 1 = one B_i only).
func TraceCharts(tasks []string, records []TraceRecord) []render.Renderer {
	if len(records) < 2 {
		return nil
	}
	var steps []int
	moved, decided := make([]plots.Series, len(tasks)), make([]plots.Series, len(tasks))
	for t, name := range tasks {
		moved[t].Name, decided[t].Name = name, name
	}
	n := 0
	hasLambda := false
	for _, r := range records {
		steps = append(steps, r.Step)
		for t := range tasks {
			var dist, top float64
			for _, l := range r.Layers {
				if len(l.LambdaDiagonal) > t { // MTL-LoRA without Λ records mixing weights only
					hasLambda = true
					var d2 float64
					for _, v := range l.LambdaDiagonal[t] {
						d2 += (v - 1) * (v - 1)
					}
					dist += math.Sqrt(d2/float64(len(l.LambdaDiagonal[t]))) / float64(len(r.Layers))
				}
				if len(l.Mixing) > t {
					top += slices.Max(l.Mixing[t]) / float64(len(r.Layers))
					n = len(l.Mixing[t])
				}
			}
			moved[t].Y, decided[t].Y = append(moved[t].Y, dist), append(decided[t].Y, top)
		}
	}
	var charts []render.Renderer
	if hasLambda {
		charts = append(charts, plots.Lines("Λ_t over training",
			"read: how far each task's transform has moved from the shared features (RMS of λ_t − 1, mean over layers; 0 = still shared)",
			"step", "RMS(λ_t − 1)", steps, moved))
	}
	if n > 0 {
		charts = append(charts, plots.Lines("Mixing weights over training",
			fmt.Sprintf("read: how decided each task is about the shared up-projections (largest of softmax(w_t/τ), mean over layers; %.2f = no preference, 1 = one B_i)", 1/float64(n)),
			"step", "largest mixing weight", steps, decided))
	}
	return charts
}
