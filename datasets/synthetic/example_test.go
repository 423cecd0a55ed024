package synthetic_test

import (
	"fmt"

	"github.com/mtlora/mtlora/datasets/synthetic"
)

// With conflict 1, odd tasks want the opposite of even tasks' private update; with 0 they agree. The shared
// subspace keeps same-parity tasks at the same similarity either way.
func ExampleNew() {
	for _, conflict := range []float64{0, 1} {
		cfg := synthetic.DefaultConfig()
		cfg.Conflict = conflict
		ts, err := synthetic.New(cfg)
		if err != nil {
			panic(err)
		}
		fmt.Printf("conflict %.0f: cos(task0, task1) = %+.2f, cos(task0, task2) = %+.2f\n", conflict, ts.UpdateCosine(0, 1), ts.UpdateCosine(0, 2))
	}
	// Output:
	// conflict 0: cos(task0, task1) = +0.80, cos(task0, task2) = +0.80
	// conflict 1: cos(task0, task1) = -0.80, cos(task0, task2) = +0.80
}
