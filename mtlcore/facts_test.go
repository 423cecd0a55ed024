package mtlcore

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

// hostDense computes x·W + b on the host: x [batch, L, dIn] flat, W [dIn, dOut] flat, per-example weights.
func hostDense(x []float32, w func(example int) []float32, bias []float32, batch, L, dIn, dOut int) []float32 {
	out := make([]float32, batch*L*dOut)
	for b := 0; b < batch; b++ {
		wb := w(b)
		for l := 0; l < L; l++ {
			for o := 0; o < dOut; o++ {
				s := float64(bias[o])
				for i := 0; i < dIn; i++ {
					s += float64(x[(b*L+l)*dIn+i]) * float64(wb[i*dOut+o])
				}
				out[(b*L+l)*dOut+o] = float32(s)
			}
		}
	}
	return out
}

func varValue(t *testing.T, s *model.Store, path string) []float32 {
	t.Helper()
	v := s.GetVariable(path)
	if v == nil {
		t.Fatalf("variable %s missing", path)
	}
	return flat(v.MustValue())
}

// Fact 2: at initialisation the adapted layer's output equals the base layer's output.
func TestFactStartsAtBase(t *testing.T) {
	b := testBackend(t)
	for _, row := range testConfigs() {
		t.Run(row.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			store := newStore(7)
			x := randInput(rng, tBatch, tSeq, tDIn)
			y := flat(layerExec(t, b, store, row.cfg).MustCall1(x, mixedTasks()))
			w0 := varValue(t, store, "/layer/dense/weights")
			bias := varValue(t, store, "/layer/dense/biases")
			want := hostDense(flat(x), func(int) []float32 { return w0 }, bias, tBatch, tSeq, tDIn, tDOut)
			if d := maxRelDiff(y, want); d > 1e-6 {
				t.Errorf("output differs from the base model at init by %g (relative), want ≤ 1e-6", d)
			}
		})
	}
}

// Fact 3: merged ≡ unmerged forward, per task, within 1e-5 relative; Merge builds a plain model; Unmerge
// restores W0.
func TestFactMergedEqualsUnmerged(t *testing.T) {
	b := testBackend(t)
	for _, row := range testConfigs() {
		t.Run(row.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			store := newStore(11)
			x := randInput(rng, tBatch, tSeq, tDIn)
			tasks := mixedTasks()
			exec := layerExec(t, b, store, row.cfg)
			exec.MustCall1(x, tasks) // creates and initialises the variables
			perturb(t, store, rng)
			y := flat(exec.MustCall1(x, tasks))
			layer := Layers(store)[0]

			if !row.cfg.Method.Mergeable() {
				if _, err := MergedWeights(store, row.cfg, layer, 0); err == nil {
					t.Fatalf("%s merged without error; its update depends on x", row.cfg.Method)
				}
				return
			}
			bias := varValue(t, store, "/layer/dense/biases")
			ids := tensors.MustCopyFlatData[int32](tasks)
			merged := make([][]float32, tTasks)
			for task := range merged {
				w, err := MergedWeights(store, row.cfg, layer, task)
				if err != nil {
					t.Fatal(err)
				}
				merged[task] = flat(w)
			}
			want := hostDense(flat(x), func(ex int) []float32 { return merged[ids[ex]] }, bias, tBatch, tSeq, tDIn, tDOut)
			if d := maxRelDiff(y, want); d > 1e-5 {
				t.Errorf("unmerged forward differs from merged weights by %g (relative), want ≤ 1e-5", d)
			}

			// Merge → a plain GoMLX Dense over the merged store gives task 1's outputs.
			mStore, err := Merge(store, row.cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			plain := model.MustNewExec(b, mStore, func(scope *model.Scope, x *Node) *Node {
				return layers.Dense(scope.In("layer"), x, true, tDOut)
			})
			ones := tensors.FromFlatDataAndDimensions([]int32{1, 1, 1, 1}, tBatch)
			yTask1 := flat(exec.MustCall1(x, ones))
			if d := maxRelDiff(flat(plain.MustCall1(x)), yTask1); d > 1e-5 {
				t.Errorf("plain model on the merged store differs by %g from the adapter for task 1", d)
			}
			if mStore.GetVariable(layer.Path+"/adapter/"+VarA) != nil {
				t.Errorf("merged store still holds adapter variables")
			}
			if row.cfg.Method == DoRA {
				if err := Unmerge(mStore, store, row.cfg, 1); err == nil {
					t.Errorf("DoRA unmerge should be refused")
				}
				return
			}
			if err := Unmerge(mStore, store, row.cfg, 1); err != nil {
				t.Fatal(err)
			}
			if d := maxRelDiff(varValue(t, mStore, "/layer/dense/weights"), varValue(t, store, "/layer/dense/weights")); d > 1e-6 {
				t.Errorf("unmerge left W0 off by %g", d)
			}
		})
	}
}

// Fact 1: with T=1, n=1 and Λ=I, MTL-LoRA is LoRA.
func TestFactReducesToLoRA(t *testing.T) {
	b := testBackend(t)
	for _, mix := range []MixInit{MixRandom, MixUniform} {
		rng := rand.New(rand.NewPCG(5, 6))
		mtl := DefaultConfig(MTLLoRA, 1)
		mtl.Rank, mtl.N, mtl.Dropout, mtl.Targets, mtl.MixInit = 4, 1, 0, TargetDense, mix
		lora := DefaultConfig(LoRA, 1)
		lora.Rank, lora.Dropout, lora.Targets = 4, 0, TargetDense

		x := randInput(rng, tBatch, tSeq, tDIn)
		zeros := tensors.FromFlatDataAndDimensions(make([]int32, tBatch), tBatch)
		sM, sL := newStore(1), newStore(1)
		eM, eL := layerExec(t, b, sM, mtl), layerExec(t, b, sL, lora)
		eM.MustCall1(x, zeros)
		eL.MustCall1(x, zeros)
		// Same W0, bias, A and a non-zero B in both.
		randB := randInput(rng, 4, tDOut)
		for path, val := range map[string]*tensors.Tensor{
			"/layer/adapter/lora_B": randB,
			"/layer/adapter/lora_A": sM.GetVariable("/layer/adapter/lora_A").MustValue(),
			"/layer/dense/weights":  sM.GetVariable("/layer/dense/weights").MustValue(),
			"/layer/dense/biases":   sM.GetVariable("/layer/dense/biases").MustValue(),
		} {
			sL.GetVariable(path).MustSetValue(tensors.FromFlatDataAndDimensions(flat(val), sL.GetVariable(path).Shape().Dimensions...))
		}
		sM.GetVariable("/layer/adapter/lora_B").MustSetValue(tensors.FromFlatDataAndDimensions(flat(randB), 1, 4, tDOut))
		yM, yL := flat(eM.MustCall1(x, zeros)), flat(eL.MustCall1(x, zeros))
		if d := maxRelDiff(yM, yL); d > 1e-6 {
			t.Errorf("mix=%s: MTL-LoRA(T=1,n=1,Λ=I) differs from LoRA by %g (relative)", mix, d)
		}
	}
}

// Fact 5: trainable parameters per layer match the formulas, both as counted in a built model and as
// worked by hand for MTL-LoRA.
func TestFactParameterCounts(t *testing.T) {
	b := testBackend(t)
	for _, row := range testConfigs() {
		t.Run(row.name, func(t *testing.T) {
			store := newStore(1)
			layerExec(t, b, store, row.cfg).MustCall1(randInput(rand.New(rand.NewPCG(1, 1)), tBatch, tSeq, tDIn), mixedTasks())
			got, frozen := 0, 0
			for v := range store.IterVariables() {
				switch {
				case v.Trainable && v.DType() == dtypes.Float32:
					got += v.Shape().Size()
				case !v.Trainable && v.DType() == dtypes.Float32:
					frozen += v.Shape().Size()
				}
			}
			if want := row.cfg.TrainableParams(tDIn, tDOut); got != want {
				t.Errorf("built layer has %d trainable parameters, formula says %d", got, want)
			}
			if frozen != tDIn*tDOut+tDOut {
				t.Errorf("frozen parameters = %d, want W0 and bias = %d", frozen, tDIn*tDOut+tDOut)
			}
		})
	}
	// By hand: r=4, dIn=6, dOut=5, n=2, T=3: r·dIn + n·r·dOut + T·r + T·n = 24 + 40 + 12 + 6.
	c := Config{Method: MTLLoRA, Rank: 4, N: 2, NumTasks: 3}
	if got := c.TrainableParams(6, 5); got != 82 {
		t.Errorf("MTL-LoRA diagonal: %d, want 82", got)
	}
	c.Lambda = LambdaFull // T·r² = 48 instead of 12
	if got := c.TrainableParams(6, 5); got != 118 {
		t.Errorf("MTL-LoRA full: %d, want 118", got)
	}
	c.Lambda = LambdaNone // no Λ: 0 instead of 12
	if got := c.TrainableParams(6, 5); got != 70 {
		t.Errorf("MTL-LoRA without Λ: %d, want 70", got)
	}
	if got := (Config{Method: LoRA, Rank: 8}).TrainableParams(384, 384); got != 6144 {
		t.Errorf("LoRA r=8 on 384×384: %d, want 6144", got)
	}
}

// Fact 6 (second half): Λ_t and w_t — and every other per-task tensor — get gradient only from examples of
// task t; shared tensors get gradient from every task.
func TestFactTaskLocalGradients(t *testing.T) {
	b := testBackend(t)
	perTask := map[Method][]string{
		MTLLoRA:     {VarLambda, VarMixLogits},
		MoELoRA:     {VarTaskEmbedding},
		PerTaskLoRA: {VarA, VarB},
	}
	for _, row := range testConfigs() {
		names, ok := perTask[row.cfg.Method]
		if !ok {
			continue
		}
		if row.cfg.Method == MTLLoRA && row.cfg.Lambda == LambdaNone {
			names = []string{VarMixLogits} // no Λ to train
		}
		t.Run(row.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			store := newStore(3)
			x := randInput(rng, tBatch, tSeq, tDIn)
			layerExec(t, b, store, row.cfg).MustCall1(x, mixedTasks())
			perturb(t, store, rng)
			grads := model.MustNewExec(b, store, func(scope *model.Scope, x, task *Node) []*Node {
				y := Dense(scope.In("layer"), x, task, row.cfg, tDOut, true)
				loss := ReduceAllSum(Square(y))
				var vs []*Node
				for _, n := range names {
					vs = append(vs, scope.Store().GetVariable("/layer/adapter/"+n).NodeValue(x.Graph()))
				}
				return Gradient(loss, vs...)
			})
			const onlyTask = 1
			ids := make([]int32, tBatch)
			for i := range ids {
				ids[i] = onlyTask
			}
			out := grads.MustCall(x, tensors.FromFlatDataAndDimensions(ids, tBatch))
			for i, g := range out {
				rowLen := g.Shape().Size() / tTasks
				vals := flat(g)
				for task := 0; task < tTasks; task++ {
					var norm float64
					for _, v := range vals[task*rowLen : (task+1)*rowLen] {
						norm += float64(v) * float64(v)
					}
					if task == onlyTask && norm == 0 {
						t.Errorf("%s[%d] got no gradient from its own task's examples", names[i], task)
					}
					if task != onlyTask && norm != 0 {
						t.Errorf("%s[%d] got gradient %g from examples of task %d", names[i], task, norm, onlyTask)
					}
				}
			}
		})
	}
}
