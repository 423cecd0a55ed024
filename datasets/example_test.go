package datasets_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mtlora/mtlora/datasets"
)

// A bare CSV with the default column names: InferSpec finds its tasks, their kinds and labels; Load reads
// it under that spec, with a stable hash split.
func ExampleInferSpec() {
	dir, _ := os.MkdirTemp("", "data")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mine.csv")
	os.WriteFile(path, []byte("task,text,label\n"+
		"sentiment,great film,pos\nsentiment,awful film,neg\n"+
		"stars,fine product,3.5\nstars,bad product,1.0\n"+
		"flag,spam here,True\nflag,hello friend,false\n"), 0o644)
	spec, err := datasets.InferSpec(path, datasets.ReadOptions{})
	if err != nil {
		panic(err)
	}
	for _, t := range spec.Tasks {
		fmt.Printf("%s: %s %q\n", t.Name, t.Kind(), t.Labels)
	}
	set, err := datasets.Load(spec, datasets.ReadOptions{}, 0.1, 0.1)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(set.Examples), "examples")
	// Output:
	// sentiment: classification ["neg" "pos"]
	// stars: regression []
	// flag: classification ["false" "True"]
	// 6 examples
}

// Labels match by value: 1, 1.0 and "1" are one class; true and True are one boolean.
func ExampleLabelKey() {
	fmt.Println(datasets.LabelKey("1") == datasets.LabelKey("1.0"), datasets.LabelKey("True") == datasets.LabelKey("true"),
		datasets.LabelKey("Yes") == datasets.LabelKey("yes"))
	// Output:
	// true true false
}
