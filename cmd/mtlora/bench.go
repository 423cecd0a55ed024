package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/perf"
	"github.com/mtlora/mtlora/pretrained"
)

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	groups := fs.String("groups", strings.Join(perf.Groups, ","), "comma-separated case `groups` to run: "+strings.Join(perf.Groups, ", "))
	ranks := fs.String("ranks", "8,16,64", "comma-separated adapter `ranks` of the layer cases")
	reps := fs.Int("reps", 5, "timed repetitions per case (3× for MiniLM forward passes; after one untimed first call); the table shows their median")
	modelDir := fs.String("model", "", "the `MODEL` of the minilm and pipeline cases: minilm, a checkpoint directory or hub:ORG/NAME (default: the cached all-MiniLM-L6-v2)")
	dataDir := fs.String("data", "", "prepared mtbench `DIR` (default: the cached one from `mtlora prepare-benchmark`)")
	torch := fs.String("torch", "", "PyTorch reference `FILE` written by scripts/reference/torch_bench.py --json, for the toolkit/PyTorch ratios")
	torchPython := fs.String("torch-python", "", "a `PYTHON` with torch, transformers and peft: runs "+perf.TorchScript+" --serve beside this process and\ninterleaves its cases with the toolkit's in the same rounds (the fairer ratio on a loaded machine; run from the repository root)")
	torchThreads := fs.Int("torch-threads", runtime.GOMAXPROCS(0), "PyTorch's thread count with -torch-python")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora bench [flags]

Measures the toolkit on this machine and prints one table: a float32 matrix product (the measured peak
GFLOP/s), one adapted 384×384 layer (forward + backward) per method and rank, all-MiniLM-L6-v2 at batch
32 × 128 (base forward; LoRA and MTL-LoRA r=8 on q, k, v, o: forward and AdamW training step; the MTL-LoRA
model merged for task 0, and the base forward again as an A/A control, these three through one compiled
graph with fresh weight copies before each call), and the Parquet → batches data pipeline. Then the
ratios the README quotes.
The backend is the one every command uses ($GOMLX_BACKEND; see environment.md). Seconds are medians of
-reps calls (3× as many for the MiniLM forward passes) after one untimed first call ("first s": build,
compile, run); the cases of a group are called in turn, so their ratios come from one stretch of machine
load. "added RSS" is the peak resident memory a
case added during its setup and first call.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts := perf.Options{DataDir: *dataDir}
	if *modelDir != "" {
		dir, err := pretrained.Resolve(*modelDir, pretrained.HubOptions{}, os.Stderr)
		if err != nil {
			return err
		}
		opts.ModelDir = dir
	}
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			opts.Groups = append(opts.Groups, g)
		}
	}
	for _, s := range strings.Split(*ranks, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 1 {
			return fmt.Errorf("-ranks: %q is not a positive integer", s)
		}
		opts.Ranks = append(opts.Ranks, r)
	}
	needs := func(g string) bool { return slices.Contains(opts.Groups, g) }
	if opts.ModelDir == "" && (needs("minilm") || needs("pipeline")) {
		dir, err := pretrained.MiniLM.Path()
		if err != nil {
			return fmt.Errorf("%w (or leave the minilm and pipeline groups out: -groups matmul,layer)", err)
		}
		opts.ModelDir = dir
	}
	if needs("decoder") {
		dir, err := pretrained.SmolLM2.Path()
		if err != nil {
			return fmt.Errorf("%w (or leave the decoder group out)", err)
		}
		opts.DecoderPath = filepath.Join(dir, pretrained.SmolLM2GGUF)
	}
	if opts.DataDir == "" && needs("pipeline") {
		dir, err := benchmark.Path()
		if err != nil {
			return fmt.Errorf("%w (or leave the pipeline group out)", err)
		}
		opts.DataDir = dir
	}
	if *torch != "" && *torchPython != "" {
		return fmt.Errorf("-torch and -torch-python: give one PyTorch reference")
	}
	var ref *perf.Reference
	if *torch != "" {
		var err error
		if ref, err = perf.ReadReference(*torch); err != nil {
			return err
		}
	}
	be, err := newBackend()
	if err != nil {
		return err
	}
	cases, err := perf.Cases(be, opts)
	if err != nil {
		return err
	}
	var live *perf.Torch
	if *torchPython != "" {
		if _, err := os.Stat(perf.TorchScript); err != nil {
			return fmt.Errorf("-torch-python: %s not found: run mtlora bench from the repository root", perf.TorchScript)
		}
		if opts.ModelDir == "" && opts.DecoderPath == "" {
			return fmt.Errorf("-torch-python: PyTorch runs the MiniLM and decoder cases: keep the minilm or the decoder group")
		}
		if live, err = perf.StartTorch(*torchPython, perf.TorchScript, opts.ModelDir, opts.DecoderPath, *torchThreads); err != nil {
			return err
		}
		defer live.Close()
		cases = append(cases, live.Cases(cases)...)
	}
	var results []perf.Result
	measure := func(group []perf.Case, what string, reps int) error {
		if len(group) == 0 {
			return nil
		}
		fmt.Fprintf(os.Stderr, "measuring %d %s cases, %d rounds …\n", len(group), what, reps)
		rs, err := perf.Measure(group, reps)
		results = append(results, rs...)
		return err
	}
	for _, g := range perf.Groups { // each group interleaved, so its ratios share one stretch of machine load
		var group, forward []perf.Case
		for _, c := range cases {
			switch {
			case c.Group != g:
			case g == "minilm" && strings.HasSuffix(c.Name, " forward"):
				forward = append(forward, c)
			default:
				group = append(group, c)
			}
		}
		// MiniLM forward passes are short and their ratio (merged / base: the same graph) small: 3× the rounds.
		if err := measure(forward, g+" forward", 3**reps); err != nil {
			return err
		}
		if err := measure(group, g, *reps); err != nil {
			return err
		}
	}
	source := *torch
	if live != nil {
		results, ref = perf.LiveReference(results, live)
		source = "run by " + *torchPython + " " + perf.TorchScript + " --serve, its cases interleaved with these in the same rounds"
	}
	header := fmt.Sprintf("mtlora bench — backend %s (SIMD build %v), %s, GOMAXPROCS %d, %s; %d reps per case",
		backend.Name(), backend.SIMD(), runtime.Version(), runtime.GOMAXPROCS(0), cpuModel(), *reps)
	if ref != nil {
		header += fmt.Sprintf("\nPyTorch reference: torch %s, %d threads (%s)", ref.Torch, ref.Threads, source)
	}
	return perf.WriteTable(os.Stdout, header, results, ref)
}

// cpuModel is the processor's name from /proc/cpuinfo ("unknown CPU" elsewhere).
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
