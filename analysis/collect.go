package analysis

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/mtlora/mtlora/mtlcore"
)

// SharedVariables lists the adapter variables every task shares (the down- and up-projections A and B),
// whose per-task gradients measure conflict.
func SharedVariables(store *model.Store) []string {
	var out []string
	for v := range store.IterVariables() {
		p := v.Path()
		if strings.Contains(p, "/"+mtlcore.ScopeAdapter+"/") && (strings.HasSuffix(p, "/"+mtlcore.VarA) || strings.HasSuffix(p, "/"+mtlcore.VarB)) {
			out = append(out, p)
		}
	}
	return out
}

// TaskGradients returns, for each task's batch, the gradient of the loss with respect to the given
// variables, flattened into one vector: the inputs of CosineMatrix. modelFn and lossFn are the training
// ones; the store is not changed.
func TaskGradients(b compute.Backend, store *model.Store, modelFn func(*model.Scope, []*graph.Node) *graph.Node, lossFn train.LossFn,
	batches []train.Batch, vars []string) ([][]float64, error) {
	if len(vars) == 0 {
		return nil, fmt.Errorf("analysis: no variables to differentiate")
	}
	var out [][]float64
	for t, batch := range batches {
		nIn := len(batch.Inputs)
		e, err := model.NewExec(b, store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
			pred := modelFn(scope, in[:nIn])
			loss := lossFn(in[nIn:], []*graph.Node{pred})
			var vs []*graph.Node
			for _, p := range vars {
				v := scope.Store().GetVariable(p)
				if v == nil {
					panic(fmt.Errorf("analysis: no variable %s", p))
				}
				vs = append(vs, v.NodeValue(loss.Graph()))
			}
			return graph.Gradient(graph.ReduceAllMean(loss), vs...)
		})
		if err != nil {
			return nil, err
		}
		args := make([]any, 0, nIn+len(batch.Labels))
		for _, x := range batch.Inputs {
			args = append(args, x)
		}
		for _, y := range batch.Labels {
			args = append(args, y)
		}
		grads, err := e.Call(args...)
		if err != nil {
			return nil, fmt.Errorf("analysis: gradients of task %d: %w", t, err)
		}
		var flat []float64
		for _, g := range grads {
			switch g.DType().String() {
			case "Float32":
				for _, x := range tensors.MustCopyFlatData[float32](g) {
					flat = append(flat, float64(x))
				}
			default:
				flat = append(flat, tensors.MustCopyFlatData[float64](g)...)
			}
		}
		out = append(out, flat)
	}
	return out, nil
}

// LayerReport is what the analysis finds in one adapted layer.
type LayerReport struct {
	Layer string `json:"layer"`
	// Lambda summarises each task's Λ_t (MTL-LoRA; empty for other methods).
	Lambda []LambdaSummary `json:"lambda,omitempty"`
	// LambdaDiagonal[t] is the diagonal of Λ_t (MTL-LoRA), and LambdaMatrix[t] all of it when Λ is full.
	LambdaDiagonal [][]float64   `json:"lambda_diagonal,omitempty"`
	LambdaMatrix   [][][]float64 `json:"lambda_matrix,omitempty"`
	// Mixing holds each task's softmax(w_t/τ) over the n up-projections (MTL-LoRA).
	Mixing [][]float64 `json:"mixing,omitempty"`
	// UpdateCosine[s][t] is the cosine of the flattened updates ΔW_s and ΔW_t.
	UpdateCosine [][]float64 `json:"update_cosine"`
	// FeatureCosine[s][t] is the mean over inputs x of cos(A'_s·x, A'_t·x), the tasks' features in the
	// low-rank space (A'_t = Λ_t·A for MTL-LoRA; A itself, the same for every task, for LoRA: all 1).
	FeatureCosine [][]float64 `json:"feature_cosine"`
	// Silhouette and Probe score how well the points (A'_t·x, t) separate by task (1 separate; 0 and
	// 1/T mixed); Projection is their 2-D PCA, task-major, for scatter plots.
	Silhouette float64      `json:"silhouette"`
	Probe      float64      `json:"probe_accuracy"`
	Projection [][2]float64 `json:"projection"`
	Tasks      []int        `json:"projection_tasks"`
}

// AnalyzeLayers reads every adapted layer of store (a trained cfg adapter) and measures its task
// transforms, mixing weights, update similarity and task separation on inputs (rows of length dIn; a layer
// whose dIn differs is measured on no inputs).
func AnalyzeLayers(store *model.Store, cfg mtlcore.Config, inputs [][]float64) ([]LayerReport, error) {
	var out []LayerReport
	for _, l := range mtlcore.Layers(store) {
		rep := LayerReport{Layer: l.Path}
		factors := make([]mtlcore.Factors, cfg.NumTasks)
		deltas := make([][]float64, cfg.NumTasks)
		for t := range cfg.NumTasks {
			f, err := mtlcore.TaskFactors(store, cfg, l, t)
			if err != nil {
				return nil, err
			}
			factors[t], deltas[t] = f, f.Delta().Data
		}
		rep.UpdateCosine = CosineMatrix(deltas)
		t, err := ReadTransforms(store, cfg, l.Path)
		if err != nil {
			return nil, err
		}
		if t != nil {
			rep.LambdaDiagonal, rep.LambdaMatrix, rep.Mixing = t.LambdaDiagonal, t.LambdaMatrix, t.Mixing
			for _, m := range t.Lambda {
				s, err := SummarizeLambda(m)
				if err != nil {
					return nil, err
				}
				rep.Lambda = append(rep.Lambda, s)
			}
		}
		if len(inputs) > 0 && len(inputs[0]) == l.DIn {
			feats := make([][][]float64, cfg.NumTasks) // [task][input][R]
			var points [][]float64
			for t, f := range factors {
				for _, x := range inputs {
					z := f.A.Apply(x)
					feats[t] = append(feats[t], z)
					points = append(points, z)
					rep.Tasks = append(rep.Tasks, t)
				}
			}
			rep.FeatureCosine = make([][]float64, cfg.NumTasks)
			for s := range cfg.NumTasks {
				rep.FeatureCosine[s] = make([]float64, cfg.NumTasks)
				for t := range cfg.NumTasks {
					if len(feats[s][0]) != len(feats[t][0]) {
						continue // per-task LoRA blocks of different rank: no common space
					}
					var c float64
					for i := range inputs {
						c += Cosine(feats[s][i], feats[t][i]) / float64(len(inputs))
					}
					rep.FeatureCosine[s][t] = c
				}
			}
			rep.Silhouette = Silhouette(points, rep.Tasks)
			rep.Probe = ProbeAccuracy(points, rep.Tasks)
			rep.Projection, _ = PCA2(points)
		}
		out = append(out, rep)
	}
	return out, nil
}

// Transforms are an MTL-LoRA layer's task-specific parts: each task's Λ_t (r × r), its diagonal, the full
// matrices again when Λ is full (nil when diagonal), and each task's mixing weights softmax(w_t/τ).
type Transforms struct {
	Lambda         [][][]float64
	LambdaDiagonal [][]float64
	LambdaMatrix   [][][]float64
	Mixing         [][]float64
}

// ReadTransforms reads the task-specific parts of the adapted layer at path: nil for a layer without Λ or
// mixing weights (methods other than MTL-LoRA); Λ left empty for MTL-LoRA without Λ (lambda none). It reads
// only Λ and w — cheap enough to call during training.
func ReadTransforms(store *model.Store, cfg mtlcore.Config, path string) (*Transforms, error) {
	lamPath, mixPath := path+"/"+mtlcore.ScopeAdapter+"/"+mtlcore.VarLambda, path+"/"+mtlcore.ScopeAdapter+"/"+mtlcore.VarMixLogits
	hasLambda, hasMix := store.GetVariable(lamPath) != nil, store.GetVariable(mixPath) != nil
	if !hasLambda && !hasMix {
		return nil, nil
	}
	t := &Transforms{}
	if hasLambda {
		lam, err := values(store, lamPath)
		if err != nil {
			return nil, err
		}
		r := cfg.Rank
		for task := range cfg.NumTasks {
			m := make([][]float64, r)
			diag := make([]float64, r)
			for i := range r {
				m[i] = make([]float64, r)
				if cfg.Lambda == mtlcore.LambdaDiagonal {
					m[i][i] = lam[task*r+i]
				} else {
					copy(m[i], lam[task*r*r+i*r:task*r*r+(i+1)*r])
				}
				diag[i] = m[i][i]
			}
			t.Lambda, t.LambdaDiagonal = append(t.Lambda, m), append(t.LambdaDiagonal, diag)
			if cfg.Lambda == mtlcore.LambdaFull {
				t.LambdaMatrix = append(t.LambdaMatrix, m)
			}
		}
	}
	if hasMix {
		w, err := values(store, mixPath)
		if err != nil {
			return nil, err
		}
		n := len(w) / cfg.NumTasks
		for task := range cfg.NumTasks {
			t.Mixing = append(t.Mixing, Softmax(w[task*n:(task+1)*n], cfg.Temperature))
		}
	}
	return t, nil
}

func values(store *model.Store, path string) ([]float64, error) {
	v := store.GetVariable(path)
	if v == nil {
		return nil, fmt.Errorf("analysis: no variable %s", path)
	}
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	if t.DType().String() == "Float32" {
		var out []float64
		for _, x := range tensors.MustCopyFlatData[float32](t) {
			out = append(out, float64(x))
		}
		return out, nil
	}
	return tensors.MustCopyFlatData[float64](t), nil
}
