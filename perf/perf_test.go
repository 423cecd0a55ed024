package perf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/zoo"
)

// BERTFLOPs against a hand count for all-MiniLM-L6-v2 at 32 × 128: per layer 2·4096·(4·384² + 2·384·1536)
// for the linear products plus 4·32·128²·384 for the attention products.
func TestBERTFLOPsMiniLM(t *testing.T) {
	cfg := zoo.BERTConfig{Layers: 6, Hidden: 384, Intermediate: 1536, Heads: 12}
	want := 6 * (2*4096*(4*384*384+2*384*1536) + 4*32*128*128*384.0)
	if got := BERTFLOPs(cfg, 32, 128); got != want {
		t.Fatalf("BERTFLOPs = %g, want %g", got, want)
	}
	if got := BERTFLOPs(cfg, 32, 128); got < 91e9 || got > 93e9 {
		t.Fatalf("BERTFLOPs = %g, expected ≈ 92 GFLOP", got)
	}
}

func TestMeasureRunsFirstThenReps(t *testing.T) {
	calls, released := 0, false
	c := Case{Name: "count", FLOPs: 1e9, Rows: 10, Setup: func() (func() error, func(), error) {
		return func() error { calls++; return nil }, func() { released = true }, nil
	}}
	rs, err := Measure([]Case{c}, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if calls != 5 || len(r.Seconds) != 4 || !released {
		t.Fatalf("calls %d (want 1 first + 4 timed), timed %d, released %v", calls, len(r.Seconds), released)
	}
	if r.First <= 0 || r.Median() <= 0 {
		t.Fatalf("first %g, median %g: expected positive times", r.First, r.Median())
	}
}

// Prepare runs before every call of its case, the first included, and outside the timing: a Prepare that
// sleeps 30 ms leaves timed calls of an instant step far below that.
func TestMeasurePreparesUntimed(t *testing.T) {
	var log []string
	c := Case{Name: "prepared",
		Prepare: func() error { log = append(log, "prepare"); time.Sleep(30 * time.Millisecond); return nil },
		Setup: func() (func() error, func(), error) {
			return func() error { log = append(log, "step"); return nil }, func() {}, nil
		}}
	rs, err := Measure([]Case{c}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("prepare step ", 4); strings.Join(log, " ")+" " != want {
		t.Fatalf("calls %v, want %q", log, want)
	}
	for _, s := range rs[0].Seconds {
		if s > 0.015 {
			t.Fatalf("a timed call took %g s: the 30 ms Prepare was timed", s)
		}
	}
	failing := Case{Name: "bad", Prepare: func() error { return errors.New("boom") },
		Setup: func() (func() error, func(), error) { return func() error { return nil }, func() {}, nil }}
	if _, err := Measure([]Case{failing}, 1); err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a failing Prepare gave %v, want an error naming the case and the cause", err)
	}
}

// Every case gets its first call before any timed call, then each round calls every case once, in orders
// that vary: each case leads some round and follows more than one other case.
func TestMeasureInterleaves(t *testing.T) {
	var log []string
	mk := func(name string) Case {
		return Case{Name: name, Setup: func() (func() error, func(), error) {
			return func() error { log = append(log, name); return nil }, func() {}, nil
		}}
	}
	const rounds = 30
	rs, err := Measure([]Case{mk("a"), mk("b"), mk("c")}, rounds)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log[:3], ""); got != "abc" {
		t.Fatalf("first calls %q, want \"abc\" before any timed call", got)
	}
	leads, follows := map[string]bool{}, map[string]bool{}
	for r := range rounds {
		round := log[3+3*r : 6+3*r]
		if got := strings.Join(slices.Sorted(slices.Values(round)), ""); got != "abc" {
			t.Fatalf("round %d called %v, want each case once", r, round)
		}
		leads[round[0]] = true
		for k := 1; k < 3; k++ {
			follows[round[k-1]+round[k]] = true
		}
	}
	if len(leads) != 3 || !follows["ab"] || !follows["cb"] {
		t.Errorf("orders too regular: leaders %v, neighbour pairs %v", leads, follows)
	}
	if len(rs) != 3 || len(rs[0].Seconds) != rounds || rs[1].Name != "b" {
		t.Fatalf("results %+v", rs)
	}
}

func TestMeasureNamesTheFailingCase(t *testing.T) {
	boom := errors.New("boom")
	c := Case{Name: "broken case", Setup: func() (func() error, func(), error) {
		n := 0
		return func() error {
			if n++; n > 1 {
				return boom
			}
			return nil
		}, func() {}, nil
	}}
	_, err := Measure([]Case{c}, 2)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "broken case") {
		t.Fatalf("err = %v, want boom naming the case", err)
	}
	if _, err := Measure([]Case{c}, 0); err == nil {
		t.Fatal("0 repetitions accepted")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		s    []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := (Result{Seconds: tc.s}).Median(); got != tc.want {
			t.Errorf("Median(%v) = %g, want %g", tc.s, got, tc.want)
		}
	}
}

func TestRatiosAndTable(t *testing.T) {
	res := func(name, group string, s, flops float64) Result {
		return Result{Case: Case{Name: name, Group: group, FLOPs: flops}, Seconds: []float64{s}}
	}
	results := []Result{
		res("matmul 2048×2048×2048", "matmul", 0.5, 100e9), // 200 GFLOP/s
		res("minilm base forward", "minilm", 1.0, 50e9),
		res("minilm mtl-lora merged forward", "minilm", 1.01, 50e9),
		res(CaseBaseRepeat, "minilm", 1.03, 50e9),
		res("minilm mtl-lora forward", "minilm", 1.2, 50e9),
		res("minilm lora train step", "minilm", 4.0, 100e9),
		res("minilm mtl-lora train step", "minilm", 4.6, 100e9),
	}
	ref := &Reference{Torch: "2.15.0", Threads: 2, Seconds: map[string]float64{"minilm mtl-lora train step": 2.3}}
	got := map[string]float64{}
	for _, r := range Ratios(results, ref) {
		got[r.Name] = r.Value
	}
	for name, want := range map[string]float64{
		"MTL-LoRA step / LoRA step":                               1.15,
		"merged inference / base inference":                       1.01,
		"base inference, repeated / base inference (A/A control)": 1.03,
		"mtl-lora train step: this toolkit / PyTorch 2.15.0":      2.0,
		"minilm base forward: GFLOP/s / matmul peak":              0.25,
		"lora train step: this toolkit / PyTorch 2.15.0":          0, // no reference time: not measured
		"unmerged MTL-LoRA inference / base inference":            1.2,
		"minilm mtl-lora train step: GFLOP/s / matmul peak":       100e9 / 4.6 / 1e9 / 200,
	} {
		if v, ok := got[name]; !ok || (v-want) > 1e-9 || (want-v) > 1e-9 {
			t.Errorf("ratio %q = %g (present %v), want %g", name, v, ok, want)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, "header", results, ref); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"header", "minilm mtl-lora train step", "≤ 1.10 (NOT met)", "≤ 1.02 (met)", "2.3000"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestReadReferenceRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"empty.json":    `{"torch": "2", "threads": 2, "seconds": {}}`,
		"negative.json": `{"torch": "2", "threads": 2, "seconds": {"minilm base forward": -1}}`,
		"unknown.json":  `{"torch": "2", "threads": 2, "seconds": {"a": 1}, "extra": 1}`,
		"garbage.json":  `not json`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadReference(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
	if _, err := ReadReference(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestCasesRejectsUnknownGroupAndMissingModel(t *testing.T) {
	be := backend.MustNew()
	if _, err := Cases(be, Options{Groups: []string{"gpu"}}); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("unknown group: err = %v", err)
	}
	if _, err := Cases(be, Options{Groups: []string{"minilm"}}); err == nil || !strings.Contains(err.Error(), "fetch-model") {
		t.Errorf("minilm without a model: err = %v", err)
	}
}

// One layer case per method really runs (forward + backward) at a tiny rank.
func TestLayerCasesRun(t *testing.T) {
	be := backend.MustNew()
	for _, m := range mtlcore.Methods() {
		rs, err := Measure([]Case{LayerCase(be, m, 8, 16)}, 1)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		r := rs[0]
		if r.Median() <= 0 {
			t.Fatalf("%s: median %g", m, r.Median())
		}
	}
}

// The paired MiniLM forward cases share one executable only while they are measured in the same rounds:
// `mtlora bench` gives the cases whose names end in " forward" their own rounds.
func TestPairedForwardCasesAreForwardCases(t *testing.T) {
	for _, name := range []string{CaseBaseForward, CaseMergedForward, CaseBaseRepeat} {
		if !strings.HasSuffix(name, " forward") {
			t.Errorf("case %q does not end in \" forward\": it would be measured apart from the base forward", name)
		}
	}
}
