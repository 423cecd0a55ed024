package mtlcore_test

import (
	"fmt"

	"github.com/mtlora/mtlora/mtlcore"
)

// Trainable parameters per adapted 384×384 layer (MiniLM's attention projections) at the authors'
// defaults, for 4 tasks.
func ExampleConfig_TrainableParams() {
	for _, m := range mtlcore.Methods() {
		cfg := mtlcore.DefaultConfig(m, 4)
		fmt.Printf("%-14s r=%d n=%d  %6d\n", m, cfg.Rank, cfg.N, cfg.TrainableParams(384, 384))
	}
	// Output:
	// lora           r=8 n=0    6144
	// mtl-lora       r=8 n=3   12332
	// multilora      r=8 n=3   19584
	// moelora        r=9 n=3    7360
	// hydralora      r=8 n=3   13440
	// dora           r=8 n=0    6528
	// per-task-lora  r=8 n=0   24576
}

// A configuration is validated before any graph is built, and its errors name the field.
func ExampleConfig_Validate() {
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 3)
	cfg.Temperature = 0
	fmt.Println(cfg.Validate())
	// Output:
	// mtlcore: invalid adapter configuration: field temperature: τ must be a finite number > 0 (τ = 0 divides by zero), got 0
}
