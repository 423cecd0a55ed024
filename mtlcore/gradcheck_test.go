package mtlcore

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestFiniteDifferenceGradients checks every adapter's analytic gradient, for every trainable tensor, against
// central differences in float64 on a tiny layer. DoRA is checked with its norm attached (the detached
// norm is a deliberate approximation of the paper); TestDoRANormIsDetached checks the detachment.
func TestFiniteDifferenceGradients(t *testing.T) {
	b := testBackend(t)
	doraDetachNorm = false
	defer func() { doraDetachNorm = true }()
	for _, row := range testConfigs() {
		t.Run(row.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(41, 42))
			x64 := make([]float64, tBatch*tSeq*tDIn)
			for i := range x64 {
				x64[i] = rng.NormFloat64()
			}
			x := tensors.FromFlatDataAndDimensions(x64, tBatch, tSeq, tDIn)
			c := make([]float64, tBatch*tSeq*tDOut)
			for i := range c {
				c[i] = rng.NormFloat64()
			}
			weights := tensors.FromFlatDataAndDimensions(c, tBatch, tSeq, tDOut)
			store := newStore(9)
			var paths []string
			lossFn := func(scope *model.Scope, x, task, w *Node) *Node {
				return ReduceAllSum(Mul(Dense(scope.In("layer"), x, task, row.cfg, tDOut, true), w))
			}
			lossExec := model.MustNewExec(b, store, lossFn)
			lossExec.MustCall1(x, mixedTasks(), weights)
			perturb(t, store, rng)
			for _, v := range trainable(store) {
				paths = append(paths, v.Path())
			}
			gradExec := model.MustNewExec(b, store, func(scope *model.Scope, x, task, w *Node) []*Node {
				loss := lossFn(scope, x, task, w)
				var vs []*Node
				for _, p := range paths {
					vs = append(vs, scope.Store().GetVariable(p).NodeValue(x.Graph()))
				}
				return Gradient(loss, vs...)
			})
			grads := gradExec.MustCall(x, mixedTasks(), weights)
			loss := func() float64 { return lossExec.MustCall1(x, mixedTasks(), weights).Value().(float64) }
			const eps = 1e-6
			for i, p := range paths {
				v := store.GetVariable(p)
				vals := tensors.MustCopyFlatData[float64](v.MustValue())
				ana := tensors.MustCopyFlatData[float64](grads[i])
				for j := range vals {
					orig := vals[j]
					vals[j] = orig + eps
					v.MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(vals), v.Shape().Dimensions...))
					up := loss()
					vals[j] = orig - eps
					v.MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(vals), v.Shape().Dimensions...))
					down := loss()
					vals[j] = orig
					v.MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(vals), v.Shape().Dimensions...))
					num := (up - down) / (2 * eps)
					if math.Abs(num-ana[j]) > 1e-5+1e-4*math.Abs(num) {
						t.Errorf("%s[%d]: analytic %.8g, finite difference %.8g", strings.TrimPrefix(p, "/layer/adapter/"), j, ana[j], num)
					}
				}
			}
		})
	}
}

// TestDoRANormIsDetached: with the norm detached, the gradient on lora_B differs from the true one.
func TestDoRANormIsDetached(t *testing.T) {
	b := testBackend(t)
	cfg := DefaultConfig(DoRA, 1)
	cfg.Rank, cfg.Dropout, cfg.Targets = 2, 0, TargetDense
	rng := rand.New(rand.NewPCG(1, 1))
	x := randInput(rng, tBatch, tSeq, tDIn)
	zeros := tensors.FromFlatDataAndDimensions(make([]int32, tBatch), tBatch)
	store := newStore(1)
	layerExec(t, b, store, cfg).MustCall1(x, zeros)
	perturb(t, store, rng)
	gradB := func() []float32 {
		e := model.MustNewExec(b, store, func(scope *model.Scope, x, task *Node) *Node {
			y := Dense(scope.In("layer"), x, task, cfg, tDOut, true)
			return Gradient(ReduceAllSum(Square(y)), scope.Store().GetVariable("/layer/adapter/lora_B").NodeValue(x.Graph()))[0]
		})
		return flat(e.MustCall1(x, zeros))
	}
	detached := gradB()
	doraDetachNorm = false
	attached := gradB()
	doraDetachNorm = true
	if maxRelDiff(detached, attached) < 1e-3 {
		t.Errorf("detaching DoRA's norm did not change the gradient")
	}
}
