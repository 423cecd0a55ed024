package experiment

import (
	"fmt"
	"math"
	"strings"

	"github.com/go-echarts/go-echarts/v2/render"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/plots"
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
	names := shortLayerNames(layers)
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
	names := shortLayerNames(layers)
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

// shortLayerNames drops the path prefix every layer shares, so labels stay short.
func shortLayerNames(layers []analysis.LayerReport) []string {
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = strings.TrimPrefix(l.Layer, "/")
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
