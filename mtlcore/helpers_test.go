package mtlcore

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
)

// Tiny layer sizes used by the property tests.
const (
	tDIn   = 6
	tDOut  = 5
	tTasks = 3
	tBatch = 4
	tSeq   = 3
)

// testConfigs is the table every generic property runs over: one row per method (both Λ forms for
// MTL-LoRA), each on a tiny layer.
func testConfigs() []struct {
	name string
	cfg  Config
} {
	base := func(m Method) Config {
		c := DefaultConfig(m, tTasks)
		c.Rank, c.Dropout, c.Targets = 4, 0, TargetDense
		switch m {
		case MTLLoRA:
			c.N, c.Temperature = 2, 0.5
		case MultiLoRA, HydraLoRA:
			c.N = 2
		case MoELoRA:
			c.N, c.TaskEmbeddingDim = 2, 3
		}
		return c
	}
	full := base(MTLLoRA)
	full.Lambda = LambdaFull
	none := base(MTLLoRA)
	none.Lambda = LambdaNone
	uniform := base(MTLLoRA)
	uniform.MixInit = MixUniform
	rs := base(LoRA)
	rs.RSLoRA = true
	rows := []struct {
		name string
		cfg  Config
	}{{"mtl-lora-full", full}, {"mtl-lora-no-lambda", none}, {"mtl-lora-uniform-mix", uniform}, {"lora-rslora", rs}}
	for _, m := range Methods() {
		rows = append(rows, struct {
			name string
			cfg  Config
		}{m.String(), base(m)})
	}
	return rows
}

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layerExec builds one adapted layer (with bias) over x [batch, seq, dIn] and task ids [batch].
func layerExec(t testing.TB, b compute.Backend, store *model.Store, cfg Config) *model.Exec {
	t.Helper()
	e, err := model.NewExec(b, store, func(scope *model.Scope, x, task *Node) *Node {
		return Dense(scope.In("layer"), x, task, cfg, tDOut, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newStore(seed int64) *model.Store {
	s := model.NewStore()
	s.SetParam(model.ParamInitialSeed, seed)
	return s
}

func randInput(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func mixedTasks() *tensors.Tensor {
	ids := make([]int32, tBatch)
	for i := range ids {
		ids[i] = int32(i % tTasks)
	}
	return tensors.FromFlatDataAndDimensions(ids, tBatch)
}

// perturb replaces every trainable adapter variable with random values, so that properties are checked
// away from the zero-B initialisation where many of them hold trivially.
func perturb(t testing.TB, store *model.Store, rng *rand.Rand) {
	t.Helper()
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		n := v.Shape().Size()
		var val *tensors.Tensor
		switch v.DType() {
		case dtypes.Float32:
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 0.5)
			}
			val = tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)
		case dtypes.Float64:
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = rng.NormFloat64() * 0.5
			}
			val = tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)
		default:
			continue
		}
		if err := v.SetValue(val); err != nil {
			t.Fatal(err)
		}
	}
}

func flat(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }

// maxRelDiff is max|a−b| / max(max|b|, tiny).
func maxRelDiff(a, b []float32) float64 {
	var d, scale float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return d / math.Max(scale, 1e-12)
}
