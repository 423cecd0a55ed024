package pretrained

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/zoo"
)

// resetPeakRSS resets the kernel's high-water mark of this process's resident memory (Linux ≥ 4.0).
// Garbage from earlier benchmarks is collected and returned to the OS first, so it does not count.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB reads the high-water mark of resident memory (VmHWM) since the last reset.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkMiniLM times all-MiniLM-L6-v2 with LoRA and MTL-LoRA (r = 8) on q, k, v, o, 3 tasks, per-task
// heads, at batch 32 × sequence 128: the forward pass (inference) and one training step (forward, backward,
// Adam update; dropout as in config.json). It reports the first call (graph build and compile) as first-s
// and the process's peak resident memory during the benchmark as peak-RSS-MiB. The base model's forward is
// the reference. Run:
//
//	MTLORA_REQUIRE_MODELS=1 go test ./pretrained -run XXX -bench MiniLM -benchtime 5x
func BenchmarkMiniLM(b *testing.B) {
	dir := requireMiniLM(b)
	be := backend.MustNew()
	ck, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	const batchSize, seq, tasks, classes = 32, 128, 3, 4
	batch := randomBatch(ck.Config, batchSize, seq, tasks, classes)
	batch.Inputs[2].MutableFlatData(func(flat any) { // full-length sequences
		for i := range flat.([]int32) {
			flat.([]int32)[i] = 1
		}
	})
	methods := []struct {
		name string
		inj  *mtlcore.Injector
	}{{"base", nil}}
	for _, m := range []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA} {
		cfg := mtlcore.DefaultConfig(m, tasks)
		cfg.Rank, cfg.Targets = 8, mtlcore.TargetAttention
		inj, err := mtlcore.NewInjector(cfg)
		if err != nil {
			b.Fatal(err)
		}
		methods = append(methods, struct {
			name string
			inj  *mtlcore.Injector
		}{m.String(), inj})
	}
	for _, m := range methods {
		newStore := func() *model.Store {
			store := model.NewStore()
			if _, err := ck.LoadWeights(store, ""); err != nil {
				b.Fatal(err)
			}
			return store
		}
		b.Run(m.name+"/forward", func(b *testing.B) {
			resetPeakRSS()
			fn := zoo.BERTTaskModel(ck.Config, m.inj, ck.Pooling, tasks, classes)
			e, err := model.NewExec(be, newStore(), func(scope *model.Scope, inputs []*Node) *Node { return fn(scope, inputs) })
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := e.Call(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3]); err != nil {
				b.Fatal(err)
			}
			first := time.Since(start).Seconds()
			b.ResetTimer() // (it also clears reported metrics: report after the loop)
			for range b.N {
				out, err := e.Call(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3])
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			b.StopTimer()
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
			b.ReportMetric(first, "first-s")
		})
		if m.inj == nil {
			continue
		}
		b.Run(m.name+"/train-step", func(b *testing.B) {
			resetPeakRSS()
			tr := train.NewTrainer(be, newStore(), zoo.BERTTaskModel(ck.Config, m.inj, ck.Pooling, tasks, classes),
				loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
			step := func() {
				c, err := batch.Clone()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tr.TrainStep(c); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			step()
			first := time.Since(start).Seconds()
			b.ResetTimer() // (it also clears reported metrics: report after the loop)
			for range b.N {
				step()
			}
			b.StopTimer()
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
			b.ReportMetric(first, "first-s")
		})
	}
}
