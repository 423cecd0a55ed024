package trainer_test

import (
	"fmt"

	"github.com/mtlora/mtlora/trainer"
)

// The learning-rate schedule Fit applies: linear warm-up, then linear decay to 0 at the last step.
func ExampleFitConfig_LearningRateAt() {
	c := trainer.FitConfig{Steps: 10, LearningRate: 1e-3, Warmup: 2, Schedule: trainer.Linear, NumTasks: 1}
	for _, step := range []int{0, 1, 2, 6, 9} {
		fmt.Printf("step %d: %.3g\n", step, c.LearningRateAt(step))
	}
	// Output:
	// step 0: 0.0005
	// step 1: 0.001
	// step 2: 0.001
	// step 6: 0.0005
	// step 9: 0.000125
}
