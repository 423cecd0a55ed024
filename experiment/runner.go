package experiment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mtlora/mtlora/mtlcore"
)

// ResultsFile is the results table of a sweep directory.
const ResultsFile = "results.parquet"

// SweepReport says what RunSweep did.
type SweepReport struct {
	Runs     []*Result // every run of the sweep, in expansion order
	Executed []string  // ids of the runs executed by this call
	Skipped  []string  // ids of the runs that had finished before
}

// RunDir is where a run keeps its checkpoints and result.
func RunDir(sweepDir, id string) string { return filepath.Join(sweepDir, "runs", id) }

// RunSweep executes the runs of a sweep in dir, parallel at a time (≥ 1): a run with a result is never
// repeated, an interrupted run resumes from its checkpoint, and the results table dir/results.parquet is
// rewritten (atomically) from every finished run at the end. onDone, if set, is called after each run.
func RunSweep(env Env, runs []Run, dir string, parallel int, onDone func(r *Result, executed bool)) (*SweepReport, error) {
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return nil, err
	}
	rep := &SweepReport{Runs: make([]*Result, len(runs))}
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, parallel) {
		wg.Go(func() {
			for i := range work {
				id := runs[i].ID()
				rd := RunDir(dir, id)
				res, done, err := ReadResult(rd)
				executed := false
				if err == nil && !done {
					res, err = Execute(env, runs[i], rd)
					executed = true
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					rep.Runs[i] = res
					if executed {
						rep.Executed = append(rep.Executed, id)
					} else {
						rep.Skipped = append(rep.Skipped, id)
					}
				}
				mu.Unlock()
				if err == nil && onDone != nil {
					onDone(res, executed)
				}
			}
		})
	}
	for i := range runs {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return rep, firstErr
	}
	return rep, WriteResults(filepath.Join(dir, ResultsFile), rep.Runs)
}

// CollectResults reads every finished run under dir/runs (for merging results written by separate jobs).
func CollectResults(dir string) ([]*Result, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "runs"))
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, e := range entries {
		if r, ok, err := ReadResult(filepath.Join(dir, "runs", e.Name())); err != nil {
			return nil, err
		} else if ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// WriteResults writes the results table: one row per run, evaluation, task and metric (task "mean" with
// metric "score" holds the evaluation's mean score), with the run's configuration, trainable parameters,
// run time and versions — atomically.
func WriteResults(path string, results []*Result) error {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "sweep", Type: arrow.BinaryTypes.String}, {Name: "run_id", Type: arrow.BinaryTypes.String},
		{Name: "benchmark", Type: arrow.BinaryTypes.String}, {Name: "method", Type: arrow.BinaryTypes.String},
		{Name: "rank", Type: arrow.PrimitiveTypes.Int32}, {Name: "n", Type: arrow.PrimitiveTypes.Int32},
		{Name: "temperature", Type: arrow.PrimitiveTypes.Float64}, {Name: "targets", Type: arrow.BinaryTypes.String},
		{Name: "seed", Type: arrow.PrimitiveTypes.Int64}, {Name: "budget_rank", Type: arrow.PrimitiveTypes.Int32},
		{Name: "trainable_params", Type: arrow.PrimitiveTypes.Int64}, {Name: "step", Type: arrow.PrimitiveTypes.Int32},
		{Name: "final", Type: arrow.FixedWidthTypes.Boolean}, {Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "metric", Type: arrow.BinaryTypes.String}, {Name: "value", Type: arrow.PrimitiveTypes.Float64},
		{Name: "seconds", Type: arrow.PrimitiveTypes.Float64}, {Name: "config", Type: arrow.BinaryTypes.String},
		{Name: "versions", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range results {
		if r == nil {
			continue
		}
		cfg, _ := json.Marshal(r.Run)
		ver, _ := json.Marshal(r.Versions)
		add := func(step int, final bool, task, metric string, value float64) {
			b.Field(0).(*array.StringBuilder).Append(r.Run.Sweep)
			b.Field(1).(*array.StringBuilder).Append(r.ID)
			b.Field(2).(*array.StringBuilder).Append(r.Run.Benchmark)
			b.Field(3).(*array.StringBuilder).Append(r.Run.Adapter.Method.String())
			b.Field(4).(*array.Int32Builder).Append(int32(r.Run.Adapter.Rank))
			b.Field(5).(*array.Int32Builder).Append(int32(r.Run.Adapter.N))
			b.Field(6).(*array.Float64Builder).Append(r.Run.Adapter.Temperature)
			b.Field(7).(*array.StringBuilder).Append(r.Run.Adapter.Targets.String())
			b.Field(8).(*array.Int64Builder).Append(r.Run.Seed)
			b.Field(9).(*array.Int32Builder).Append(int32(r.Run.BudgetRank))
			b.Field(10).(*array.Int64Builder).Append(int64(r.Run.TrainParams))
			b.Field(11).(*array.Int32Builder).Append(int32(step))
			b.Field(12).(*array.BooleanBuilder).Append(final)
			b.Field(13).(*array.StringBuilder).Append(task)
			b.Field(14).(*array.StringBuilder).Append(metric)
			b.Field(15).(*array.Float64Builder).Append(value)
			b.Field(16).(*array.Float64Builder).Append(r.Seconds)
			b.Field(17).(*array.StringBuilder).Append(string(cfg))
			b.Field(18).(*array.StringBuilder).Append(string(ver))
		}
		for k, e := range r.Fit.Evals {
			final := k == len(r.Fit.Evals)-1
			add(e.Step, final, "mean", "score", e.Score)
			for _, t := range e.Tasks {
				add(e.Step, final, t.Task, "score", t.Score)
				names := make([]string, 0, len(t.Metrics))
				for n := range t.Metrics {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					add(e.Step, final, t.Task, n, t.Metrics[n])
				}
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("experiment: results table: %w", err)
	}
	return mtlcore.WriteFileAtomic(path, buf.Bytes())
}
