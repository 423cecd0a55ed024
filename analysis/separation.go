package analysis

import "fmt"

// Separation is how the tasks' low-rank features separate in one adapted layer, on real inputs: each point
// is one example's feature A'_t·x̄ (x̄ the layer's input averaged over the example's tokens, A'_t the
// down-projection of the example's task t: Λ_t·A for MTL-LoRA, the shared A for LoRA), labelled by t.
// The same scores on x̄ itself tell how far the inputs already separate before the adapter sees them.
type Separation struct {
	Layer    string      `json:"layer"`
	Tasks    []int       `json:"tasks"`    // each point's task
	Features [][]float64 `json:"features"` // each point's A'_t·x̄
	// Silhouette (−1 … 1; 0 = mixed) and Probe (nearest-centroid accuracy; 1/T = mixed) of the features,
	// and of the inputs x̄.
	Silhouette      float64 `json:"silhouette"`
	Probe           float64 `json:"probe_accuracy"`
	InputSilhouette float64 `json:"input_silhouette"`
	InputProbe      float64 `json:"input_probe_accuracy"`
	// PCA and TSNE are 2-D pictures of the features; Trustworthiness (k = 5) says how faithfully the
	// t-SNE picture keeps each point's neighbours.
	PCA             [][2]float64 `json:"pca"`
	PCAExplained    [2]float64   `json:"pca_explained"`
	TSNE            [][2]float64 `json:"tsne"`
	Trustworthiness float64      `json:"tsne_trustworthiness"`
}

// Separate scores and projects one layer's features (n × r) and inputs (n × dIn) of points labelled by
// task.
func Separate(layer string, inputs, features [][]float64, tasks []int) (Separation, error) {
	if len(inputs) != len(tasks) || len(features) != len(tasks) {
		return Separation{}, fmt.Errorf("analysis: layer %s: %d inputs and %d features for %d task labels", layer, len(inputs), len(features), len(tasks))
	}
	s := Separation{Layer: layer, Tasks: tasks, Features: features,
		Silhouette: Silhouette(features, tasks), Probe: ProbeAccuracy(features, tasks),
		InputSilhouette: Silhouette(inputs, tasks), InputProbe: ProbeAccuracy(inputs, tasks)}
	s.PCA, s.PCAExplained = PCA2(features)
	var err error
	if s.TSNE, _, err = TSNE(features, TSNEOptions{}); err != nil {
		return s, fmt.Errorf("analysis: layer %s: %w", layer, err)
	}
	if s.Trustworthiness, err = Trustworthiness(features, s.TSNE, 5); err != nil {
		return s, fmt.Errorf("analysis: layer %s: %w", layer, err)
	}
	return s, nil
}
