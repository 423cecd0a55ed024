package benchmark_test

import (
	"fmt"

	"github.com/mtlora/mtlora/datasets/benchmark"
)

// mtbench's six tasks and their kinds (the data itself is built by mtlora prepare-benchmark).
func ExampleTasks() {
	for _, t := range benchmark.Tasks {
		fmt.Printf("%s: %s\n", t.Name, t.Kind())
	}
	// Output:
	// spam: classification
	// sotu-party: classification
	// sotu-period: classification
	// sotu-next: text-pair classification
	// afinn: regression
	// opinion: classification
}
