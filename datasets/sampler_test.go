package datasets

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func pools(sizes ...int) [][]int {
	out := make([][]int, len(sizes))
	next := 0
	for t, n := range sizes {
		for range n {
			out[t] = append(out[t], next)
			next++
		}
	}
	return out
}

func draws(t *testing.T, p [][]int, cfg SamplerConfig, n int) ([]int, []int) {
	t.Helper()
	s, err := NewSampler(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, examples := make([]int, n), make([]int, n)
	for i := range n {
		tasks[i], examples[i] = s.Next()
	}
	return tasks, examples
}

func TestSamplerStrategies(t *testing.T) {
	p := pools(900, 90, 10)
	const n = 100000
	freq := func(tasks []int) []float64 {
		f := make([]float64, len(p))
		for _, task := range tasks {
			f[task] += 1.0 / float64(len(tasks))
		}
		return f
	}
	near := func(name string, got, want []float64) {
		for i := range got {
			if math.Abs(got[i]-want[i]) > 0.01 {
				t.Errorf("%s: task frequencies %.3f, want %.3f", name, got, want)
				return
			}
		}
	}
	tasks, _ := draws(t, p, SamplerConfig{Strategy: Proportional, Seed: 1}, n)
	near("proportional", freq(tasks), []float64{0.9, 0.09, 0.01})
	// T = 2: p ∝ √n = 30, 9.49, 3.16.
	tasks, _ = draws(t, p, SamplerConfig{Strategy: Temperature, Temperature: 2, Seed: 1}, n)
	near("temperature 2", freq(tasks), []float64{30 / 42.65, 9.487 / 42.65, 3.162 / 42.65})
	tasks, _ = draws(t, p, SamplerConfig{Strategy: Uniform, Seed: 1}, n)
	near("uniform", freq(tasks), []float64{1. / 3, 1. / 3, 1. / 3})
	tasks, _ = draws(t, p, SamplerConfig{Strategy: RoundRobin}, 7)
	if !slices.Equal(tasks, []int{0, 1, 2, 0, 1, 2, 0}) {
		t.Errorf("round robin: %v", tasks)
	}
	tasks, _ = draws(t, p, SamplerConfig{Strategy: Quota, Quotas: []int{3, 2, 1}, Seed: 4}, 600)
	for c := 0; c < 600; c += 6 {
		count := [3]int{}
		for _, task := range tasks[c : c+6] {
			count[task]++
		}
		if count != [3]int{3, 2, 1} {
			t.Fatalf("quota cycle at %d: %v", c, count)
		}
	}
}

// The stream is a function of the seed; within a task every example is seen once per task epoch.
func TestSamplerDeterministicAndEpochs(t *testing.T) {
	p := pools(50, 7, 13)
	cfg := SamplerConfig{Strategy: Temperature, Temperature: 3, Seed: 42}
	a1, b1 := draws(t, p, cfg, 500)
	a2, b2 := draws(t, p, cfg, 500)
	if !slices.Equal(a1, a2) || !slices.Equal(b1, b2) {
		t.Fatal("same seed, different streams")
	}
	cfg.Seed = 43
	a3, _ := draws(t, p, cfg, 500)
	if slices.Equal(a1, a3) {
		t.Error("different seeds, same stream")
	}
	s, _ := NewSampler(p, SamplerConfig{Strategy: RoundRobin, Seed: 9})
	seen := map[int]int{}
	for range 3 * 7 { // three full epochs of task 1 (and more of the others)
		for range 3 {
			task, ex := s.Next()
			if task == 1 {
				seen[ex]++
			}
		}
	}
	for _, ex := range p[1] {
		if seen[ex] != 3 {
			t.Errorf("task 1 example %d seen %d times in 3 epochs", ex, seen[ex])
		}
	}
	if e := s.Epochs(); e[1] != 2 { // the third epoch is under way, not completed
		t.Errorf("epochs %v", e)
	}
}

func TestSamplerBadConfig(t *testing.T) {
	for _, c := range []struct {
		p    [][]int
		cfg  SamplerConfig
		want string
	}{
		{pools(3, 0), SamplerConfig{}, "task 1 has no examples"},
		{pools(3), SamplerConfig{Strategy: Temperature}, "temperature"},
		{pools(3, 2), SamplerConfig{Strategy: Quota, Quotas: []int{1}}, "1 quotas for 2 tasks"},
		{pools(3, 2), SamplerConfig{Strategy: Quota, Quotas: []int{0, 0}}, "every quota is 0"},
		{nil, SamplerConfig{}, "no tasks"},
	} {
		if _, err := NewSampler(c.p, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// wordEncoder is a stand-in tokenizer: one id per word, [CLS]=1 and [SEP]=2 around it.
type wordEncoder struct{}

func (wordEncoder) Encode(text string, maxLen int) ([]int32, []int32) {
	ids := []int32{1}
	for _, w := range strings.Fields(text) {
		ids = append(ids, int32(3+len(w)))
	}
	ids = append(ids[:min(len(ids), maxLen-1)], 2)
	return ids, make([]int32, len(ids))
}

func (e wordEncoder) EncodePair(a, b string, maxLen int) ([]int32, []int32) {
	ids, _ := e.Encode(a+" "+b, maxLen)
	return ids, make([]int32, len(ids))
}

func TestBatches(t *testing.T) {
	files := writeAll(t, t.TempDir())
	set, err := Load(testSpec(files[FormatCSV]), ReadOptions{}, 0, 0) // everything in train
	if err != nil {
		t.Fatal(err)
	}
	ev := &Batches{Set: set, Tokenizer: wordEncoder{}, Split: Train, BatchSize: 3, SeqLen: 16, Buckets: []int{4, 8}}
	var rows int
	seen := map[int32]int{}
	for b, err := range ev.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		ids := b.Inputs[0]
		if d := ids.Shape().Dimensions; d[0] != 3 || (d[1] != 4 && d[1] != 8) {
			t.Errorf("batch shape %v: want 3 rows padded to a bucket", d)
		}
		w := tensors.MustCopyFlatData[float32](b.Labels[2])
		task := tensors.MustCopyFlatData[int32](b.Inputs[3])
		for r := range w {
			if w[r] == 1 {
				rows++
				seen[task[r]]++
			}
		}
		mask, flat := tensors.MustCopyFlatData[int32](b.Inputs[2]), tensors.MustCopyFlatData[int32](ids)
		for i := range mask {
			if (mask[i] == 0) != (flat[i] == 0) {
				t.Fatalf("mask and ids disagree at %d", i)
			}
		}
	}
	if rows != len(testRows) || seen[0] != 4 || seen[1] != 4 {
		t.Errorf("evaluation covered %d rows (%v), want each of %d once", rows, seen, len(testRows))
	}
	tr := &Batches{Set: set, Tokenizer: wordEncoder{}, Split: Train, BatchSize: 4, SeqLen: 8, Steps: 5,
		Sampler: SamplerConfig{Strategy: RoundRobin}}
	n := 0
	for b, err := range tr.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tensors.MustCopyFlatData[int32](b.Inputs[3]), []int32{0, 1, 0, 1}) {
			t.Errorf("round-robin batch tasks %v", tensors.MustCopyFlatData[int32](b.Inputs[3]))
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d training batches, want 5", n)
	}
	bad := &Batches{Set: set, Tokenizer: wordEncoder{}, Split: Test, BatchSize: 4, SeqLen: 8, Steps: 5}
	for _, err := range bad.Iter() {
		if err == nil || !strings.Contains(err.Error(), "no examples") {
			t.Errorf("empty split: %v", err)
		}
	}
}

func TestBatchesTaskWeights(t *testing.T) {
	files := writeAll(t, t.TempDir())
	set, err := Load(testSpec(files[FormatCSV]), ReadOptions{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &Batches{Set: set, Tokenizer: wordEncoder{}, Split: Train, BatchSize: 4, SeqLen: 8, Steps: 1,
		Sampler: SamplerConfig{Strategy: RoundRobin}, TaskWeights: []float64{2, 0.5}}
	for batch, err := range b.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		if w := tensors.MustCopyFlatData[float32](batch.Labels[2]); !slices.Equal(w, []float32{2, 0.5, 2, 0.5}) {
			t.Errorf("row weights %v", w)
		}
	}
	bad := &Batches{Set: set, Tokenizer: wordEncoder{}, Split: Train, BatchSize: 4, SeqLen: 8, Steps: 1, TaskWeights: []float64{1}}
	for _, err := range bad.Iter() {
		if err == nil || !strings.Contains(err.Error(), "1 task weights for 2 tasks") {
			t.Errorf("wrong number of weights: %v", err)
		}
	}
}
