package perf_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/perf"
	"github.com/mtlora/mtlora/pretrained"
)

// BenchmarkCases runs every case of `mtlora bench` under go test; the MiniLM and pipeline cases when the
// checkpoint (mtlora fetch-model) and mtbench (mtlora prepare-benchmark) are in the cache. Run, e.g.:
//
//	go test ./perf -run XXX -bench 'Cases/minilm' -benchtime 3x
func BenchmarkCases(b *testing.B) {
	be := backend.MustNew()
	opts := perf.Options{Groups: []string{"matmul", "layer"}}
	if dir, err := pretrained.MiniLM.Path(); err == nil {
		opts.ModelDir = dir
		opts.Groups = append(opts.Groups, "minilm")
		if data, err := benchmark.Path(); err == nil {
			opts.DataDir = data
			opts.Groups = append(opts.Groups, "pipeline")
		}
	}
	cases, err := perf.Cases(be, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(strings.ReplaceAll(c.Name, " ", "_"), func(b *testing.B) {
			step, release, err := c.Setup()
			if err != nil {
				b.Fatal(err)
			}
			defer release()
			prepare := func() {
				if c.Prepare != nil {
					b.StopTimer()
					if err := c.Prepare(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			prepare()
			if err := step(); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				prepare()
				if err := step(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if c.FLOPs > 0 {
				b.ReportMetric(c.FLOPs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			}
		})
	}
}

// BenchmarkMTLLoRAvsLoRA alternates MTL-LoRA and LoRA layer steps at equal rank in one loop, so the
// reported ratio (mtl/lora) comes from one run under the same machine load.
func BenchmarkMTLLoRAvsLoRA(b *testing.B) {
	be := backend.MustNew()
	for _, r := range []int{8, 16, 64} {
		b.Run(fmt.Sprintf("r=%d", r), func(b *testing.B) {
			var steps [2]func() error
			for i, m := range []mtlcore.Method{mtlcore.MTLLoRA, mtlcore.LoRA} {
				step, release, err := perf.LayerCase(be, m, r, 384).Setup()
				if err != nil {
					b.Fatal(err)
				}
				defer release()
				if err := step(); err != nil {
					b.Fatal(err)
				}
				steps[i] = step
			}
			var spent [2]time.Duration
			b.ResetTimer()
			for range b.N {
				for i, step := range steps {
					t0 := time.Now()
					if err := step(); err != nil {
						b.Fatal(err)
					}
					spent[i] += time.Since(t0)
				}
			}
			b.ReportMetric(float64(spent[0])/float64(spent[1]), "mtl/lora")
		})
	}
}
