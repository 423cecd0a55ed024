package experiment

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/trainer"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/gofrs/flock"
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
	untested := func(res *Result) bool { return run.Test && res.Test == nil } // finished, but its test evaluation is not
	if res, done, err := ReadResult(dir); err != nil || done && !untested(res) {
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
	if res, done, err := ReadResult(dir); err != nil || done && !untested(res) { // finished by the runner that held the lock
		return res, false, false, err
	} else if done {
		res, err = testRun(env, run, dir)
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

// TableResults reads the finished runs that dir's results table lists — the runs of the last plan run in
// dir, in the table's order — and how many other finished runs dir/runs holds (runs of earlier plans in the
// same folder: never mixed in).
func TableResults(dir string) (results []*Result, others int, err error) {
	all, err := CollectResults(dir)
	if err != nil {
		return nil, 0, err
	}
	byID := map[string]*Result{}
	for _, r := range all {
		byID[r.ID] = r
	}
	seen := map[string]bool{}
	err = datasets.Scan(filepath.Join(dir, ResultsFile), datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
		idx := rec.Schema().FieldIndices("run_id")
		if len(idx) != 1 {
			return fmt.Errorf("experiment: %s has no run_id column", filepath.Join(dir, ResultsFile))
		}
		col := rec.Column(idx[0])
		for i := range col.Len() {
			id := col.ValueStr(i)
			if seen[id] {
				continue
			}
			seen[id] = true
			r, ok := byID[id]
			if !ok {
				return fmt.Errorf("experiment: %s lists run %s, which %s does not hold finished", filepath.Join(dir, ResultsFile), id, filepath.Join(dir, "runs"))
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return results, len(all) - len(results), nil
}

// WriteResults writes the results table: one row per run, evaluation, task and metric (task "mean" with
// metric "score" holds the evaluation's mean score), atomically. Its columns are plan and run_id; one column
// per hyperparameter, named as the hyperparameter (Hyperparameters: numbers as numbers, lists and typed
// values as text); num_tasks and trainable_params; step, final (the rows of the evaluation the run reports,
// Result.Final), split (validation, or test for Result.Test), task, metric, value; seconds, the whole
// resolved configuration as JSON (config) and the versions.
func WriteResults(path string, results []*Result) error {
	mem := memory.NewGoAllocator()
	hps := Hyperparameters()
	fields := []arrow.Field{{Name: "plan", Type: arrow.BinaryTypes.String}, {Name: "run_id", Type: arrow.BinaryTypes.String}}
	for _, h := range hps {
		fields = append(fields, arrow.Field{Name: h.Name, Type: columnType(h)})
	}
	fields = append(fields,
		arrow.Field{Name: "num_tasks", Type: arrow.PrimitiveTypes.Int64}, arrow.Field{Name: "trainable_params", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "step", Type: arrow.PrimitiveTypes.Int64}, arrow.Field{Name: "final", Type: arrow.FixedWidthTypes.Boolean},
		arrow.Field{Name: "split", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "task", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "metric", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "value", Type: arrow.PrimitiveTypes.Float64}, arrow.Field{Name: "seconds", Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: "config", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "versions", Type: arrow.BinaryTypes.String})
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range results {
		if r == nil {
			continue
		}
		cfg, _ := json.Marshal(r.Run.Config)
		ver, _ := json.Marshal(r.Versions)
		c := r.Run.Config
		add := func(step int, final bool, split datasets.Split, task, metric string, value float64) {
			b.Field(0).(*array.StringBuilder).Append(r.Run.Plan)
			b.Field(1).(*array.StringBuilder).Append(r.ID)
			col := 2
			for _, h := range hps {
				appendValue(b.Field(col), h, &c)
				col++
			}
			b.Field(col).(*array.Int64Builder).Append(int64(c.NumTasks))
			b.Field(col + 1).(*array.Int64Builder).Append(int64(r.Run.TrainableParams))
			b.Field(col + 2).(*array.Int64Builder).Append(int64(step))
			b.Field(col + 3).(*array.BooleanBuilder).Append(final)
			b.Field(col + 4).(*array.StringBuilder).Append(split.String())
			b.Field(col + 5).(*array.StringBuilder).Append(task)
			b.Field(col + 6).(*array.StringBuilder).Append(metric)
			b.Field(col + 7).(*array.Float64Builder).Append(value)
			b.Field(col + 8).(*array.Float64Builder).Append(r.Seconds)
			b.Field(col + 9).(*array.StringBuilder).Append(string(cfg))
			b.Field(col + 10).(*array.StringBuilder).Append(string(ver))
		}
		addEval := func(e trainer.Eval, final bool, split datasets.Split) {
			add(e.Step, final, split, "mean", "score", e.Score)
			for _, t := range e.Tasks {
				add(e.Step, final, split, t.Task, "score", t.Score)
				names := make([]string, 0, len(t.Metrics))
				for n := range t.Metrics {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					add(e.Step, final, split, t.Task, n, t.Metrics[n])
				}
			}
		}
		for k, e := range r.Fit.Evals {
			addEval(e, r.Test == nil && k == len(r.Fit.Evals)-1, datasets.Validation)
		}
		if r.Test != nil {
			addEval(*r.Test, true, datasets.Test)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(path, schema, rec)
}

// writeParquet writes one record batch as a Zstd-compressed Parquet file, atomically.
func writeParquet(path string, schema *arrow.Schema, rec arrow.RecordBatch) error {
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("experiment: %s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes())
}

// columnType is the results-table type of a hyperparameter: integers and floats as numbers, booleans as
// booleans, everything else (names, lists) as text.
func columnType(h Hyperparameter) arrow.DataType {
	if h.Field.Type.Implements(textMarshaler) {
		return arrow.BinaryTypes.String
	}
	switch h.Field.Type.Kind() {
	case reflect.Int, reflect.Int64:
		return arrow.PrimitiveTypes.Int64
	case reflect.Float64:
		return arrow.PrimitiveTypes.Float64
	case reflect.Bool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

func appendValue(b array.Builder, h Hyperparameter, c *Config) {
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(h.Get(c).Int())
	case *array.Float64Builder:
		b.Append(h.Get(c).Float())
	case *array.BooleanBuilder:
		b.Append(h.Get(c).Bool())
	case *array.StringBuilder:
		b.Append(h.String(c))
	}
}

// TotalProgress turns the per-run step callbacks of a set of runs into progress over all of them: report
// gets the steps done so far in all runs, their total, and the latest loss. Safe for parallel runs; call the
// returned function with a run's last step to count a run that finished before as done.
func TotalProgress(runs []Run, report func(done, total int, loss float64)) func(run Run, step int, loss float64) {
	total := 0
	for _, r := range runs {
		total += r.Config.Steps
	}
	var mu sync.Mutex
	done := map[string]int{}
	return func(r Run, step int, loss float64) {
		mu.Lock()
		defer mu.Unlock()
		done[r.ID()] = step
		sum := 0
		for _, s := range done {
			sum += s
		}
		report(sum, total, loss)
	}
}
