// Package mtlcore implements MTL-LoRA (Yang et al., "MTL-LoRA: Low-Rank Adaptation for Multi-Task
// Learning", AAAI 2025, arXiv 2410.09437) and its peer adapters as GoMLX layers.
//
// # Methods
//
// One low-rank core computes every method's update (see lowRank):
//
//	Δh = s · Σ_i π[i] · (M · A·x) · B_i
//
// with an optional per-example rank-space transform M and optional mixing weights π over n
// up-projections. The methods differ only in how they fill M and π:
//
//	LoRA           M = I, n = 1
//	MTL-LoRA       M = Λ_t (diagonal, full, or none: I), π = softmax(w_t/τ) per task
//	MultiLoRA      n LoRA pairs stacked, each up-projection scaled per output by λ_i
//	MoELoRA        n experts of rank r/n stacked, M = expert gate softmax(W_g·E[t]) repeated per rank
//	HydraLoRA      π = softmax(W_r·x) per token (no task id; not mergeable)
//	DoRA           LoRA's update, then the magnitude/direction rescaling of W0 + ΔW
//	per-task LoRA  T pairs stacked, M = one-hot(t) repeated per rank
//
// # Adding a method
//
// A method is one file, method_<name>.go: it declares the Method constant (the next free number), and in
// init registers a methodSpec — its name, whether it uses task ids and is mergeable, its defaults and
// validation, its trainable-parameter count, its graph (filling the low-rank core), and its host-side merge
// factors (TaskFactors, Merge, Unmerge, ExportPEFT build on them). Add its rows to the tests' tables
// (facts_test.go, gradcheck_test.go). No code anywhere else branches on a method: TestNoCodeSwitchesOnAMethod
// fails if some does.
//
// # Layers and injection
//
// Dense adds an adapter to one linear layer. Injector applies one Config to every layer of a model whose
// role (Targets: q, k, v, o, ffn_in, ffn_out, dense) it selects, freezing all base weights. Base weights
// keep GoMLX's layers.Dense names; adapter tensors live under <layer>/adapter with the names of the Var*
// constants.
//
// # Task ids
//
// Every example carries a task id; per-task tensors are selected with Gather so one compiled graph serves
// batches mixing tasks. Validate ids on the host with CheckTaskIDs: inside a graph a bad id is clamped.
//
// # Merge, export, save
//
// For every method but HydraLoRA the update of task t, ΔW_t, does not depend on x: TaskFactors writes it as
// an ordinary LoRA pair, MergedWeights and Merge fold it into W0, Unmerge takes it out again, ExportPEFT
// writes it as a PEFT LoRA adapter directory. SaveAdapters and LoadAdapters keep the trainable tensors and
// the Config in safetensors and JSON, loading strictly.
//
// # Errors
//
// Errors wrap the sentinels ErrInvalidConfig, ErrUnknownTask, ErrUnknownTarget, ErrNotMergeable and
// ErrCheckpoint and name the field, tensor, example or task concerned. Graph-building functions panic, as
// GoMLX's do; call Config.Validate or Config.ValidateLayer first.
package mtlcore
