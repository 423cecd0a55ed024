package analysis

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type tsneCase struct {
	Name             string       `json:"name"`
	X                [][]float64  `json:"x"`
	Labels           []int        `json:"labels"`
	SklearnEmbedding [][2]float64 `json:"sklearn_embedding"`
	SklearnKL        float64      `json:"sklearn_kl"`
	TrustSklearn     float64      `json:"trustworthiness_sklearn_embedding"`
	TrustworthyPlain float64      `json:"trustworthiness_plain"`
}

func readTSNECases(t *testing.T) (int, []tsneCase) {
	data, err := os.ReadFile("testdata/tsne/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		K     int        `json:"k"`
		Cases []tsneCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.K, doc.Cases
}

// Trustworthiness equals scikit-learn's on the same points and embeddings (scripts/reference/tsne_fixtures.py).
func TestTrustworthinessMatchesScikitLearn(t *testing.T) {
	k, cases := readTSNECases(t)
	for _, c := range cases {
		plain := make([][2]float64, len(c.X))
		for i, r := range c.X {
			plain[i] = [2]float64{r[0], r[1]}
		}
		for _, e := range []struct {
			name string
			y    [][2]float64
			want float64
		}{{"scikit-learn's t-SNE", c.SklearnEmbedding, c.TrustSklearn}, {"first two coordinates", plain, c.TrustworthyPlain}} {
			got, err := Trustworthiness(c.X, e.y, k)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-e.want) > 1e-9 {
				t.Errorf("%s, %s: trustworthiness %.12f, scikit-learn %.12f", c.Name, e.name, got, e.want)
			}
		}
	}
	if _, err := Trustworthiness(cases[0].X, cases[0].SklearnEmbedding, len(cases[0].X)/2); err == nil {
		t.Error("k = n/2 accepted")
	}
}

// TSNE's embeddings keep neighbourhoods as well as scikit-learn's exact t-SNE on the same points (its
// optimiser differs in details, so the pictures differ; the measures must not be worse), reach a KL
// divergence as low, keep the blobs apart, and are the same on every call.
func TestTSNEAsGoodAsScikitLearn(t *testing.T) {
	k, cases := readTSNECases(t)
	for _, c := range cases {
		y, kl, err := TSNE(c.X, TSNEOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tw, err := Trustworthiness(c.X, y, k)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: trustworthiness %.4f (scikit-learn %.4f), KL %.4f (scikit-learn %.4f)", c.Name, tw, c.TrustSklearn, kl, c.SklearnKL)
		if tw < c.TrustSklearn-0.01 {
			t.Errorf("%s: trustworthiness %.4f, scikit-learn's embedding %.4f", c.Name, tw, c.TrustSklearn)
		}
		if kl > c.SklearnKL*1.1+0.01 {
			t.Errorf("%s: KL %.4f, scikit-learn %.4f", c.Name, kl, c.SklearnKL)
		}
		if c.Name == "blobs" {
			pts := make([][]float64, len(y))
			for i, p := range y {
				pts[i] = p[:]
			}
			if acc := ProbeAccuracy(pts, c.Labels); acc < 0.99 {
				t.Errorf("blobs: probe accuracy in the plane %.3f", acc)
			}
		}
		again, _, _ := TSNE(c.X, TSNEOptions{})
		for i := range y {
			if y[i] != again[i] {
				t.Fatalf("%s: point %d at %v, then at %v", c.Name, i, y[i], again[i])
			}
		}
	}
	if _, _, err := TSNE([][]float64{{1}, {2}, {3}}, TSNEOptions{}); err == nil {
		t.Error("3 points accepted")
	}
}
