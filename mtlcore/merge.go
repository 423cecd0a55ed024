package mtlcore

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Layer is one adapted linear layer found in a store.
type Layer struct {
	Path      string // the layer's scope, e.g. "/block_0/attention/query"
	DIn, DOut int
}

// Layers lists the adapted layers of a store (those with P/adapter/lora_A), sorted by path.
func Layers(store *model.Store) []Layer {
	var out []Layer
	suffix := "/" + ScopeAdapter + "/" + VarA
	for v := range store.IterVariables() {
		p := v.Path()
		if !strings.HasSuffix(p, suffix) {
			continue
		}
		layer := strings.TrimSuffix(p, suffix)
		w := store.GetVariable(layer + "/" + ScopeBase + "/weights")
		if w == nil {
			continue
		}
		d := w.Shape().Dimensions
		out = append(out, Layer{Path: layer, DIn: d[0], DOut: d[1]})
	}
	slices.SortFunc(out, func(a, b Layer) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Matrix is a small row-major float64 matrix, for host-side merge and export arithmetic.
type Matrix struct {
	Rows, Cols int
	Data       []float64 // row-major, len Rows·Cols
}

func newMatrix(rows, cols int) Matrix { return Matrix{rows, cols, make([]float64, rows*cols)} }

func (m Matrix) at(i, j int) float64     { return m.Data[i*m.Cols+j] }
func (m Matrix) set(i, j int, x float64) { m.Data[i*m.Cols+j] = x }
func (m Matrix) add(i, j int, x float64) { m.Data[i*m.Cols+j] += x }

// Apply returns m·x for a vector x of length Cols.
func (m Matrix) Apply(x []float64) []float64 {
	out := make([]float64, m.Rows)
	for i := range m.Rows {
		for j := range m.Cols {
			out[i] += m.Data[i*m.Cols+j] * x[j]
		}
	}
	return out
}

func (m Matrix) t() Matrix {
	o := newMatrix(m.Cols, m.Rows)
	for i := 0; i < m.Rows; i++ {
		for j := 0; j < m.Cols; j++ {
			o.set(j, i, m.at(i, j))
		}
	}
	return o
}

func (m Matrix) mul(o Matrix) Matrix {
	r := newMatrix(m.Rows, o.Cols)
	for i := 0; i < m.Rows; i++ {
		for k := 0; k < m.Cols; k++ {
			a := m.at(i, k)
			if a == 0 {
				continue
			}
			for j := 0; j < o.Cols; j++ {
				r.add(i, j, a*o.at(k, j))
			}
		}
	}
	return r
}

// vars reads a layer's variables as float64, checking the shape of each against what cfg implies.
type layerVars struct {
	store *model.Store
	layer string
}

func (lv layerVars) read(scope, name string, dims ...int) ([]float64, error) {
	path := lv.layer + "/" + scope + "/" + name
	v := lv.store.GetVariable(path)
	if v == nil {
		return nil, fmt.Errorf("%w: tensor %s is missing", ErrCheckpoint, path)
	}
	if !slices.Equal(v.Shape().Dimensions, dims) {
		return nil, fmt.Errorf("%w: tensor %s has shape %v, expected %v", ErrCheckpoint, path, v.Shape().Dimensions, dims)
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("mtlcore: reading %s: %w", path, err)
	}
	return toFloat64(t)
}

func toFloat64(t *tensors.Tensor) ([]float64, error) {
	switch t.DType() {
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out, nil
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t), nil
	}
	return nil, fmt.Errorf("mtlcore: tensor of dtype %s, expected float32 or float64", t.DType())
}

// Factors is one task's update of one layer written as an ordinary LoRA adapter, in PEFT's orientation:
// ΔW_t = Scale · B·A, with A [R, dIn] and B [dOut, R] (fact 4 of MTL-LoRA.md). For DoRA, Magnitude holds m.
type Factors struct {
	A, B      Matrix
	Scale     float64
	Magnitude []float64
}

// TaskFactors computes task t's factors of layer from the adapter variables in store.
func TaskFactors(store *model.Store, cfg Config, layer Layer, task int) (Factors, error) {
	if err := cfg.ValidateLayer(layer.DIn, layer.DOut); err != nil {
		return Factors{}, err
	}
	if task < 0 || task >= cfg.NumTasks {
		return Factors{}, fmt.Errorf("%w: task %d, expected 0..%d", ErrUnknownTask, task, cfg.NumTasks-1)
	}
	if !cfg.Method.Mergeable() {
		return Factors{}, fmt.Errorf("%w: %s routes each token by its input, so its update depends on x", ErrNotMergeable, cfg.Method)
	}
	return cfg.Method.spec().factors(layerVars{store, layer.Path}, cfg, layer.DIn, layer.DOut, task)
}

// stackedFactors builds A [k·rk, dIn] and B [dOut, k·rk] in PEFT's orientation from k blocks stored
// [k, dIn, rk] and [k, rk, dOut], weighting block i of A by aw(i) and column c of block i of B by bw(i, c)
// (nil: 1).
func stackedFactors(a, b []float64, k, rk, dIn, dOut int, aw func(i int) float64, bw func(i, c int) float64) (A, B Matrix) {
	A, B = newMatrix(k*rk, dIn), newMatrix(dOut, k*rk)
	for i := 0; i < k; i++ {
		wa := 1.0
		if aw != nil {
			wa = aw(i)
		}
		for d := 0; d < dIn; d++ {
			for j := 0; j < rk; j++ {
				A.set(i*rk+j, d, wa*a[(i*dIn+d)*rk+j])
			}
		}
		for j := 0; j < rk; j++ {
			for c := 0; c < dOut; c++ {
				wb := 1.0
				if bw != nil {
					wb = bw(i, c)
				}
				B.set(c, i*rk+j, wb*b[(i*rk+j)*dOut+c])
			}
		}
	}
	return A, B
}

func softmax(w []float64, temperature float64) []float64 {
	out := make([]float64, len(w))
	mx := math.Inf(-1)
	for _, x := range w {
		mx = max(mx, x/temperature)
	}
	var sum float64
	for i, x := range w {
		out[i] = math.Exp(x/temperature - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// Delta returns ΔW_t = Scale·B·A in GoMLX's [dIn, dOut] layout.
func (f Factors) Delta() Matrix {
	d := f.B.mul(f.A).t()
	for i := range d.Data {
		d.Data[i] *= f.Scale
	}
	return d
}

// MergedWeights returns task t's merged weights of layer, W_t = W0 + ΔW_t in GoMLX's [dIn, dOut] layout
// (DoRA: the magnitude-rescaled W0 + ΔW), as a tensor of W0's dtype.
func MergedWeights(store *model.Store, cfg Config, layer Layer, task int) (*tensors.Tensor, error) {
	f, err := TaskFactors(store, cfg, layer, task)
	if err != nil {
		return nil, err
	}
	lv := layerVars{store, layer.Path}
	w0, err := lv.read(ScopeBase, "weights", layer.DIn, layer.DOut)
	if err != nil {
		return nil, err
	}
	w := f.Delta()
	for i := range w.Data {
		w.Data[i] += w0[i]
	}
	if f.Magnitude != nil {
		for c := 0; c < layer.DOut; c++ {
			var norm float64
			for i := 0; i < layer.DIn; i++ {
				norm += w.at(i, c) * w.at(i, c)
			}
			s := f.Magnitude[c] / math.Sqrt(norm)
			for i := 0; i < layer.DIn; i++ {
				w.set(i, c, w.at(i, c)*s)
			}
		}
	}
	return fromFloat64(store.GetVariable(layer.Path+"/"+ScopeBase+"/weights").DType(), w.Data, layer.DIn, layer.DOut), nil
}

func fromFloat64(dt dtypes.DType, v []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(slices.Clone(v), dims...)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// Merge returns a new store for task t in which every adapted layer's W0 holds W_t = W0 + ΔW_t and no
// adapter variables remain: build the same model with a nil Injector on it and inference costs exactly the
// base model's. The source store is not changed (Unmerge goes back).
func Merge(store *model.Store, cfg Config, task int) (*model.Store, error) {
	merged, err := store.Clone()
	if err != nil {
		return nil, fmt.Errorf("mtlcore: merge: %w", err)
	}
	for _, l := range Layers(store) {
		w, err := MergedWeights(store, cfg, l, task)
		if err != nil {
			return nil, fmt.Errorf("mtlcore: merge layer %s: %w", l.Path, err)
		}
		if err := merged.GetVariable(l.Path + "/" + ScopeBase + "/weights").SetValue(w); err != nil {
			return nil, err
		}
		if err := merged.DeleteVariablesInScope(l.Path + "/" + ScopeAdapter); err != nil {
			return nil, err
		}
	}
	return merged, nil
}

// Unmerge subtracts task t's update, taken from the adapter store, from the merged store's weights, in
// place: W0 = W_t − ΔW_t. DoRA cannot be unmerged without the base weights it rescaled (use the original
// store instead): that is an ErrNotMergeable.
func Unmerge(merged, adapters *model.Store, cfg Config, task int) error {
	if s := cfg.Method.spec(); s != nil && s.cannotUnmerge != "" {
		return fmt.Errorf("%w: %s", ErrNotMergeable, s.cannotUnmerge)
	}
	for _, l := range Layers(adapters) {
		f, err := TaskFactors(adapters, cfg, l, task)
		if err != nil {
			return err
		}
		wt, err := layerVars{merged, l.Path}.read(ScopeBase, "weights", l.DIn, l.DOut)
		if err != nil {
			return err
		}
		d := f.Delta()
		for i := range wt {
			wt[i] -= d.Data[i]
		}
		v := merged.GetVariable(l.Path + "/" + ScopeBase + "/weights")
		if err := v.SetValue(fromFloat64(v.DType(), wt, l.DIn, l.DOut)); err != nil {
			return err
		}
	}
	return nil
}
