package pretrained

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// randomBatch is a batch of random tokens with ragged padding, types and task ids, and class labels.
func randomBatch(cfg zoo.BERTConfig, batch, seq, tasks, classes int) train.Batch {
	rng := rand.New(rand.NewPCG(5, 6))
	ids, types, mask := make([]int32, batch*seq), make([]int32, batch*seq), make([]int32, batch*seq)
	taskIDs, labels := make([]int32, batch), make([]int32, batch)
	for i := range batch {
		n := 2 + rng.IntN(seq-1)
		for j := range n {
			ids[i*seq+j], mask[i*seq+j] = int32(1+rng.IntN(cfg.Vocab-1)), 1
			if j >= n/2 && cfg.TypeVocab > 1 {
				types[i*seq+j] = 1
			}
		}
		taskIDs[i], labels[i] = int32(i%tasks), int32(rng.IntN(classes))
	}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, batch, seq), tensors.FromFlatDataAndDimensions(types, batch, seq),
			tensors.FromFlatDataAndDimensions(mask, batch, seq), tensors.FromFlatDataAndDimensions(taskIDs, batch)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, batch, 1)},
	}
}

type oneBatch struct{ b train.Batch }

func (d oneBatch) Name() string { return "one batch" }
func (d oneBatch) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for {
			c, err := d.b.Clone()
			if !yield(c, err) {
				return
			}
		}
	}
}

func snapshot(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		if v.DType().IsFloat() {
			out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

// hiddenOf runs the encoder (with inj's adapters, or none) on the batch and returns its last hidden state.
func hiddenOf(t *testing.T, b compute.Backend, store *model.Store, cfg zoo.BERTConfig, inj *mtlcore.Injector, batch train.Batch) []float32 {
	t.Helper()
	enc := zoo.BERT(cfg, inj)
	e, err := model.NewExec(b, store, func(scope *model.Scope, inputs []*Node) *Node {
		return enc(scope, zoo.BERTInputs{Tokens: inputs[0], TypeIDs: inputs[1], Mask: inputs[2]}, inputs[3])
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3])
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// checkAdaptersOnEncoder checks, for one checkpoint and method: with adapters on q, k, v, o and B = 0 the
// encoder's output equals the base encoder's within float rounding, and one training step changes adapter
// and head variables only — every pretrained tensor is untouched.
func checkAdaptersOnEncoder(t *testing.T, b compute.Backend, dir string, m mtlcore.Method, batchSize, seq int) {
	ck, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const tasks, classes = 3, 2
	batch := randomBatch(ck.Config, batchSize, seq, tasks, classes)
	baseStore := model.NewStore()
	if _, err := ck.LoadWeights(baseStore, ""); err != nil {
		t.Fatal(err)
	}
	base := hiddenOf(t, b, baseStore, ck.Config, nil, batch)

	cfg := mtlcore.DefaultConfig(m, tasks)
	cfg.Targets, cfg.Dropout = mtlcore.TargetAttention, 0
	if m == mtlcore.MoELoRA {
		cfg.N, cfg.Rank = 2, 8
	}
	inj, err := mtlcore.NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.CheckLayers(ck.Config.LinearLayers()); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(7))
	if _, err := ck.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	adapted := hiddenOf(t, b, store, ck.Config, inj, batch)
	// Equal up to float rounding: the adapted layers compute W0·x on x flattened to rows (one Gemm with the
	// bias on ONNX Runtime), the plain encoder's Dense on the batched activation.
	for i := range base {
		if d := adapted[i] - base[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("%s: with B = 0, hidden[%d] = %v differs from the base encoder's %v", m, i, adapted[i], base[i])
		}
	}

	before := snapshot(store)
	tc := ck.Config
	tc.HiddenDropout, tc.AttentionDropout = 0, 0
	_, err = trainer.Run(b, store, zoo.BERTTaskModel(tc, inj, ck.Pooling, tasks, classes), loss.SparseCategoricalCrossEntropyLogits,
		oneBatch{batch}, trainer.Options{Steps: 1, LearningRate: 1e-2, NumTasks: tasks, TaskInput: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for v := range store.IterVariables() {
		path := v.Path()
		old, ok := before[path]
		if !ok || !v.DType().IsFloat() {
			continue // created by the training step (heads, optimizer state)
		}
		if !slices.Equal(old, tensors.MustCopyFlatData[float32](v.MustValue())) {
			changed = append(changed, path)
			if !strings.Contains(path, "/"+mtlcore.ScopeAdapter+"/") {
				t.Errorf("%s: pretrained variable %s changed in a training step", m, path)
			}
		}
	}
	if len(changed) == 0 {
		t.Errorf("%s: no adapter variable changed in a training step", m)
	}
	t.Logf("%s: %d variables changed in one step, e.g. %v", m, len(changed), changed[:min(2, len(changed))])
	heads := store.GetVariable("/" + zoo.BERTHeads + "/weights")
	if heads == nil || !heads.Trainable {
		t.Errorf("%s: task heads missing or frozen", m)
	}
}

// Every method on the tiny checkpoint; LoRA and MTL-LoRA on all-MiniLM-L6-v2 (skipped when the model is not
// fetched, unless MTLORA_REQUIRE_MODELS=1).
func TestAdaptersOnPretrainedEncoder(t *testing.T) {
	b := backend.MustNew()
	tiny := writeCheckpoint(t, tinyConfig(), tinyTensors(tinyConfig()))
	for _, m := range mtlcore.Methods() {
		t.Run("tiny/"+m.String(), func(t *testing.T) { checkAdaptersOnEncoder(t, b, tiny, m, 6, 8) })
	}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		t.Run("MiniLM/"+m.String(), func(t *testing.T) {
			checkAdaptersOnEncoder(t, b, requireMiniLM(t), m, 4, 16)
		})
	}
}

// The data pipeline plugs into GoMLX's training loop: a two-task CSV dataset, tokenized into fixed-shape
// batches by datasets.Batches with a temperature sampler, trains MTL-LoRA on the tiny checkpoint.
func TestTrainsOnDatasetsBatches(t *testing.T) {
	dir := dirWithTokenizer(t, writeCheckpoint(t, tinyConfig(), tinyTensors(tinyConfig())))
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("task,text,label\n")
	for i := range 40 {
		fmt.Fprintf(&csv, "even,w%d w%d,%d\n", 4+i%30, 5+i%30, i%2)
		fmt.Fprintf(&csv, "odd,w%d w%d w%d,%d\n", 6+i%30, 4+i%20, 7+i%10, (i/2)%2)
	}
	path := filepath.Join(t.TempDir(), "tasks.csv")
	if err := os.WriteFile(path, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := datasets.Load(datasets.Spec{Name: "toy", Path: path, Tasks: []datasets.TaskSpec{
		{Name: "even", Labels: []string{"0", "1"}}, {Name: "odd", Labels: []string{"0", "1"}}}}, datasets.ReadOptions{}, 0.2, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	ds := &datasets.Batches{Set: set, Tokenizer: m.Tokenizer, Split: datasets.Train, BatchSize: 8, SeqLen: 8, Steps: 20,
		Sampler: datasets.SamplerConfig{Strategy: datasets.Temperature, Temperature: 2, Seed: 1}}
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
	cfg.Dropout = 0
	inj, err := mtlcore.NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	classLoss := func(labels, logits []*Node) *Node { // labels: class, value, weight; classification only here
		return loss.SparseCategoricalCrossEntropyLogits(labels[:1], logits)
	}
	res, err := trainer.Run(backend.MustNew(), m.Store, zoo.BERTTaskModel(m.Config, inj, m.Pooling, 2, 2), classLoss, ds,
		trainer.Options{Steps: 20, LearningRate: 1e-2, NumTasks: 2, TaskInput: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != 20 {
		t.Fatalf("%d steps", len(res.Losses))
	}
	t.Logf("loss %.3f → %.3f", res.Losses[0], res.Losses[19])
}
