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
	"github.com/gofrs/flock"

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

// LockFile is the per-run lock a runner holds (flock(2), released by the kernel when its process dies)
// while it executes that run.
const LockFile = ".lock"

// ExecuteOnce executes the run in dir unless it has finished, holding dir's lock file so that runners
// sharing a sweep directory — parallel workers, a second `mtlora sweep` on the same directory, array jobs —
// never run it twice or write over each other. With wait, a run locked by another runner is waited for
// (and resumed here if that runner died before finishing it); without, busy reports it and returns.
func ExecuteOnce(env Env, run Run, dir string, wait bool) (res *Result, executed, busy bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, false, fmt.Errorf("run %s: cannot create its directory: %w", run.ID(), err)
	}
	if res, done, err := ReadResult(dir); err != nil || done {
		return res, false, false, err
	}
	lock := flock.New(filepath.Join(dir, LockFile))
	if wait {
		err = lock.Lock()
	} else {
		var ok bool
		if ok, err = lock.TryLock(); err == nil && !ok {
			return nil, false, true, nil
		}
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("run %s: locking %s: %w", run.ID(), lock.Path(), err)
	}
	defer lock.Unlock()
	if res, done, err := ReadResult(dir); err != nil || done { // finished by the runner that held the lock
		return res, false, false, err
	}
	res, err = Execute(env, run, dir)
	return res, err == nil, false, err
}

// RunSweep executes the runs of a sweep in dir, parallel at a time (≥ 1): a run with a result is never
// repeated, an interrupted run resumes from its checkpoint, and a run another runner is executing (its
// lock file is held) is left to it until every other run is done, then waited for. The results table
// dir/results.parquet is rewritten (atomically) at the end from every run of the sweep, so two runners on
// one directory both leave the complete table. onDone, if set, is called after each run.
func RunSweep(env Env, runs []Run, dir string, parallel int, onDone func(r *Result, executed bool)) (*SweepReport, error) {
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return nil, err
	}
	rep := &SweepReport{Runs: make([]*Result, len(runs))}
	var mu sync.Mutex
	var firstErr error
	var busy []int
	pass := func(indices []int, wait bool) {
		work := make(chan int)
		var wg sync.WaitGroup
		for range max(1, parallel) {
			wg.Go(func() {
				for i := range work {
					id := runs[i].ID()
					res, executed, isBusy, err := ExecuteOnce(env, runs[i], RunDir(dir, id), wait)
					mu.Lock()
					switch {
					case err != nil:
						if firstErr == nil {
							firstErr = err
						}
					case isBusy:
						busy = append(busy, i)
					default:
						rep.Runs[i] = res
						if executed {
							rep.Executed = append(rep.Executed, id)
						} else {
							rep.Skipped = append(rep.Skipped, id)
						}
					}
					mu.Unlock()
					if err == nil && !isBusy && onDone != nil {
						onDone(res, executed)
					}
				}
			})
		}
		for _, i := range indices {
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
	}
	all := make([]int, len(runs))
	for i := range all {
		all[i] = i
	}
	pass(all, false)
	if firstErr == nil && len(busy) > 0 {
		sort.Ints(busy)
		pass(busy, true)
	}
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
