package experiment

import (
	"fmt"
	"slices"
	"strings"

	"github.com/go-echarts/go-echarts/v2/render"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
)

// LayerInputs runs the run's encoder on examples and returns, for every adapted layer (mtlcore.Layers
// order), each example's input to that layer averaged over its tokens (padding left out; a multiple-choice
// example's first candidate sequence, context and candidate 0). Decoder runs are not supported yet.
func (tr *Trained) LayerInputs(set *datasets.Set) (map[string][][]float64, error) {
	if tr.decoder != nil {
		return nil, fmt.Errorf("experiment: run %s: layer inputs of decoder runs are not supported (encoder runs only)", tr.Result.ID)
	}
	choices := set.MaxChoices()
	inj := *tr.inj
	var paths []string
	var pooled []*Node
	var mask *Node
	inj.Observe = func(scope *model.Scope, x *Node) {
		m := ConvertDType(ExpandAxes(mask, -1), x.DType()) // [B·K, L, 1]
		p := Div(ReduceSum(Mul(x, m), 1), ReduceSum(m, 1)) // [B·K, dIn]
		k := max(1, choices)
		p = Reshape(p, p.Shape().Dimensions[0]/k, k, p.Shape().Dimensions[1])
		paths, pooled = append(paths, scope.Scope()), append(pooled, Reshape(Slice(p, AxisRange(), AxisElem(0)), p.Shape().Dimensions[0], p.Shape().Dimensions[2]))
	}
	fn, err := textModel(tr.Result.Run.Config, tr.Model, &inj, tr.Tasks, choices)
	if err != nil {
		return nil, err
	}
	e, err := model.NewExec(tr.backend, tr.Model.Store, func(scope *model.Scope, in []*Node) []*Node {
		paths, pooled, mask = nil, nil, in[2]
		fn(scope, in)
		return pooled
	})
	if err != nil {
		return nil, err
	}
	batches := &datasets.Batches{Set: set, Tokenizer: tr.Model.Tokenizer, Split: datasets.Test, BatchSize: 32, SeqLen: tr.Result.Run.Config.SeqLen, Choices: choices}
	out := map[string][][]float64{}
	n := 0
	for batch, err := range batches.Iter() {
		if err != nil {
			return nil, err
		}
		res, err := e.Call(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3])
		if err != nil {
			return nil, err
		}
		rows := 0
		for l, t := range res {
			dims := t.Shape().Dimensions
			flat := tensors.MustCopyFlatData[float32](t)
			rows = min(dims[0], len(set.Examples)-n)
			for r := range rows {
				v := make([]float64, dims[1])
				for j := range v {
					v[j] = float64(flat[r*dims[1]+j])
				}
				out[paths[l]] = append(out[paths[l]], v)
			}
		}
		n += rows
	}
	return out, nil
}

// Separation measures how the tasks' low-rank features separate in every adapted layer on real inputs
// (analysis.Separate): perTask examples of each of the run's tasks in the split of data (spread over it, as evaluation
// picks them), each point the example's feature A'_t·x̄ under its own task t.
func (tr *Trained) Separation(data string, split datasets.Split, perTask int) ([]analysis.Separation, error) {
	all, _, err := tr.runSet(data, tr.TaskNames())
	if err != nil {
		return nil, err
	}
	sub := evalSubset(all, split, perTask)
	for i := range sub.Examples {
		sub.Examples[i].Split = datasets.Test // LayerInputs walks one split
	}
	inputs, err := tr.LayerInputs(sub)
	if err != nil {
		return nil, err
	}
	var tasks []int
	for _, e := range sub.Examples {
		tasks = append(tasks, int(e.Task))
	}
	c := tr.Result.Run.Config.Config
	c.NumTasks = len(tr.Tasks)
	var out []analysis.Separation
	for _, l := range mtlcore.Layers(tr.store()) {
		x, ok := inputs[l.Path]
		if !ok {
			return nil, fmt.Errorf("experiment: run %s: no inputs observed for adapted layer %s", tr.Result.ID, l.Path)
		}
		factors := make([]mtlcore.Factors, c.NumTasks)
		for t := range factors {
			if factors[t], err = mtlcore.TaskFactors(tr.store(), c, l, t); err != nil {
				return nil, err
			}
		}
		feats := make([][]float64, len(x))
		for i, xi := range x {
			feats[i] = factors[tasks[i]].A.Apply(xi)
		}
		s, err := analysis.Separate(l.Path, x, feats, tasks)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SeparationCharts draw Separation's measurements of runs on the same tasks and inputs (names label the
// runs, e.g. their methods): the silhouette of the tasks' features in every adapted layer, one series per
// run and one for the layers' inputs x̄ (the same for every run: the separation already in the inputs);
// then, for each layer in show (short names as the first chart's axis gives them, e.g. "layer_5/attention/value"),
// each run's t-SNE picture of its features coloured by task.
func SeparationCharts(tasks, names []string, runs [][]analysis.Separation, show []string) ([]render.Renderer, error) {
	if len(names) != len(runs) || len(runs) == 0 {
		return nil, fmt.Errorf("experiment: %d names for %d runs' separations", len(names), len(runs))
	}
	var paths []string
	for _, s := range runs[0] {
		paths = append(paths, s.Layer)
	}
	short := shortLayerNames(paths)
	for i, r := range runs {
		if len(r) != len(paths) {
			return nil, fmt.Errorf("experiment: run %s has %d adapted layers, run %s %d", names[i], len(r), names[0], len(paths))
		}
	}
	var series []plots.Series
	for i, r := range runs {
		s := plots.Series{Name: names[i] + ": features"}
		for _, l := range r {
			s.Y = append(s.Y, l.Silhouette)
		}
		series = append(series, s)
	}
	in := plots.Series{Name: "inputs x̄"}
	for _, l := range runs[0] {
		in.Y = append(in.Y, l.InputSilhouette)
	}
	charts := []render.Renderer{plots.Bars("Task separation per layer (silhouette)",
		"read: how far each layer's low-rank features separate by task (1 = apart, 0 = mixed); inputs x̄: the separation already in what the layer reads",
		"silhouette", short, append(series, in))}
	for _, want := range show {
		j := slices.Index(short, want)
		if j < 0 {
			return nil, fmt.Errorf("experiment: no adapted layer %q (layers: %s)", want, strings.Join(short, ", "))
		}
		for i, r := range runs {
			l := r[j]
			charts = append(charts, plots.Scatter(fmt.Sprintf("%s — %s: t-SNE of the low-rank features", names[i], want),
				fmt.Sprintf("read: clouds apart = the tasks' features differ. silhouette %.2f (inputs %.2f), probe accuracy %.2f (inputs %.2f, chance %.2f); t-SNE trustworthiness %.2f",
					l.Silhouette, l.InputSilhouette, l.Probe, l.InputProbe, 1/float64(len(tasks)), l.Trustworthiness), "t-SNE", tasks, l.TSNE, l.Tasks))
		}
	}
	return charts, nil
}
