package metrics_test

import (
	"fmt"

	"github.com/mtlora/mtlora/metrics"
)

// Scores of a run's evaluation: accuracy, macro-F1 and MCC for classes; Pearson and Spearman for values.
func ExampleClassification() {
	acc, f1, mcc := metrics.Classification([]int32{1, 1, 1, 0, 0, 0}, []int32{1, 1, 0, 1, 0, 0}, 2)
	fmt.Printf("accuracy %.3f, macro-F1 %.3f, MCC %.3f\n", acc, f1, mcc)
	fmt.Printf("Pearson %.3f, Spearman %.3f\n", metrics.Pearson([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 10}),
		metrics.Spearman([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 10}))
	// Output:
	// accuracy 0.667, macro-F1 0.667, MCC 0.333
	// Pearson 0.885, Spearman 1.000
}
