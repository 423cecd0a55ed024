// Package perf holds the toolkit's performance cases — a matrix product (the machine's measured peak), one
// adapted layer per method and rank, the all-MiniLM-L6-v2 forward pass and training step per method, merged
// against unmerged inference, the Parquet → batches data pipeline — and measures them. `go test -bench`
// (bench_test.go) and `mtlora bench` run the very same cases; the command prints them as one table with the
// ratios the README quotes. scripts/reference/torch_bench.py prints the PyTorch side with the same case names.
//
// Nothing here is a timed test: a case is measured only when asked for.
package perf

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Case is one measured operation. Setup builds and compiles what the case needs (untimed, apart from its
// first call, reported separately as First) and returns the step to time and a release function.
type Case struct {
	Name  string
	Group string  // table section: "matmul", "layer", "minilm", "pipeline"
	FLOPs float64 // model floating-point operations per step (0 when not counted); see BERTFLOPs
	Rows  int     // examples processed per step, for rows/s (0 when not meaningful)
	// RowCount, when set, reports the rows the last step processed (cases whose count is known only after
	// a run); Measure copies it into Rows.
	RowCount func() int
	Setup    func() (step func() error, release func(), err error)
	// Prepare, when set, runs untimed before every call of the step (the first included).
	Prepare func() error
}

// Result is what Measure found for one case.
type Result struct {
	Case
	Seconds    []float64 // one per timed repetition
	First      float64   // first call: graph building, compilation and one run
	PeakRSSMiB float64   // peak resident memory the case added during setup and first call
}

// Median returns the median of the timed repetitions.
func (r Result) Median() float64 {
	s := slices.Clone(r.Seconds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// GFLOPs returns the achieved GFLOP/s at the median time, or 0 when the case counts no FLOPs.
func (r Result) GFLOPs() float64 {
	if r.FLOPs == 0 || r.Median() == 0 {
		return 0
	}
	return r.FLOPs / r.Median() / 1e9
}

// Measure measures cases interleaved: each is set up and called once (First), then reps rounds call every
// case once (after an untimed garbage collection; each round in a new seeded random order, so that no case
// always runs first or after the same case), and ratios between them come from the same stretch of
// machine load. PeakRSSMiB is
// the peak resident memory a case added during its setup and first call, over what the process held before
// it (cases set up earlier stay resident, so the high-water mark alone would mix them).
func Measure(cases []Case, reps int) ([]Result, error) {
	if reps < 1 {
		return nil, fmt.Errorf("perf: repetitions must be ≥ 1, got %d", reps)
	}
	results := make([]Result, len(cases))
	steps := make([]func() error, len(cases))
	for i, c := range cases {
		ResetPeakRSS()
		before := residentMiB("VmRSS:")
		start := time.Now()
		step, release, err := c.Setup()
		if err != nil {
			return nil, fmt.Errorf("perf: %s: %w", c.Name, err)
		}
		defer release()
		if err := prepare(c); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			return nil, fmt.Errorf("perf: %s: first call: %w", c.Name, err)
		}
		results[i] = Result{Case: c, First: time.Since(start).Seconds(), PeakRSSMiB: residentMiB("VmHWM:") - before}
		steps[i] = step
	}
	order := rand.New(rand.NewPCG(1, uint64(len(steps)))) // seeded: a rerun calls in the same orders
	for range reps {
		// Each round in its own order: no case is always first, and none always follows the same case
		// (a fixed rotation kept each case's neighbour, and a slow-to-wake neighbour can tax the next call).
		for _, i := range order.Perm(len(steps)) {
			step := steps[i]
			if err := prepare(cases[i]); err != nil {
				return nil, err
			}
			runtime.GC() // untimed: garbage of the case before is not charged to this one
			t0 := time.Now()
			if err := step(); err != nil {
				return nil, fmt.Errorf("perf: %s: %w", cases[i].Name, err)
			}
			results[i].Seconds = append(results[i].Seconds, time.Since(t0).Seconds())
		}
	}
	for i, c := range cases {
		if c.RowCount != nil {
			results[i].Rows = c.RowCount()
		}
	}
	return results, nil
}

// prepare runs c.Prepare, if set.
func prepare(c Case) error {
	if c.Prepare == nil {
		return nil
	}
	if err := c.Prepare(); err != nil {
		return fmt.Errorf("perf: %s: preparing a call: %w", c.Name, err)
	}
	return nil
}

// ResetPeakRSS collects garbage, returns it to the OS and resets the kernel's high-water mark of this
// process's resident memory (Linux ≥ 4.0; elsewhere a no-op).
func ResetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// residentMiB reads one memory line of /proc/self/status (VmHWM: the peak since ResetPeakRSS, VmRSS:
// current); 0 where /proc is not available.
func residentMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
