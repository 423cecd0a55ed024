// Package synthetic generates a multi-task regression task set small enough for tests, whose tasks' ideal
// low-rank updates share or conflict in chosen subspaces, with the degree of conflict as a parameter.
//
// # The task set
//
// A frozen base layer W0 ∈ R^{dIn×dOut} (entries N(0, 1/dIn)) is shared by T tasks. Task t's targets are
//
//	y = x·(W0 + ΔW_t) + ε,   x ~ N(0, I),   ε ~ N(0, Noise²)
//
// with an ideal update ΔW_t = Gain · Σ_j σ_t[j] · v_j u_jᵀ over orthonormal directions v_j ∈ R^{dIn},
// u_j ∈ R^{dOut}:
//
//   - SharedRank k directions used by every task. With m = round(Conflict·k), odd tasks flip the sign of
//     the first m of them: Conflict 0 means every task wants the same update; Conflict 1 means odd tasks
//     want exactly the opposite of even tasks.
//   - PrivateRank p directions of each task's own, orthogonal to everything else.
//
// So the cosine between the flattened updates of two tasks is k/(k+p) for tasks of equal parity and
// (k − 2m)/(k+p) otherwise (UpdateCosine). One shared LoRA can fit only what the tasks agree on; MTL-LoRA
// with rank k + T·p fits every task exactly (A spans the v's, Λ_t holds σ_t, B spans the u's).
package synthetic

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("synthetic: invalid task-set configuration")

// Config describes a task set. DefaultConfig gives a small one.
type Config struct {
	Tasks       int     `json:"tasks"`        // T, 2..8
	DIn         int     `json:"d_in"`         // input width
	DOut        int     `json:"d_out"`        // output width (regression targets per example)
	SharedRank  int     `json:"shared_rank"`  // k
	PrivateRank int     `json:"private_rank"` // p
	Conflict    float64 `json:"conflict"`     // in [0, 1]
	Gain        float64 `json:"gain"`         // size of the updates relative to W0's unit-variance outputs
	Noise       float64 `json:"noise"`        // target noise standard deviation
	Seed        uint64  `json:"seed"`
}

// DefaultConfig: 4 tasks, 32 → 16, shared rank 4, private rank 1, full conflict, gain 1, noise 0.01.
func DefaultConfig() Config {
	return Config{Tasks: 4, DIn: 32, DOut: 16, SharedRank: 4, PrivateRank: 1, Conflict: 1, Gain: 1, Noise: 0.01, Seed: 1}
}

// Validate checks ranges, including that every direction fits: k + T·p ≤ min(dIn, dOut).
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: field %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Tasks < 2 || c.Tasks > 8:
		return bad("tasks", "must be in 2..8, got %d", c.Tasks)
	case c.DIn < 1 || c.DOut < 1:
		return bad("d_in", "dimensions must be ≥ 1, got %d→%d", c.DIn, c.DOut)
	case c.SharedRank < 0 || c.PrivateRank < 0 || c.SharedRank+c.PrivateRank == 0:
		return bad("shared_rank", "ranks must be ≥ 0 and not both 0, got shared %d, private %d", c.SharedRank, c.PrivateRank)
	case c.SharedRank+c.Tasks*c.PrivateRank > min(c.DIn, c.DOut):
		return bad("private_rank", "shared + tasks·private = %d directions do not fit min(d_in, d_out) = %d",
			c.SharedRank+c.Tasks*c.PrivateRank, min(c.DIn, c.DOut))
	case !(c.Conflict >= 0 && c.Conflict <= 1):
		return bad("conflict", "must be in [0, 1], got %v", c.Conflict)
	case !(c.Gain > 0) || math.IsInf(c.Gain, 0):
		return bad("gain", "must be > 0, got %v", c.Gain)
	case !(c.Noise >= 0) || math.IsInf(c.Noise, 0):
		return bad("noise", "must be ≥ 0, got %v", c.Noise)
	}
	return nil
}

// TaskSet is a generated task set: the base weights and each task's ideal update.
type TaskSet struct {
	Config
	W0    []float32   // [DIn, DOut] row-major, GoMLX's Dense layout
	Delta [][]float32 // per task, [DIn, DOut]
	Sigma [][]float64 // per task, the coefficients σ_t over the k shared then T·p private directions
}

// New generates the task set for cfg; the same Config gives the same task set on every machine.
func New(cfg Config) (*TaskSet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	dirs := cfg.SharedRank + cfg.Tasks*cfg.PrivateRank
	v := orthonormal(rng, cfg.DIn, dirs)
	u := orthonormal(rng, cfg.DOut, dirs)
	ts := &TaskSet{Config: cfg, W0: make([]float32, cfg.DIn*cfg.DOut)}
	for i := range ts.W0 {
		ts.W0[i] = float32(rng.NormFloat64() / math.Sqrt(float64(cfg.DIn)))
	}
	m := int(math.Round(cfg.Conflict * float64(cfg.SharedRank)))
	for t := 0; t < cfg.Tasks; t++ {
		sigma := make([]float64, dirs)
		for j := 0; j < cfg.SharedRank; j++ {
			sigma[j] = 1
			if t%2 == 1 && j < m {
				sigma[j] = -1
			}
		}
		for j := 0; j < cfg.PrivateRank; j++ {
			sigma[cfg.SharedRank+t*cfg.PrivateRank+j] = 1
		}
		d := make([]float32, cfg.DIn*cfg.DOut)
		for i := 0; i < cfg.DIn; i++ {
			for o := 0; o < cfg.DOut; o++ {
				var s float64
				for j, sg := range sigma {
					s += sg * v[j][i] * u[j][o]
				}
				d[i*cfg.DOut+o] = float32(cfg.Gain * s)
			}
		}
		ts.Delta = append(ts.Delta, d)
		ts.Sigma = append(ts.Sigma, sigma)
	}
	return ts, nil
}

// orthonormal returns k orthonormal vectors of R^n (Gram–Schmidt on Gaussian draws).
func orthonormal(rng *rand.Rand, n, k int) [][]float64 {
	out := make([][]float64, 0, k)
	for len(out) < k {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		for _, b := range out {
			var dot float64
			for i := range v {
				dot += v[i] * b[i]
			}
			for i := range v {
				v[i] -= dot * b[i]
			}
		}
		var norm float64
		for _, x := range v {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		if norm < 1e-6 {
			continue
		}
		for i := range v {
			v[i] /= norm
		}
		out = append(out, v)
	}
	return out
}

// UpdateCosine is the cosine between the flattened ideal updates of tasks s and t.
func (ts *TaskSet) UpdateCosine(s, t int) float64 {
	var dot, ns, nt float64
	for i := range ts.Delta[s] {
		a, b := float64(ts.Delta[s][i]), float64(ts.Delta[t][i])
		dot += a * b
		ns += a * a
		nt += b * b
	}
	return dot / math.Sqrt(ns*nt)
}

// Example draws one example of task t: x [DIn] and y [DOut].
func (ts *TaskSet) Example(rng *rand.Rand, t int) (x, y []float32) {
	x = make([]float32, ts.DIn)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y = make([]float32, ts.DOut)
	for o := range y {
		s := ts.Noise * rng.NormFloat64()
		for i, xi := range x {
			s += float64(xi) * float64(ts.W0[i*ts.DOut+o]+ts.Delta[t][i*ts.DOut+o])
		}
		y[o] = float32(s)
	}
	return x, y
}

// Batch draws batchSize examples with tasks cycling 0, 1, …, T−1 (so every batch mixes every task):
// x [batch, DIn] float32, task ids [batch] int32, y [batch, DOut] float32.
func (ts *TaskSet) Batch(rng *rand.Rand, batchSize int) (x, taskIDs, y *tensors.Tensor) {
	xs := make([]float32, 0, batchSize*ts.DIn)
	ys := make([]float32, 0, batchSize*ts.DOut)
	ids := make([]int32, batchSize)
	for b := 0; b < batchSize; b++ {
		t := b % ts.Tasks
		ids[b] = int32(t)
		xe, ye := ts.Example(rng, t)
		xs = append(xs, xe...)
		ys = append(ys, ye...)
	}
	return tensors.FromFlatDataAndDimensions(xs, batchSize, ts.DIn),
		tensors.FromFlatDataAndDimensions(ids, batchSize),
		tensors.FromFlatDataAndDimensions(ys, batchSize, ts.DOut)
}

// Dataset yields numBatches batches (Inputs: x, task ids; Labels: y) for GoMLX's training loop, the same
// sequence for the same seed on every Iter call.
func (ts *TaskSet) Dataset(name string, batchSize, numBatches int, seed uint64) train.Dataset {
	return &dataset{ts: ts, name: name, batchSize: batchSize, numBatches: numBatches, seed: seed}
}

type dataset struct {
	ts                    *TaskSet
	name                  string
	batchSize, numBatches int
	seed                  uint64
}

func (d *dataset) Name() string { return d.name }

func (d *dataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		rng := rand.New(rand.NewPCG(d.seed, 0xda7a))
		for i := 0; i < d.numBatches; i++ {
			x, ids, y := d.ts.Batch(rng, d.batchSize)
			if !yield(train.Batch{Inputs: []*tensors.Tensor{x, ids}, Labels: []*tensors.Tensor{y}}, nil) {
				return
			}
		}
	}
}
