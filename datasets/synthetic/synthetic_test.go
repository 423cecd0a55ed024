package synthetic

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestConflictSetsUpdateCosine(t *testing.T) {
	for _, c := range []struct {
		conflict, private float64
		wantOdd, wantEven float64
	}{
		{0, 0, 1, 1},      // identical updates
		{1, 0, -1, 1},     // odd tasks want exactly the opposite
		{0.5, 0, 0, 1},    // half the shared directions flipped: orthogonal updates
		{1, 1, -0.8, 0.8}, // k=4, p=1: ∓k/(k+p)
	} {
		cfg := DefaultConfig()
		cfg.Conflict, cfg.PrivateRank = c.conflict, int(c.private)
		ts, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.UpdateCosine(0, 1); math.Abs(got-c.wantOdd) > 1e-5 {
			t.Errorf("conflict %v private %v: cos(task 0, task 1) = %.6f, want %v", c.conflict, c.private, got, c.wantOdd)
		}
		if got := ts.UpdateCosine(0, 2); math.Abs(got-c.wantEven) > 1e-5 {
			t.Errorf("conflict %v private %v: cos(task 0, task 2) = %.6f, want %v", c.conflict, c.private, got, c.wantEven)
		}
	}
}

func TestDeterministicAndTargetsMatchModel(t *testing.T) {
	a, _ := New(DefaultConfig())
	b, _ := New(DefaultConfig())
	if !slices.Equal(a.W0, b.W0) || !slices.Equal(a.Delta[3], b.Delta[3]) {
		t.Fatal("same config gave different task sets")
	}
	cfg := DefaultConfig()
	cfg.Noise = 0
	ts, _ := New(cfg)
	x, y := ts.Example(rand.New(rand.NewPCG(1, 1)), 2)
	for o := 0; o < ts.DOut; o++ {
		var s float64
		for i := range x {
			s += float64(x[i]) * float64(ts.W0[i*ts.DOut+o]+ts.Delta[2][i*ts.DOut+o])
		}
		if math.Abs(s-float64(y[o])) > 1e-4 {
			t.Fatalf("y[%d] = %v, want x·(W0+ΔW_2) = %v", o, y[o], s)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, edit := range []func(*Config){
		func(c *Config) { c.Tasks = 1 },
		func(c *Config) { c.Tasks = 9 },
		func(c *Config) { c.PrivateRank = 5 }, // 4 + 4·5 > 16
		func(c *Config) { c.Conflict = 1.5 },
		func(c *Config) { c.Gain = 0 },
	} {
		cfg := DefaultConfig()
		edit(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", cfg, err)
		}
	}
}
