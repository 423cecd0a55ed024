package report

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// Compare's paired t-test and exact sign-flip test give SciPy's p-values (scripts/reference/paired_fixtures.py).
func TestCompareMatchesSciPy(t *testing.T) {
	data, err := os.ReadFile("testdata/paired.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			A, B      []float64
			T         float64  `json:"t"`
			PT        float64  `json:"p_t"`
			PSignFlip *float64 `json:"p_sign_flip"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for i, c := range doc.Cases {
		got, err := Compare("a", "b", c.A, c.B)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.T-c.T) > 1e-9*math.Max(1, math.Abs(c.T)) || math.Abs(got.PT-c.PT) > 1e-9 {
			t.Errorf("case %d (n = %d): t %.12g p %.12g, SciPy t %.12g p %.12g", i, len(c.A), got.T, got.PT, c.T, c.PT)
		}
		if c.PSignFlip != nil && math.Abs(got.PPermutation-*c.PSignFlip) > 1e-12 {
			t.Errorf("case %d (n = %d): sign-flip p %.12g, SciPy %.12g", i, len(c.A), got.PPermutation, *c.PSignFlip)
		}
		if c.PSignFlip == nil && math.Abs(got.PPermutation-got.PT) > 0.05 { // 24 pairs: the random draws; close to the t-test here
			t.Errorf("case %d (n = %d): sign-flip p %.4g far from the t-test's %.4g", i, len(c.A), got.PPermutation, got.PT)
		}
	}
	if _, err := Compare("a", "b", []float64{1, 2}, []float64{1}); err == nil || !strings.Contains(err.Error(), "2 scores of a paired with 1 of b") {
		t.Errorf("error %v", err)
	}
	same, _ := Compare("a", "b", []float64{0.5, 0.6}, []float64{0.5, 0.6})
	if same.PT != 1 || same.PPermutation != 1 || same.Ties != 2 {
		t.Errorf("identical scores: %+v", same)
	}
}
