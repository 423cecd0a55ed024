package mtlcore

// TrainableParams is the number of trainable parameters the method adds to one linear layer with dIn inputs
// and dOut outputs (r = Rank, n = N, T = NumTasks, e = TaskEmbeddingDim):
//
//	LoRA           r·(dIn + dOut)
//	MTL-LoRA       r·dIn + n·r·dOut + T·r (diagonal Λ) or T·r² (full Λ) + T·n
//	MultiLoRA      n·r·(dIn + dOut) + n·dOut
//	MoELoRA        r·(dIn + dOut) + T·e + e·n          (n experts of rank r/n)
//	HydraLoRA      r·dIn + n·r·dOut + dIn·n
//	DoRA           r·(dIn + dOut) + dOut
//	per-task LoRA  T·r·(dIn + dOut)
func (c Config) TrainableParams(dIn, dOut int) int {
	if s := c.Method.spec(); s != nil {
		return s.params(c, dIn, dOut)
	}
	return 0
}
