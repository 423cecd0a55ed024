package plots_test

import (
	"fmt"

	"github.com/mtlora/mtlora/plots"
)

// Task i has one colour in every chart (colour-blind-safe first); a chart is built from plain values.
func ExampleLines() {
	fmt.Println(plots.TaskColor(0), plots.TaskColor(1), plots.TaskColor(2))
	chart := plots.Lines("loss per task", "read: every task learns", "step", "loss", []int{10, 20, 30},
		[]plots.Series{{Name: "spam", Y: []float64{0.7, 0.5, 0.4}}, {Name: "afinn", Y: []float64{1.2, 0.9, 0.8}}})
	fmt.Println(len(chart.MultiSeries), "series")
	// Output:
	// #0072B2 #E69F00 #009E73
	// 2 series
}
