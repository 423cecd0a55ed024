package mtlcore

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/mtlora/mtlora/internal/safetensors"
)

// Fact 4: each task's update exported as a standard PEFT LoRA adapter reproduces that task's forward pass.
func TestFactPEFTExportReproducesTask(t *testing.T) {
	b := testBackend(t)
	for _, row := range testConfigs() {
		if !row.cfg.Method.Mergeable() {
			continue
		}
		t.Run(row.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			store := newStore(5)
			x := randInput(rng, tBatch, tSeq, tDIn)
			exec := layerExec(t, b, store, row.cfg)
			exec.MustCall1(x, mixedTasks())
			perturb(t, store, rng)
			w0 := varValue(t, store, "/layer/dense/weights")
			bias := varValue(t, store, "/layer/dense/biases")
			for task := 0; task < tTasks; task++ {
				dir := t.TempDir()
				if err := ExportPEFT(store, row.cfg, task, dir, "tiny-test-model", nil); err != nil {
					t.Fatal(err)
				}
				pc, factors, err := ReadPEFT(dir)
				if err != nil {
					t.Fatal(err)
				}
				f, ok := factors["layer"]
				if !ok || pc.PeftType != "LORA" || pc.TargetModules[0] != "layer" {
					t.Fatalf("export has config %+v and modules %v", pc, factors)
				}
				// W = W0 + s·(B·A)ᵀ, DoRA rescaled per column, applied like PEFT would.
				w := f.Delta()
				for i := range w.Data {
					w.Data[i] += float64(w0[i])
				}
				if f.Magnitude != nil {
					for c := 0; c < tDOut; c++ {
						var n float64
						for i := 0; i < tDIn; i++ {
							n += w.at(i, c) * w.at(i, c)
						}
						for i := 0; i < tDIn; i++ {
							w.set(i, c, w.at(i, c)*f.Magnitude[c]/math.Sqrt(n))
						}
					}
				}
				wf := toF32(w.Data)
				want := hostDense(flat(x), func(int) []float32 { return wf }, bias, tBatch, tSeq, tDIn, tDOut)
				ids := make([]int32, tBatch)
				for i := range ids {
					ids[i] = int32(task)
				}
				got := flat(exec.MustCall1(x, tensors.FromFlatDataAndDimensions(ids, tBatch)))
				if d := maxRelDiff(got, want); d > 1e-5 {
					t.Errorf("task %d: PEFT export differs from the adapter's forward by %g (relative)", task, d)
				}
			}
		})
	}
}

func TestSaveLoadRoundTripAndStrictness(t *testing.T) {
	b := testBackend(t)
	cfg := testConfigs()[0].cfg // MTL-LoRA, full Λ
	rng := rand.New(rand.NewPCG(31, 32))
	x := randInput(rng, tBatch, tSeq, tDIn)
	store := newStore(1)
	exec := layerExec(t, b, store, cfg)
	exec.MustCall1(x, mixedTasks())
	perturb(t, store, rng)
	want := flat(exec.MustCall1(x, mixedTasks()))
	dir := t.TempDir()
	if err := SaveAdapters(store, cfg, dir); err != nil {
		t.Fatal(err)
	}
	saved, _, err := readAdapterFile(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for k := range saved {
		if strings.Contains(k, "/dense/") {
			t.Errorf("frozen base weight %s was saved with the adapters", k)
		}
	}

	fresh := func() (*tensors.Tensor, func(string) error) {
		s := newStore(2) // different seed: different initial values
		e := layerExec(t, b, s, cfg)
		e.MustCall1(x, mixedTasks())
		s.GetVariable("/layer/dense/weights").MustSetValue(store.GetVariable("/layer/dense/weights").MustValue())
		s.GetVariable("/layer/dense/biases").MustSetValue(store.GetVariable("/layer/dense/biases").MustValue())
		return nil, func(d string) error {
			if err := LoadAdapters(s, cfg, d); err != nil {
				return err
			}
			if d := maxRelDiff(flat(e.MustCall1(x, mixedTasks())), want); d != 0 {
				t.Errorf("reloaded adapter differs by %g", d)
			}
			return nil
		}
	}
	_, load := fresh()
	if err := load(dir); err != nil {
		t.Fatalf("round trip: %v", err)
	}

	// Each corruption must fail with ErrCheckpoint and a message naming what is wrong.
	rewrite := func(edit func(map[string]safetensors.Tensor)) string {
		d := t.TempDir()
		ts, _, _ := readAdapterFile(filepath.Join(dir, AdapterWeightsFile))
		edit(ts)
		if err := safetensors.Write(filepath.Join(d, AdapterWeightsFile), ts, nil); err != nil {
			t.Fatal(err)
		}
		cfgBytes, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
		os.WriteFile(filepath.Join(d, AdapterConfigFile), cfgBytes, 0o644)
		return d
	}
	withFile := func(name string, data []byte) string {
		d := t.TempDir()
		cfgBytes, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
		os.WriteFile(filepath.Join(d, AdapterConfigFile), cfgBytes, 0o644)
		os.WriteFile(filepath.Join(d, name), data, 0o644)
		return d
	}
	good, _ := os.ReadFile(filepath.Join(dir, AdapterWeightsFile))
	other := DefaultConfig(LoRA, tTasks)
	otherDir := t.TempDir()
	js, _ := json.Marshal(other)
	os.WriteFile(filepath.Join(otherDir, AdapterConfigFile), js, 0o644)
	pickleDir := t.TempDir()
	os.WriteFile(filepath.Join(pickleDir, "adapter_model.bin"), []byte("\x80\x02"), 0o644)

	cases := []struct {
		name, dir, wantMsg string
	}{
		{"missing tensor", rewrite(func(m map[string]safetensors.Tensor) { delete(m, "layer/adapter/lambda") }), "layer/adapter/lambda is missing"},
		{"unexpected tensor", rewrite(func(m map[string]safetensors.Tensor) {
			m["layer/adapter/extra"] = safetensors.Tensor{Shape: []int{1}, Data: []float32{1}}
		}), "layer/adapter/extra is unexpected"},
		{"misshaped tensor", rewrite(func(m map[string]safetensors.Tensor) {
			m["layer/adapter/mix_logits"] = safetensors.Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}
		}), "mix_logits has shape [2 3], the model expects [3 2]"},
		{"truncated file", withFile(AdapterWeightsFile, good[:len(good)-7]), "data offsets"},
		{"corrupt header", withFile(AdapterWeightsFile, append([]byte{12, 0, 0, 0, 0, 0, 0, 0}, []byte("{not json!!}")...)), "corrupt safetensors header"},
		{"empty file", withFile(AdapterWeightsFile, nil), "too short"},
		{"other method", otherDir, "holds a lora adapter"},
		{"pickle only", pickleDir, "pickle"},
		{"no such directory", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, load := fresh()
			err := load(c.dir)
			if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("got %v, want ErrCheckpoint containing %q", err, c.wantMsg)
			}
		})
	}
}
