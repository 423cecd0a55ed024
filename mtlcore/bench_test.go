package mtlcore

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Benchmark sizes: one MiniLM-sized layer (d=384), 32 sequences × 128 tokens = 4096 tokens, 4 tasks.
const (
	benchD     = 384
	benchBatch = 32
	benchSeq   = 128
	benchTasks = 4
)

func benchConfig(m Method, r int) Config {
	c := DefaultConfig(m, benchTasks)
	c.Rank, c.Targets, c.Dropout = r, TargetDense, 0
	if m == MoELoRA {
		c.N = 2 // r ∈ {8, 16, 64} must split evenly over the experts
	}
	return c
}

// layerStep returns a function running one forward+backward pass (gradients of sum(y²) with respect to
// every trainable tensor) of one adapted layer.
func layerStep(b testing.TB, be compute.Backend, cfg Config) func() {
	store := newStore(1)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randInput(rng, benchBatch, benchSeq, benchD)
	ids := make([]int32, benchBatch)
	for i := range ids {
		ids[i] = int32(i % benchTasks)
	}
	tasks := tensors.FromFlatDataAndDimensions(ids, benchBatch)
	exec := model.MustNewExec(be, store, func(scope *model.Scope, x, task *Node) []*Node {
		y := Dense(scope.In("layer"), x, task, cfg, benchD, true)
		loss := ReduceAllSum(Square(y))
		var vs []*Node
		for v := range scope.Store().IterVariables() {
			if v.Trainable && v.InUseByGraph(x.Graph()) {
				vs = append(vs, v.NodeValue(x.Graph()))
			}
		}
		return append([]*Node{loss}, Gradient(loss, vs...)...)
	})
	step := func() {
		for _, t := range exec.MustCall(x, tasks) {
			t.FinalizeAll()
		}
	}
	step() // compile and initialise outside the timing
	return step
}

// BenchmarkAdaptedLayer: forward+backward of one adapted 384×384 layer over 4096 tokens, every method,
// r ∈ {8, 16, 64}.
func BenchmarkAdaptedLayer(b *testing.B) {
	be := testBackend(b)
	for _, r := range []int{8, 16, 64} {
		for _, m := range Methods() {
			b.Run(fmt.Sprintf("r=%d/%s", r, m), func(b *testing.B) {
				step := layerStep(b, be, benchConfig(m, r))
				b.ResetTimer()
				for range b.N {
					step()
				}
			})
		}
	}
}

// BenchmarkMTLLoRAvsLoRA alternates MTL-LoRA and LoRA steps at equal rank in one loop, so the reported
// ratio (mtl/lora) comes from one run under the same machine load.
func BenchmarkMTLLoRAvsLoRA(b *testing.B) {
	be := testBackend(b)
	for _, r := range []int{8, 16, 64} {
		b.Run(fmt.Sprintf("r=%d", r), func(b *testing.B) {
			mtl, lora := layerStep(b, be, benchConfig(MTLLoRA, r)), layerStep(b, be, benchConfig(LoRA, r))
			var tm, tl time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				mtl()
				t1 := time.Now()
				lora()
				tl += time.Since(t1)
				tm += t1.Sub(t0)
			}
			b.ReportMetric(float64(tm)/float64(tl), "mtl/lora")
			b.ReportMetric(float64(tm.Milliseconds())/float64(b.N), "mtl-ms/op")
			b.ReportMetric(float64(tl.Milliseconds())/float64(b.N), "lora-ms/op")
		})
	}
}
