package perf

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/zoo"
)

// Sizes of the MiniLM and layer cases: batch 32 × sequence 128 (4096 tokens), 3 tasks, 4 classes, adapters
// of rank 8 on q, k, v, o — the setting of the README table and of scripts/reference/torch_bench.py.
const (
	Batch   = 32
	SeqLen  = 128
	Tasks   = 3
	Classes = 4
	Rank    = 8
)

// The paired MiniLM forward cases (see MiniLMCases).
const (
	CaseBaseForward   = "minilm base forward"
	CaseMergedForward = "minilm mtl-lora merged forward"
	CaseBaseRepeat    = "minilm repeated base forward"
)

// MatMulCase is the case of one [m, k]·[k, n] float32 product: 2·m·k·n FLOPs. Its GFLOP/s is the measured peak
// the other cases are compared with.
func MatMulCase(be compute.Backend, m, k, n int) Case {
	return Case{
		Name: fmt.Sprintf("matmul %d×%d×%d", m, k, n), Group: "matmul", FLOPs: 2 * float64(m) * float64(k) * float64(n),
		Setup: func() (func() error, func(), error) {
			rng := rand.New(rand.NewPCG(1, 2))
			a, b := randomTensor(rng, m, k), randomTensor(rng, k, n)
			exec, err := NewExec(be, func(a, b *Node) *Node { return MatMul(a, b) })
			if err != nil {
				return nil, nil, err
			}
			return func() error {
				out, err := exec.Exec(a, b)
				if err != nil {
					return err
				}
				out[0].FinalizeAll()
				return nil
			}, exec.Finalize, nil
		},
	}
}

// LayerCase is the case of one adapted d×d linear layer of the given method and rank over 4096 tokens of 4 tasks
// mixed in the batch: forward and backward (gradients of Σy² with respect to every trainable tensor).
func LayerCase(be compute.Backend, m mtlcore.Method, r, d int) Case {
	return Case{
		Name: fmt.Sprintf("layer %s r=%d", m, r), Group: "layer",
		Setup: func() (func() error, func(), error) {
			cfg := mtlcore.DefaultConfig(m, 4)
			cfg.Rank, cfg.Targets, cfg.Dropout = r, mtlcore.TargetDense, 0
			for cfg.N > 1 && cfg.ValidateLayer(d, d) != nil {
				cfg.N-- // a method whose components split the rank (MoELoRA's experts) needs n to divide r
			}
			if err := cfg.ValidateLayer(d, d); err != nil {
				return nil, nil, err
			}
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(1))
			rng := rand.New(rand.NewPCG(1, 2))
			x := randomTensor(rng, Batch, SeqLen, d)
			ids := make([]int32, Batch)
			for i := range ids {
				ids[i] = int32(i % 4)
			}
			tasks := tensors.FromFlatDataAndDimensions(ids, Batch)
			exec, err := model.NewExec(be, store, func(scope *model.Scope, x, task *Node) []*Node {
				y := mtlcore.Dense(scope.In("layer"), x, task, cfg, d, true)
				l := ReduceAllSum(Square(y))
				var vs []*Node
				for v := range scope.Store().IterVariables() {
					if v.Trainable && v.InUseByGraph(x.Graph()) {
						vs = append(vs, v.NodeValue(x.Graph()))
					}
				}
				return append([]*Node{l}, Gradient(l, vs...)...)
			})
			if err != nil {
				return nil, nil, err
			}
			return func() error { return finalize(exec.Call(x, tasks)) }, exec.Finalize, nil
		},
	}
}

// BERTFLOPs counts the forward pass of a BERT encoder over batch × seq tokens: 2 FLOPs per multiply-add of
// the q, k, v, o and feed-forward products and of the two attention products (scores and context). Rank-r
// adapters add 2·2·(dIn + dOut)·r per token and layer, under 1% here, and are left out. A training step of
// a model whose encoder weights are frozen costs twice the forward: the backward pass needs gradients with
// respect to the activations (the same products again) but not the frozen weights.
func BERTFLOPs(cfg zoo.BERTConfig, batch, seq int) float64 {
	tokens := float64(batch * seq)
	h, f := float64(cfg.Hidden), float64(cfg.Intermediate)
	linear := 2 * tokens * (4*h*h + 2*h*f)
	attention := 2 * 2 * float64(batch) * float64(seq) * float64(seq) * h // QKᵀ and PV over all heads
	return float64(cfg.Layers) * (linear + attention)
}

// MiniLMCases are the all-MiniLM-L6-v2 cases at batch 32 × 128 (every token real, no padding) with three
// per-task heads: the base model's forward; forward and training step (AdamW, dropout as in config.json)
// with LoRA and with MTL-LoRA on q, k, v, o; the forward of the MTL-LoRA model with task 0 merged into its
// weights (mtlcore.Merge), which must cost what the base costs; and the base forward repeated, a control.
func MiniLMCases(be compute.Backend, dir string) ([]Case, error) {
	ck, err := pretrained.Open(dir)
	if err != nil {
		return nil, err
	}
	inputs := bertBatch(ck.Config)
	fwd := BERTFLOPs(ck.Config, Batch, SeqLen)
	load := func() (*model.Store, error) {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(1))
		_, err := ck.LoadWeights(store, "")
		return store, err
	}
	forward := func(name string, inj *mtlcore.Injector, store func() (*model.Store, error)) Case {
		return Case{Name: name, Group: "minilm", FLOPs: fwd, Rows: Batch,
			Setup: func() (func() error, func(), error) {
				s, err := store()
				if err != nil {
					return nil, nil, err
				}
				fn := zoo.BERTTaskModel(ck.Config, inj, ck.Pooling, Tasks, Classes)
				exec, err := model.NewExec(be, s, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) })
				if err != nil {
					return nil, nil, err
				}
				return func() error {
						return finalize(exec.Call(inputs.Inputs[0], inputs.Inputs[1], inputs.Inputs[2], inputs.Inputs[3]))
					},
					exec.Finalize, nil
			}}
	}
	injectors := map[mtlcore.Method]*mtlcore.Injector{}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		cfg := mtlcore.DefaultConfig(m, Tasks)
		cfg.Rank, cfg.Targets, cfg.Dropout = Rank, mtlcore.TargetAttention, 0 // as torch_bench.py (lora_dropout=0)
		inj, err := mtlcore.NewInjector(cfg)
		if err != nil {
			return nil, err
		}
		injectors[m] = inj
	}
	mtl := injectors[mtlcore.MTLLoRA]
	// The base, the merged and the repeated base forward (an A/A control: repeated base / base is the
	// resolution of merged / base in the same run) run one compiled graph — the merged model is the base
	// architecture — with the case's weights copied afresh into backend memory before each call, untimed, so
	// that no case keeps one placement for the whole run: as separate sessions two copies of the base
	// differed by 10–20% either way on the README's machine, and in one session a second copy of the base
	// weights measured 1.06 against the first (one run, where merged / base was 1.03).
	var pair *pairedForward
	paired := func(name string, weights int) Case {
		return Case{Name: name, Group: "minilm", FLOPs: fwd, Rows: Batch,
			Prepare: func() error { return pair.use(weights) },
			Setup: func() (func() error, func(), error) {
				if pair == nil {
					p, err := newPairedForward(be, ck, mtl, load)
					if err != nil {
						return nil, nil, err
					}
					pair = p
				}
				pair.users++
				return func() error {
						return finalize(pair.exec.Call(inputs.Inputs[0], inputs.Inputs[1], inputs.Inputs[2], inputs.Inputs[3]))
					}, func() {
						if pair.users--; pair.users == 0 {
							pair.release()
							pair = nil // a later Setup builds it anew
						}
					}, nil
			}}
	}
	cases := []Case{
		paired(CaseBaseForward, baseWeights), paired(CaseMergedForward, mergedWeights), paired(CaseBaseRepeat, baseWeights),
	}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		cases = append(cases, forward(fmt.Sprintf("minilm %s forward", m), injectors[m], load))
	}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		inj := injectors[m]
		cases = append(cases, Case{
			Name: fmt.Sprintf("minilm %s train step", m), Group: "minilm", FLOPs: 2 * fwd, Rows: Batch,
			Setup: func() (func() error, func(), error) {
				store, err := load()
				if err != nil {
					return nil, nil, err
				}
				tr := train.NewTrainer(be, store, zoo.BERTTaskModel(ck.Config, inj, ck.Pooling, Tasks, Classes),
					loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(1e-3).WeightDecay(0.01).Done(), nil, nil)
				return func() error {
					b, err := inputs.Clone()
					if err != nil {
						return err
					}
					_, err = tr.TrainStep(b)
					return err
				}, func() {}, nil
			}})
	}
	return cases, nil
}

// The weight sets of pairedForward.
const (
	baseWeights = iota
	mergedWeights
)

// pairedForward is one executable of the base forward over a store whose weights are switched between the
// base values and those of mtlcore.Merge, each call on a fresh copy in backend memory.
type pairedForward struct {
	backend compute.Backend
	exec    *model.Exec
	vars    []*model.Variable
	sets    [2][]*tensors.Tensor // by baseWeights, mergedWeights
	current []*tensors.Tensor    // the copies the variables hold
	users   int                  // cases set up and not yet released
}

func newPairedForward(be compute.Backend, ck *pretrained.Checkpoint, mtl *mtlcore.Injector, load func() (*model.Store, error)) (*pairedForward, error) {
	store, err := load()
	if err != nil {
		return nil, err
	}
	adapted, err := load()
	if err != nil {
		return nil, err
	}
	if err := initAdapters(be, adapted, ck.Config, mtl); err != nil {
		return nil, err
	}
	mergedStore, err := mtlcore.Merge(adapted, mtl.Config, 0)
	if err != nil {
		return nil, err
	}
	p := &pairedForward{backend: be}
	for v := range store.IterVariables() {
		m := mergedStore.GetVariable(v.Path())
		if m == nil {
			continue
		}
		bt, err := v.Value()
		if err != nil {
			return nil, err
		}
		mt, err := m.Value()
		if err != nil {
			return nil, err
		}
		if !bt.Shape().Equal(mt.Shape()) {
			return nil, fmt.Errorf("perf: merged variable %s is %s, the base's is %s", v.Path(), mt.Shape(), bt.Shape())
		}
		p.vars = append(p.vars, v)
		p.sets[baseWeights], p.sets[mergedWeights] = append(p.sets[baseWeights], bt), append(p.sets[mergedWeights], mt)
	}
	p.current = make([]*tensors.Tensor, len(p.vars))
	fn := zoo.BERTTaskModel(ck.Config, nil, ck.Pooling, Tasks, Classes)
	p.exec, err = model.NewExec(be, store, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) })
	return p, err
}

// use puts a fresh backend copy of one weight set into the executable's store, freeing the previous copies.
func (p *pairedForward) use(set int) error {
	for i, v := range p.vars {
		fresh, err := p.sets[set][i].OnDeviceClone(p.backend, 0)
		if err != nil {
			return err
		}
		if err := v.SetValuePreservingOld(fresh); err != nil {
			return err
		}
		if p.current[i] != nil {
			if err := p.current[i].FinalizeAll(); err != nil {
				return err
			}
		}
		p.current[i] = fresh
	}
	return nil
}

func (p *pairedForward) release() {
	p.exec.Finalize()
	for _, t := range p.current {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}

// initAdapters creates the adapter variables of inj in store with random up-projections (a freshly
// initialised B is zero, which would make the merge trivially the base weights).
func initAdapters(be compute.Backend, store *model.Store, cfg zoo.BERTConfig, inj *mtlcore.Injector) error {
	fn := zoo.BERTTaskModel(cfg, inj, zoo.PoolCLS, Tasks, Classes)
	small := bertInputs(cfg, 2, 8)
	exec, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) })
	if err != nil {
		return err
	}
	defer exec.Finalize()
	if err := finalize(exec.Call(small[0], small[1], small[2], small[3])); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for v := range store.IterVariables() {
		if v.Trainable && v.Name() == mtlcore.VarB {
			t, err := v.Value()
			if err != nil {
				return err
			}
			if err := v.SetValue(randomTensor(rng, t.Shape().Dimensions...)); err != nil {
				return err
			}
		}
	}
	return nil
}

// PipelineCase is the data-pipeline case: read the mtbench Parquet file (by row group), validate every row,
// tokenize every training example with MiniLM's tokenizer and assemble 32 × 128 batches, cache cold.
func PipelineCase(dataDir, modelDir string) Case {
	rows := new(int)
	return Case{Name: "pipeline parquet → batches", Group: "pipeline", RowCount: func() int { return *rows },
		Setup: func() (func() error, func(), error) {
			tok, err := pretrained.LoadTokenizer(modelDir)
			if err != nil {
				return nil, nil, err
			}
			c := rows
			return func() error {
				set, err := benchmark.Load(dataDir, datasets.ReadOptions{})
				if err != nil {
					return err
				}
				*c = 0
				batches := &datasets.Batches{Set: set, Tokenizer: tok, Split: datasets.Train, BatchSize: Batch, SeqLen: SeqLen}
				for b, err := range batches.Iter() {
					if err != nil {
						return err
					}
					*c += b.Inputs[0].Shape().Dimensions[0]
				}
				return nil
			}, func() {}, nil
		}}
}

// bertBatch is a fixed batch of random token ids with every position real, example i on task i mod 3.
func bertBatch(cfg zoo.BERTConfig) train.Batch {
	in := bertInputs(cfg, Batch, SeqLen)
	labels := make([]int32, Batch)
	for i := range labels {
		labels[i] = int32(i % Classes)
	}
	return train.Batch{Inputs: in, Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, Batch, 1)}}
}

func bertInputs(cfg zoo.BERTConfig, batch, seq int) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(5, 6))
	ids, types, mask := make([]int32, batch*seq), make([]int32, batch*seq), make([]int32, batch*seq)
	for i := range ids {
		ids[i], mask[i] = int32(1+rng.IntN(cfg.Vocab-1)), 1
	}
	tasks := make([]int32, batch)
	for i := range tasks {
		tasks[i] = int32(i % Tasks)
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, batch, seq), tensors.FromFlatDataAndDimensions(types, batch, seq),
		tensors.FromFlatDataAndDimensions(mask, batch, seq), tensors.FromFlatDataAndDimensions(tasks, batch)}
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(rng.NormFloat64()) * 0.05
		}
	})
	return t
}

// finalize frees the outputs of a call (their values are not needed) and passes its error on.
func finalize(out []*tensors.Tensor, err error) error {
	for _, t := range out {
		t.FinalizeAll()
	}
	return err
}

// Options choose the cases of a run.
type Options struct {
	Groups      []string // of "matmul", "layer", "minilm", "pipeline", "decoder"; empty: all
	Ranks       []int    // layer ranks; empty: 8, 16, 64
	ModelDir    string   // all-MiniLM-L6-v2 checkpoint; "" skips the minilm and pipeline cases
	DataDir     string   // prepared mtbench; "" skips the pipeline case
	DecoderPath string   // SmolLM2's GGUF; needed by the decoder cases
}

// Groups are the case groups, in table order.
var Groups = []string{"matmul", "layer", "minilm", "pipeline", "decoder"}

// Cases returns the cases opts select. A selected group whose inputs are missing (no checkpoint, no data)
// is an error that says how to get them, not a silent omission.
func Cases(be compute.Backend, opts Options) ([]Case, error) {
	want := func(g string) bool { return len(opts.Groups) == 0 || slices.Contains(opts.Groups, g) }
	for _, g := range opts.Groups {
		if !slices.Contains(Groups, g) {
			return nil, fmt.Errorf("perf: unknown case group %q (expected one of %s)", g, strings.Join(Groups, ", "))
		}
	}
	ranks := opts.Ranks
	if len(ranks) == 0 {
		ranks = []int{8, 16, 64}
	}
	var cases []Case
	if want("matmul") {
		cases = append(cases, MatMulCase(be, 2048, 2048, 2048), MatMulCase(be, Batch*SeqLen, 384, 1536))
	}
	if want("layer") {
		for _, r := range ranks {
			for _, m := range mtlcore.Methods() {
				cases = append(cases, LayerCase(be, m, r, 384))
			}
		}
	}
	if want("minilm") || want("pipeline") {
		if opts.ModelDir == "" {
			return nil, fmt.Errorf("perf: the minilm and pipeline cases need all-MiniLM-L6-v2: run `mtlora fetch-model` (or select -groups matmul,layer)")
		}
	}
	if want("minilm") {
		mc, err := MiniLMCases(be, opts.ModelDir)
		if err != nil {
			return nil, err
		}
		cases = append(cases, mc...)
	}
	if want("pipeline") {
		if opts.DataDir == "" {
			return nil, fmt.Errorf("perf: the pipeline case needs mtbench: run `mtlora prepare-benchmark` (or leave out the pipeline group)")
		}
		cases = append(cases, PipelineCase(opts.DataDir, opts.ModelDir))
	}
	if want("decoder") {
		if opts.DecoderPath == "" {
			return nil, fmt.Errorf("perf: the decoder cases need SmolLM2: run `mtlora fetch-model smollm2-135m` (or leave out the decoder group)")
		}
		dc, err := DecoderCases(be, opts.DecoderPath)
		if err != nil {
			return nil, err
		}
		cases = append(cases, dc...)
	}
	return cases, nil
}
