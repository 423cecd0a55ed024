package trainer_test

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// syntheticRun is a small MTL-LoRA run on the synthetic task set: store, model, data stream and an
// evaluator (per-task held-out MSE; score = −MSE).
type syntheticRun struct {
	b     compute.Backend
	store *model.Store
	fn    func(*model.Scope, []*Node) *Node
	data  trainer.Data
	eval  trainer.Evaluator
	cfg   trainer.FitConfig
}

func newSyntheticRun(t testing.TB, seed int64) *syntheticRun {
	t.Helper()
	b := backend.MustNew()
	sc := synthetic.DefaultConfig()
	ts, err := synthetic.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, ts.Tasks)
	cfg.Targets = mtlcore.TargetDense // dropout stays on: resume must restore the random state too
	inj, err := mtlcore.NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
		t.Fatal(err)
	}
	linear := zoo.Linear(inj, ts.DOut)
	fn := func(scope *model.Scope, in []*Node) *Node { return linear(scope, in[0], in[1]) }
	stream, err := ts.Draw(64, 1).Stream(32, datasets.SamplerConfig{Strategy: datasets.Temperature, Temperature: 2, Seed: uint64(seed)})
	if err != nil {
		t.Fatal(err)
	}
	held := ts.Draw(64, 2)
	eval := func(step int) ([]trainer.TaskMetrics, error) {
		mse, err := held.TaskMSE(b, store, linear)
		if err != nil {
			return nil, err
		}
		var out []trainer.TaskMetrics
		for task, m := range mse {
			out = append(out, trainer.TaskMetrics{Task: fmt.Sprintf("task%d", task), Metrics: map[string]float64{"mse": m}, Score: -m})
		}
		return out, nil
	}
	return &syntheticRun{b: b, store: store, fn: fn, data: stream, eval: eval, cfg: trainer.FitConfig{
		Steps: 40, LearningRate: 1e-2, WeightDecay: 1e-3, Warmup: 5, Schedule: "cosine", ClipNorm: 1,
		EvalEvery: 10, CheckpointEvery: 1, Seed: seed, NumTasks: ts.Tasks, TaskInput: 1}}
}

func (r *syntheticRun) fit(t testing.TB, dir string, onStep func(int, float64)) *trainer.FitResult {
	t.Helper()
	res, err := trainer.Fit(r.b, r.store, r.fn, loss.MeanSquaredError, r.data, r.eval, r.cfg, dir, onStep)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func adapterWeights(store *model.Store) map[string][]float32 {
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		if strings.Contains(v.Path(), "/adapter/") {
			out[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	return out
}

func sameWeights(t *testing.T, a, b map[string][]float32) {
	t.Helper()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d vs %d adapter variables", len(a), len(b))
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			t.Fatalf("%s differs", k)
		}
	}
}

// The same seed twice gives identical losses, metrics and weights; another seed does not.
func TestFitDeterministic(t *testing.T) {
	r1, r2 := newSyntheticRun(t, 7), newSyntheticRun(t, 7)
	a, b := r1.fit(t, "", nil), r2.fit(t, "", nil)
	if !slices.Equal(a.Losses, b.Losses) || fmt.Sprint(a.Evals) != fmt.Sprint(b.Evals) {
		t.Fatalf("same seed, different runs:\n%v\n%v", a.Losses, b.Losses)
	}
	sameWeights(t, adapterWeights(r1.store), adapterWeights(r2.store))
	if c := newSyntheticRun(t, 8).fit(t, "", nil); slices.Equal(a.Losses, c.Losses) {
		t.Error("different seeds, same losses")
	}
	if len(a.Evals) != 4 || a.Best == nil || !(a.Evals[3].Score > a.Evals[0].Score) {
		t.Errorf("evaluations %+v: the score should improve", a.Evals)
	}
}

// The in-graph learning-rate schedule is the documented one (warm-up, then cosine decay).
func TestFitSchedule(t *testing.T) {
	r := newSyntheticRun(t, 1)
	r.cfg.Steps, r.cfg.EvalEvery = 12, 0
	var lrs []float64
	r.fit(t, "", func(step int, _ float64) {
		for v := range r.store.IterVariables() {
			if strings.HasSuffix(v.Path(), "/learning_rate") {
				lrs = append(lrs, float64(tensors.MustCopyFlatData[float32](v.MustValue())[0]))
			}
		}
	})
	for step, got := range lrs {
		if want := r.cfg.LearningRateAt(step); got-want > 1e-7 || want-got > 1e-7 {
			t.Errorf("step %d: learning rate %g, schedule %g", step, got, want)
		}
	}
	if len(lrs) != 12 {
		t.Fatalf("%d learning rates", len(lrs))
	}
}

// Early stopping: evaluations that never improve on the first stop the run after Patience of them.
func TestFitEarlyStopping(t *testing.T) {
	r := newSyntheticRun(t, 1)
	r.cfg.EvalEvery, r.cfg.Patience = 5, 2
	scores := []float64{1, 0.5, 0.4, 0.3}
	r.eval = func(step int) ([]trainer.TaskMetrics, error) {
		return []trainer.TaskMetrics{{Task: "t", Score: scores[step/5-1]}}, nil
	}
	res := r.fit(t, t.TempDir(), nil)
	if res.Stopped != "early stopping" || res.Step != 15 || res.Best.Step != 5 {
		t.Errorf("stopped %q at step %d, best at %d; want early stopping at 15, best at 5", res.Stopped, res.Step, res.Best.Step)
	}
}

// A run killed with SIGKILL at a random moment 20 times — each time restarted from its directory, so kills
// land in steps, in evaluations and in checkpoint writes alike — ends with exactly the losses, metrics and
// weights of an uninterrupted run with the same seed.
func TestFitKilledAndResumed(t *testing.T) {
	const steps, kills = 150, 20
	if dir := os.Getenv("MTLORA_FIT_CHILD_DIR"); dir != "" {
		r := newSyntheticRun(t, 3)
		r.cfg.Steps = steps
		r.fit(t, dir, func(step int, _ float64) { fmt.Printf("step %d\n", step) })
		return
	}
	ref := newSyntheticRun(t, 3)
	ref.cfg.Steps = steps
	want := ref.fit(t, "", nil)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	dir := t.TempDir()
	var resumedAt []int
	for range kills {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestFitKilledAndResumed$")
		cmd.Env = append(os.Environ(), "MTLORA_FIT_CHILD_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if sc.Scan() { // training again: kill it a random moment later
			n, _ := strconv.Atoi(strings.TrimPrefix(sc.Text(), "step "))
			resumedAt = append(resumedAt, n)
			time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		_ = cmd.Wait()
	}
	r := newSyntheticRun(t, 3)
	r.cfg.Steps = steps
	got := r.fit(t, dir, nil)
	t.Logf("%d kills; the restarts resumed at steps %v", kills, resumedAt)
	if len(resumedAt) < kills/2 || !slices.IsSorted(resumedAt) {
		t.Fatalf("restarts resumed at %v: expected most of the %d kills to land during training, never going back", resumedAt, kills)
	}
	if !slices.Equal(got.Losses, want.Losses) || fmt.Sprint(got.Evals) != fmt.Sprint(want.Evals) {
		t.Fatalf("resumed run differs:\n got %v\nwant %v", got.Losses, want.Losses)
	}
	sameWeights(t, adapterWeights(r.store), adapterWeights(ref.store))
}

// poisoned feeds the run's batches but gives the rows of one task NaN targets from step `at` on.
type poisoned struct {
	trainer.Data
	step, at, task int
}

func (p *poisoned) Next() (b train.Batch, err error) {
	if b, err = p.Data.Next(); err != nil {
		return b, err
	}
	p.step++
	if p.step < p.at {
		return b, nil
	}
	ids := tensors.MustCopyFlatData[int32](b.Inputs[1])
	y := tensors.MustCopyFlatData[float32](b.Labels[0])
	per := len(y) / len(ids)
	for i, id := range ids {
		if int(id) == p.task {
			for j := range per {
				y[i*per+j] = float32(math.NaN())
			}
		}
	}
	b.Labels[0] = tensors.FromFlatDataAndDimensions(y, b.Labels[0].Shape().Dimensions...)
	return b, nil
}

func (p *poisoned) Skip(n int) error { p.step += n; return p.Data.Skip(n) }

// A NaN loss stops the run naming the step and the task whose rows caused it; the checkpoint of the step
// before is kept, and a run resumed from it with clean data finishes.
func TestFitNonFiniteLossNamesStepAndTask(t *testing.T) {
	dir := t.TempDir()
	r := newSyntheticRun(t, 1)
	r.cfg.TaskNames = []string{"alpha", "beta", "gamma", "delta"}[:r.cfg.NumTasks]
	r.data = &poisoned{Data: r.data, at: 7, task: 1}
	first, err := trainer.Fit(r.b, r.store, r.fn, loss.MeanSquaredError, r.data, r.eval, r.cfg, dir, nil)
	if !errors.Is(err, trainer.ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	for _, want := range []string{"step 7", `task "beta"`, "checkpoint of step 6"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("error blames a clean task: %v", err)
	}
	clean := newSyntheticRun(t, 1)
	res := clean.fit(t, dir, nil)
	if res.Step != clean.cfg.Steps || math.IsNaN(res.Losses[len(res.Losses)-1]) {
		t.Fatalf("resumed run: step %d, losses %v", res.Step, res.Losses)
	}
	// its time counts the first attempt's up to the checkpoint it resumed
	if res.Resumed <= 0 || res.Resumed > first.Seconds || res.Seconds <= res.Resumed {
		t.Errorf("seconds: first attempt %g, resumed with %g, in all %g", first.Seconds, res.Resumed, res.Seconds)
	}
}

// smallDisk mounts a tmpfs of the given size at a temporary directory (unmounted at cleanup): a disk that
// fills up. It needs root (CI runs as root); elsewhere the test is skipped, saying so.
func smallDisk(t *testing.T, size int) string {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs to fill (needs root): %v", size, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	return dir
}

// fill writes a file into dir until the file system is full.
func fill(t *testing.T, dir string) string {
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return p
		}
	}
}

// A disk that fills up while a checkpoint is saved: the run stops with the error (no space left, naming
// the checkpoint), LATEST still names the previous checkpoint, and once space is freed the run resumes
// from it and ends exactly like an uninterrupted run.
func TestFitDiskFullKeepsThePreviousCheckpoint(t *testing.T) {
	disk := smallDisk(t, 1<<20)
	ref := newSyntheticRun(t, 3)
	want := ref.fit(t, "", nil)
	r := newSyntheticRun(t, 3)
	var filler string
	_, err := trainer.Fit(r.b, r.store, r.fn, loss.MeanSquaredError, r.data, r.eval, r.cfg, disk, func(step int, _ float64) {
		if step == 12 {
			filler = fill(t, disk) // the checkpoint of step 12 is written after this
		}
	})
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want no space left on device", err)
	}
	if !strings.Contains(err.Error(), "step 12") || !strings.Contains(err.Error(), "previous checkpoint is kept") {
		t.Errorf("error does not name the checkpoint and what is kept: %v", err)
	}
	latest, err := os.ReadFile(filepath.Join(disk, "checkpoints", "LATEST"))
	if err != nil || strings.TrimSpace(string(latest)) != "step-00000011" {
		t.Fatalf("LATEST = %q (%v), want step-00000011", latest, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	again := newSyntheticRun(t, 3)
	got := again.fit(t, disk, nil)
	if !slices.Equal(got.Losses, want.Losses) || fmt.Sprint(got.Evals) != fmt.Sprint(want.Evals) {
		t.Fatalf("resumed run differs:\n got %v\nwant %v", got.Losses, want.Losses)
	}
	sameWeights(t, adapterWeights(again.store), adapterWeights(ref.store))
}

// A run checkpointing every step keeps only its last two checkpoints; LATEST names the newest.
func TestFitKeepsTheLastTwoCheckpoints(t *testing.T) {
	dir := t.TempDir()
	r := newSyntheticRun(t, 3)
	r.fit(t, dir, nil)
	entries, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "step-") {
			steps = append(steps, e.Name())
		}
	}
	want := []string{fmt.Sprintf("step-%08d", r.cfg.Steps-1), fmt.Sprintf("step-%08d", r.cfg.Steps)}
	if !slices.Equal(steps, want) {
		t.Fatalf("checkpoints %v, want %v", steps, want)
	}
}

// Data-parallel training: the same run over two devices of the backend (XLA CPU has four) ends with the
// one-device run's losses and weights up to float rounding — the batch split along its first axis, one
// logical step partitioned by XLA. Skipped on a backend with one device (the Go backend).
func TestFitDataParallelMatchesOneDevice(t *testing.T) {
	if n := backend.MustNew().NumDevices(); n < 2 {
		t.Skipf("backend %s has %d device", backend.Name(), n)
	}
	one, two := newSyntheticRun(t, 3), newSyntheticRun(t, 3)
	one.cfg.Steps, two.cfg.Steps = 6, 6
	two.cfg.Devices = 2
	a, b := one.fit(t, "", nil), two.fit(t, "", nil)
	worst := 0.0
	for i := range a.Losses {
		worst = max(worst, math.Abs(a.Losses[i]-b.Losses[i]))
	}
	wa, wb := adapterWeights(one.store), adapterWeights(two.store)
	for k, v := range wa {
		for i := range v {
			worst = max(worst, math.Abs(float64(v[i]-wb[k][i])))
		}
	}
	if worst > 1e-5 {
		t.Errorf("two devices differ from one by %g (losses %v vs %v)", worst, a.Losses, b.Losses)
	}
	t.Logf("6 steps on 2 devices vs 1: worst |Δ| of losses and adapter weights %.2g", worst)
	three := newSyntheticRun(t, 3)
	three.cfg.Devices, three.cfg.Steps = 3, 1
	if _, err := trainer.Fit(three.b, three.store, three.fn, loss.MeanSquaredError, three.data, three.eval, three.cfg, "", nil); err == nil ||
		!strings.Contains(err.Error(), "field devices") {
		t.Errorf("3 devices for batches of 32: %v", err)
	}
}
