package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// demoRow is one method's result: held-out mean squared error per task.
type demoRow struct {
	Method      string    `json:"method"`
	Params      int       `json:"trainable_params"`
	TaskMSE     []float64 `json:"task_mse"`
	MeanMSE     float64   `json:"mean_mse"`
	FinalLoss   float64   `json:"final_train_loss,omitempty"`
	TrainSecond float64   `json:"train_seconds"`
}

func runDemoSynthetic(args []string) error {
	fs := flag.NewFlagSet("demo -benchmark synthetic", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora demo -benchmark synthetic [flags]

Fine-tunes every adapter method on the synthetic multi-task regression set (datasets/synthetic): a frozen
linear layer W0 shared by T tasks whose ideal low-rank updates agree or conflict (-conflict). It prints each
method's trainable parameters and held-out mean squared error per task. With the default -conflict 1, odd
tasks want exactly the opposite update of even ones: task-agnostic methods (LoRA, DoRA, MultiLoRA,
HydraLoRA) can only fit what the tasks share, MTL-LoRA's per-task Λ_t fits each task.

Flags:
`)
		fs.PrintDefaults()
	}
	syn := synthetic.DefaultConfig()
	fs.IntVar(&syn.Tasks, "tasks", syn.Tasks, "number of tasks T (2..8)")
	fs.Float64Var(&syn.Conflict, "conflict", syn.Conflict, "degree of conflict between tasks' updates, 0 (agree) to 1 (opposite)")
	fs.IntVar(&syn.SharedRank, "shared-rank", syn.SharedRank, "rank of the subspace all tasks' updates share")
	fs.IntVar(&syn.PrivateRank, "private-rank", syn.PrivateRank, "rank of each task's private update")
	seed := fs.Uint64("seed", 1, "seed of the task set, the data order and the initialisation")
	rank := fs.Int("rank", 8, "adapter rank r (MoELoRA: split over -n experts)")
	n := fs.Int("n", 2, "components n: MTL-LoRA up-projections, MultiLoRA pairs, MoELoRA experts, HydraLoRA heads")
	tau := fs.Float64("tau", 0.5, "MTL-LoRA temperature τ")
	steps := fs.Int("steps", 300, "training steps per method")
	batch := fs.Int("batch", 64, "examples per batch (tasks mixed in every batch)")
	lr := fs.Float64("lr", 1e-2, "AdamW learning rate")
	methods := fs.String("methods", "all", "comma-separated methods to run (lora, mtl-lora, multilora, moelora, hydralora, dora, per-task-lora) or all")
	jsonOut := fs.String("json", "", "also write the results table as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	syn.Seed = *seed
	ts, err := synthetic.New(syn)
	if err != nil {
		return err
	}
	var run []mtlcore.Method
	if *methods == "all" {
		run = mtlcore.Methods()
	} else {
		for _, name := range strings.Split(*methods, ",") {
			m, err := mtlcore.ParseMethod(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			run = append(run, m)
		}
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Printf("Synthetic task set: %d tasks, %d → %d, shared rank %d, private rank %d, conflict %.2f (cos(task0, task1) = %+.2f)\n",
		ts.Tasks, ts.DIn, ts.DOut, ts.SharedRank, ts.PrivateRank, ts.Conflict, ts.UpdateCosine(0, 1))
	fmt.Printf("Backend %s; %d steps × batch %d per method; held-out MSE on 512 examples per task.\n\n", backend.Name(), *steps, *batch)

	baseStore := model.NewStore()
	if err := zoo.SetLinearBase(baseStore, ts.W0, ts.DIn, ts.DOut); err != nil {
		return err
	}
	rows := []demoRow{evalRow(b, baseStore, ts, nil, "base (no adapter)", *seed)}
	for _, m := range run {
		cfg := mtlcore.DefaultConfig(m, ts.Tasks)
		cfg.Rank, cfg.Targets, cfg.Dropout = *rank, mtlcore.TargetDense, 0
		switch m {
		case mtlcore.MTLLoRA:
			cfg.N, cfg.Temperature = *n, *tau
		case mtlcore.MultiLoRA, mtlcore.MoELoRA, mtlcore.HydraLoRA:
			cfg.N = *n
		}
		inj, err := mtlcore.NewInjector(cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if err := inj.CheckLayers(map[string][2]int{zoo.LinearScope: {ts.DIn, ts.DOut}}); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(*seed))
		if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
			return err
		}
		start := time.Now()
		bar := newProgress(m.String(), *steps)
		res, err := trainer.Run(b, store, zoo.Linear(inj, ts.DOut), loss.MeanSquaredError,
			ts.Dataset("synthetic-train", *batch, *steps, *seed),
			trainer.Options{Steps: *steps, LearningRate: *lr, NumTasks: ts.Tasks, TaskInput: 1},
			func(step int, l float64) { bar.update(step, l) })
		bar.done()
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		row := evalRow(b, store, ts, inj, m.String(), *seed)
		row.Params = cfg.TrainableParams(ts.DIn, ts.DOut)
		row.FinalLoss = res.Losses[len(res.Losses)-1]
		row.TrainSecond = time.Since(start).Seconds()
		rows = append(rows, row)
	}
	printTable(os.Stdout, rows, ts.Tasks)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(map[string]any{"synthetic": syn, "steps": *steps, "batch": *batch, "rows": rows}, "", "  ")
		if err := mtlcore.WriteFileAtomic(*jsonOut, append(data, '\n')); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", *jsonOut)
	}
	return nil
}

// evalRow measures held-out MSE per task of the Linear model on store (inj nil: the base layer alone).
func evalRow(b compute.Backend, store *model.Store, ts *synthetic.TaskSet, inj *mtlcore.Injector, name string, seed uint64) demoRow {
	exec := model.MustNewExec(b, store, zoo.Linear(inj, ts.DOut))
	rng := rand.New(rand.NewPCG(seed, 0xe7a1)) // held out: a stream the training data never uses
	row := demoRow{Method: name, TaskMSE: make([]float64, ts.Tasks)}
	const perTask = 512
	count := make([]int, ts.Tasks)
	for range perTask * ts.Tasks / 128 {
		x, ids, y := ts.Batch(rng, 128)
		pred := tensors.MustCopyFlatData[float32](exec.MustCall1(x, ids))
		yv := tensors.MustCopyFlatData[float32](y)
		idv := tensors.MustCopyFlatData[int32](ids)
		for i, t := range idv {
			for o := 0; o < ts.DOut; o++ {
				d := float64(pred[i*ts.DOut+o] - yv[i*ts.DOut+o])
				row.TaskMSE[t] += d * d / float64(ts.DOut)
			}
			count[t]++
		}
	}
	for t := range row.TaskMSE {
		row.TaskMSE[t] /= float64(count[t])
		row.MeanMSE += row.TaskMSE[t] / float64(ts.Tasks)
	}
	return row
}

func printTable(w *os.File, rows []demoRow, tasks int) {
	fmt.Fprintf(w, "\n%-18s %8s", "method", "params")
	for t := 0; t < tasks; t++ {
		fmt.Fprintf(w, " %8s", fmt.Sprintf("task%d", t))
	}
	fmt.Fprintf(w, " %8s %7s\n", "mean", "time")
	for _, r := range rows {
		fmt.Fprintf(w, "%-18s %8d", r.Method, r.Params)
		for _, v := range r.TaskMSE {
			fmt.Fprintf(w, " %8.4f", v)
		}
		fmt.Fprintf(w, " %8.4f %6.1fs\n", r.MeanMSE, r.TrainSecond)
	}
	fmt.Fprintf(w, "\nHeld-out mean squared error per task (lower is better); params = trainable adapter parameters.\n")
}

// progress is a one-line progress bar with ETA on stderr.
type progress struct {
	name  string
	total int
	start time.Time
	last  time.Time
}

func newProgress(name string, total int) *progress {
	return &progress{name: name, total: total, start: time.Now()}
}

func (p *progress) update(step int, loss float64) {
	now := time.Now()
	if step != p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	filled := width * step / p.total
	eta := time.Duration(float64(now.Sub(p.start)) / float64(step) * float64(p.total-step))
	fmt.Fprintf(os.Stderr, "\r%-14s [%s%s] %4d/%d loss %.4f ETA %s   ", p.name,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), step, p.total, loss, eta.Round(100*time.Millisecond))
}

func (p *progress) done() {
	fmt.Fprintf(os.Stderr, "\r%-14s done in %s%s\n", p.name, time.Since(p.start).Round(10*time.Millisecond), strings.Repeat(" ", 60))
}
