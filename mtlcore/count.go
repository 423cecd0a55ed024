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
	r, n, T := c.Rank, c.N, c.NumTasks
	switch c.Method {
	case LoRA:
		return r * (dIn + dOut)
	case MTLLoRA:
		lambda := T * r
		if c.Lambda == LambdaFull {
			lambda = T * r * r
		}
		return r*dIn + n*r*dOut + lambda + T*n
	case MultiLoRA:
		return n*r*(dIn+dOut) + n*dOut
	case MoELoRA:
		return r*(dIn+dOut) + T*c.TaskEmbeddingDim + c.TaskEmbeddingDim*n
	case HydraLoRA:
		return r*dIn + n*r*dOut + dIn*n
	case DoRA:
		return r*(dIn+dOut) + dOut
	case PerTaskLoRA:
		return T * r * (dIn + dOut)
	}
	return 0
}
