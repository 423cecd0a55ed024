package perf_test

import (
	"fmt"

	"github.com/mtlora/mtlora/perf"
)

// A case is set up once, called once untimed-as-steady (First), then timed in interleaved rounds; the
// table's ratios come from the same stretch of machine load. (Times differ per machine: only what does not
// is printed.)
func ExampleMeasure() {
	calls := 0
	sum := perf.Case{Name: "sum", Group: "example", Rows: 1000, Setup: func() (func() error, func(), error) {
		x := make([]float64, 1000)
		return func() error {
			calls++
			s := 0.0
			for _, v := range x {
				s += v
			}
			_ = s
			return nil
		}, func() {}, nil
	}}
	res, err := perf.Measure([]perf.Case{sum}, 5)
	if err != nil {
		panic(err)
	}
	fmt.Println(res[0].Name, len(res[0].Seconds), "timed repetitions,", calls, "calls in all")
	// Output:
	// sum 5 timed repetitions, 6 calls in all
}
