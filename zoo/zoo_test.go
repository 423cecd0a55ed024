package zoo_test

import (
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// A short multi-task training of the one-layer model on the synthetic task set: the loss falls for every
// method, and the frozen base weights never change (fact 6: no gradient reaches W0).
func TestLossFallsForEveryMethod(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	// Tasks that agree on their shared subspace: every method, task-aware or not, can fit it.
	sc := synthetic.DefaultConfig()
	sc.Conflict = 0
	ts, err := synthetic.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mtlcore.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			cfg := mtlcore.DefaultConfig(m, ts.Tasks)
			cfg.Targets, cfg.Dropout = mtlcore.TargetDense, 0
			if m == mtlcore.MoELoRA {
				cfg.N, cfg.Rank = 2, 8
			}
			store := model.NewStore()
			res := fitLinear(t, b, store, ts, cfg, 60)
			first, last := res.Losses[0], mean(res.Losses[len(res.Losses)-10:])
			t.Logf("%s: loss %.4f → %.4f", m, first, last)
			if !(last < 0.7*first) {
				t.Errorf("loss did not fall: first %.4f, mean of last 10 %.4f", first, last)
			}
			w0 := tensors.MustCopyFlatData[float32](store.GetVariable("/linear/dense/weights").MustValue())
			if !slices.Equal(w0, ts.W0) {
				t.Errorf("frozen base weights changed during training")
			}
		})
	}
}

func fitLinear(t *testing.T, b compute.Backend, store *model.Store, ts *synthetic.TaskSet, cfg mtlcore.Config, steps int) trainer.Result {
	t.Helper()
	inj, err := mtlcore.NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store.SetParam(model.ParamInitialSeed, int64(1))
	if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(b, store, zoo.Linear(inj, ts.DOut), loss.MeanSquaredError,
		ts.Dataset("synthetic", 64, 40, 7), trainer.Options{Steps: steps, LearningRate: 1e-2, NumTasks: ts.Tasks, TaskInput: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// With fully conflicting tasks (odd tasks want the opposite update of even ones) a shared LoRA can fit only
// what they agree on, while MTL-LoRA's per-task Λ_t fits each task: its final loss is far lower.
func TestMTLLoRAResolvesConflictLoRACannot(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := synthetic.New(synthetic.DefaultConfig()) // conflict 1
	if err != nil {
		t.Fatal(err)
	}
	final := map[mtlcore.Method]float64{}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		cfg := mtlcore.DefaultConfig(m, ts.Tasks)
		cfg.Targets, cfg.Dropout = mtlcore.TargetDense, 0
		res := fitLinear(t, b, model.NewStore(), ts, cfg, 100)
		final[m] = mean(res.Losses[len(res.Losses)-10:])
	}
	t.Logf("final loss: LoRA %.4f, MTL-LoRA %.4f", final[mtlcore.LoRA], final[mtlcore.MTLLoRA])
	if !(final[mtlcore.MTLLoRA] < 0.5*final[mtlcore.LoRA]) {
		t.Errorf("MTL-LoRA %.4f is not well below LoRA %.4f on conflicting tasks", final[mtlcore.MTLLoRA], final[mtlcore.LoRA])
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Regression: GoMLX v0.28.1's Go backend deadlocked ("all goroutines are asleep") on a transformer training
// step under its default parallel scheduler. Train a few steps of a small transformer with MTL-LoRA on every
// attention and feed-forward layer on the default backend configuration.
func TestTinyTransformerTrainsOnDefaultBackend(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := zoo.TinyEncoderConfig{Vocab: 16, Hidden: 32, Heads: 4, FFN: 64, Layers: 2, Tasks: 3, Classes: 2}
	ad := mtlcore.DefaultConfig(mtlcore.MTLLoRA, cfg.Tasks)
	ad.Targets = mtlcore.TargetAll
	inj, err := mtlcore.NewInjector(ad)
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.CheckLayers(cfg.LinearLayers()); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	res, err := trainer.Run(b, store, zoo.TinyEncoder(cfg, inj), loss.SparseCategoricalCrossEntropyLogits,
		bagOfTokens(cfg, 16, 12), trainer.Options{Steps: 8, LearningRate: 3e-3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != 8 {
		t.Fatalf("ran %d steps, want 8", len(res.Losses))
	}
	if got := len(mtlcore.Layers(store)); got != 12 {
		t.Errorf("adapted layers = %d, want 6 per block × 2", got)
	}
}

// bagOfTokens: task t's label is whether token t+1 occurs in the sequence.
func bagOfTokens(cfg zoo.TinyEncoderConfig, batch, seq int) train.Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	var batches []train.Batch
	for range 4 {
		toks := make([]int32, batch*seq)
		ids := make([]int32, batch)
		labels := make([]int32, batch)
		for i := 0; i < batch; i++ {
			ids[i] = int32(i % cfg.Tasks)
			for j := 0; j < seq; j++ {
				toks[i*seq+j] = int32(1 + rng.IntN(cfg.Vocab-1))
				if toks[i*seq+j] == ids[i]+1 {
					labels[i] = 1
				}
			}
		}
		batches = append(batches, train.Batch{
			Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(toks, batch, seq), tensors.FromFlatDataAndDimensions(ids, batch)},
			Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, batch, 1)},
		})
	}
	return sliceDataset(batches)
}

type sliceDataset []train.Batch

func (d sliceDataset) Name() string { return "bag-of-tokens" }
func (d sliceDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for _, b := range d {
			c, _ := b.Clone()
			if !yield(c, nil) {
				return
			}
		}
	}
}

// With pretrained (loaded) base weights, every method still starts exactly at the base model — DoRA's
// magnitude must be sized from the loaded W0, not from a fresh draw.
func TestStartsAtLoadedBase(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := synthetic.New(synthetic.DefaultConfig())
	x, ids, _ := ts.Batch(rand.New(rand.NewPCG(1, 1)), 8)
	xv := tensors.MustCopyFlatData[float32](x)
	for _, m := range mtlcore.Methods() {
		cfg := mtlcore.DefaultConfig(m, ts.Tasks)
		cfg.Targets = mtlcore.TargetDense
		inj, _ := mtlcore.NewInjector(cfg)
		store := model.NewStore()
		if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
			t.Fatal(err)
		}
		y := tensors.MustCopyFlatData[float32](model.MustNewExec(b, store, zoo.Linear(inj, ts.DOut)).MustCall1(x, ids))
		for i := 0; i < 8; i++ {
			for o := 0; o < ts.DOut; o++ {
				var want float64
				for d := 0; d < ts.DIn; d++ {
					want += float64(xv[i*ts.DIn+d]) * float64(ts.W0[d*ts.DOut+o])
				}
				if diff := float64(y[i*ts.DOut+o]) - want; diff > 1e-4 || diff < -1e-4 {
					t.Fatalf("%s: output [%d,%d] = %v, base gives %v", m, i, o, y[i*ts.DOut+o], want)
				}
			}
		}
	}
}
