package synthetic

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/mtlora/mtlora/datasets"
)

// The synthetic task set through the interfaces of package datasets: a fixed draw of examples as an Arrow
// record batch (so it can be written to Parquet or IPC and read back with datasets.Scan), and a training
// dataset whose tasks are chosen by a datasets.Sampler, like the text benchmark's.

// Sample is a fixed draw of examples: PerTask examples of each task, task-major.
type Sample struct {
	TaskSet *TaskSet
	PerTask int
	X, Y    [][]float32 // [Tasks·PerTask][DIn], [Tasks·PerTask][DOut]
}

// Draw draws perTask examples of every task, deterministically for a seed.
func (ts *TaskSet) Draw(perTask int, seed uint64) *Sample {
	rng := rand.New(rand.NewPCG(seed, 0x5a4d))
	s := &Sample{TaskSet: ts, PerTask: perTask}
	for t := range ts.Tasks {
		for range perTask {
			x, y := ts.Example(rng, t)
			s.X, s.Y = append(s.X, x), append(s.Y, y)
		}
	}
	return s
}

// Pools lists each task's example indices, for datasets.NewSampler.
func (s *Sample) Pools() [][]int {
	pools := make([][]int, s.TaskSet.Tasks)
	for i := range s.X {
		pools[i/s.PerTask] = append(pools[i/s.PerTask], i)
	}
	return pools
}

// Record returns the sample as one Arrow record batch: task (string "task0", …), x (fixed-size list of DIn
// float32), y (fixed-size list of DOut float32). The caller releases it.
func (s *Sample) Record(mem memory.Allocator) arrow.RecordBatch {
	ts := s.TaskSet
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "x", Type: arrow.FixedSizeListOf(int32(ts.DIn), arrow.PrimitiveTypes.Float32)},
		{Name: "y", Type: arrow.FixedSizeListOf(int32(ts.DOut), arrow.PrimitiveTypes.Float32)},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range s.X {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("task%d", i/s.PerTask))
		for f, v := range [][]float32{s.X[i], s.Y[i]} {
			lb := b.Field(1 + f).(*array.FixedSizeListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Float32Builder).AppendValues(v, nil)
		}
	}
	return b.NewRecordBatch()
}

// Dataset returns a training dataset of steps batches whose examples are chosen by a datasets.Sampler over
// the sample (inputs x [batch, DIn], task ids [batch]; labels y [batch, DOut]). Successive Iter calls continue
// the sampler's stream.
func (s *Sample) Dataset(name string, batchSize, steps int, cfg datasets.SamplerConfig) (train.Dataset, error) {
	st, err := s.Stream(batchSize, cfg)
	if err != nil {
		return nil, err
	}
	return &sampledDataset{name: name, steps: steps, stream: st}, nil
}

type sampledDataset struct {
	name   string
	steps  int
	stream *Stream
}

func (d *sampledDataset) Name() string { return d.name }

func (d *sampledDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for range d.steps {
			if !yield(d.stream.Next()) {
				return
			}
		}
	}
}

// Stream is a deterministic stream of training batches drawn from a sample by a datasets.Sampler; it is the
// trainer.Data of synthetic runs (Skip replays the sampler, so a resumed run sees the same batches).
type Stream struct {
	s         *Sample
	batchSize int
	sampler   *datasets.Sampler
}

// Stream returns a training stream of batches of batchSize.
func (s *Sample) Stream(batchSize int, cfg datasets.SamplerConfig) (*Stream, error) {
	sampler, err := datasets.NewSampler(s.Pools(), cfg)
	if err != nil {
		return nil, err
	}
	return &Stream{s: s, batchSize: batchSize, sampler: sampler}, nil
}

// Next returns the next batch: inputs x [batch, DIn], task ids [batch]; labels y [batch, DOut].
func (st *Stream) Next() (train.Batch, error) {
	ts := st.s.TaskSet
	xs := make([]float32, 0, st.batchSize*ts.DIn)
	ys := make([]float32, 0, st.batchSize*ts.DOut)
	ids := make([]int32, st.batchSize)
	for r := range ids {
		task, i := st.sampler.Next()
		ids[r] = int32(task)
		xs, ys = append(xs, st.s.X[i]...), append(ys, st.s.Y[i]...)
	}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(xs, st.batchSize, ts.DIn), tensors.FromFlatDataAndDimensions(ids, st.batchSize)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ys, st.batchSize, ts.DOut)},
	}, nil
}

// Skip moves past n batches.
func (st *Stream) Skip(n int) error {
	for range n * st.batchSize {
		st.sampler.Next()
	}
	return nil
}

// TaskBatches returns one batch per task holding all of that task's examples of the sample: for per-task
// evaluation and per-task gradients.
func (s *Sample) TaskBatches() []train.Batch {
	ts := s.TaskSet
	out := make([]train.Batch, ts.Tasks)
	for t := range ts.Tasks {
		var xs, ys []float32
		ids := make([]int32, s.PerTask)
		for i := range s.PerTask {
			xs, ys = append(xs, s.X[t*s.PerTask+i]...), append(ys, s.Y[t*s.PerTask+i]...)
			ids[i] = int32(t)
		}
		out[t] = train.Batch{
			Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(xs, s.PerTask, ts.DIn), tensors.FromFlatDataAndDimensions(ids, s.PerTask)},
			Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ys, s.PerTask, ts.DOut)}}
	}
	return out
}

// TaskMSE returns the mean squared error of each task of the sample under a model x, task ids → y run on
// store.
func (s *Sample) TaskMSE(b compute.Backend, store *model.Store, modelFn func(*model.Scope, *graph.Node, *graph.Node) *graph.Node) ([]float64, error) {
	e, err := model.NewExec(b, store, modelFn)
	if err != nil {
		return nil, err
	}
	var out []float64
	for t, batch := range s.TaskBatches() {
		res, err := e.Call(batch.Inputs[0], batch.Inputs[1])
		if err != nil {
			return nil, err
		}
		y := tensors.MustCopyFlatData[float32](res[0])
		var mse float64
		for i := range s.PerTask {
			for o := range s.TaskSet.DOut {
				d := float64(y[i*s.TaskSet.DOut+o] - s.Y[t*s.PerTask+i][o])
				mse += d * d / float64(s.PerTask*s.TaskSet.DOut)
			}
		}
		out = append(out, mse)
	}
	return out, nil
}
