package perf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// TorchScript is the PyTorch reference, relative to the repository root.
const TorchScript = "scripts/reference/torch_bench.py"

// Torch is a running PyTorch reference (TorchScript --serve): it runs one of its cases per request, so
// its cases can be measured in the same interleaved rounds as the toolkit's, under the same machine load.
// The machine this runs on moved the same case by up to ±30% between runs; a ratio of two separate runs
// carries that noise, a ratio of interleaved rounds much less of it.
type Torch struct {
	Version string
	Threads int

	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	mu    sync.Mutex
	close sync.Once
}

// StartTorch starts `python script modelDir threads --serve [--gguf GGUF]` (the decoder cases need the GGUF)
// and waits for it to be ready (it loads the
// model and builds its cases first). Its diagnostics go to stderr.
func StartTorch(python, script, modelDir, gguf string, threads int) (*Torch, error) {
	if modelDir == "" {
		modelDir = "-" // no MiniLM cases
	}
	args := []string{script, modelDir, strconv.Itoa(threads), "--serve"}
	if gguf != "" {
		args = append(args, "--gguf", gguf)
	}
	cmd := exec.Command(python, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: starting the PyTorch reference (%s %s): %w", python, script, err)
	}
	t := &Torch{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	if !t.out.Scan() {
		t.Close()
		return nil, fmt.Errorf("perf: the PyTorch reference (%s %s) exited before it was ready (its messages are above)", python, script)
	}
	f := strings.Fields(t.out.Text())
	if len(f) != 3 || f[0] != "ready" {
		t.Close()
		return nil, fmt.Errorf("perf: the PyTorch reference answered %q, expected \"ready VERSION THREADS\"", t.out.Text())
	}
	t.Version = f[1]
	if t.Threads, err = strconv.Atoi(f[2]); err != nil {
		t.Close()
		return nil, fmt.Errorf("perf: the PyTorch reference answered %q: thread count is not a number", t.out.Text())
	}
	return t, nil
}

// Run runs the named case once in PyTorch and returns the seconds PyTorch measured around the call.
func (t *Torch) Run(name string) (float64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := fmt.Fprintln(t.in, name); err != nil {
		return 0, fmt.Errorf("perf: PyTorch reference: %w", err)
	}
	if !t.out.Scan() {
		return 0, fmt.Errorf("perf: the PyTorch reference exited while running %q", name)
	}
	reply := t.out.Text()
	s, err := strconv.ParseFloat(reply, 64)
	if err != nil || !(s > 0) {
		return 0, fmt.Errorf("perf: PyTorch reference, case %q: %s", name, reply)
	}
	return s, nil
}

// Cases returns, for each of the given toolkit cases that PyTorch serves too (TorchCaseNames), a case named
// "torch NAME" in the same group that runs PyTorch's; Measure times it around the request, which adds a pipe
// round trip (tens of microseconds) to seconds-long calls.
func (t *Torch) Cases(ours []Case) []Case {
	var out []Case
	for _, c := range ours {
		if !slices.Contains(TorchCaseNames, c.Name) {
			continue
		}
		name := c.Name
		out = append(out, Case{Name: "torch " + name, Group: c.Group, FLOPs: c.FLOPs, Rows: c.Rows,
			Setup: func() (func() error, func(), error) {
				return func() error { _, err := t.Run(name); return err }, func() {}, nil
			}})
	}
	return out
}

// Close ends the PyTorch process.
func (t *Torch) Close() {
	t.close.Do(func() {
		_ = t.in.Close()
		_ = t.cmd.Wait()
	})
}

// TorchCaseNames are the cases TorchScript serves, by the toolkit's case names.
var TorchCaseNames = []string{
	"matmul 2048×2048×2048", "matmul 4096×384×1536", "minilm base forward",
	"minilm lora forward", "minilm lora train step", "minilm mtl-lora forward", "minilm mtl-lora train step",
	CaseDecoderForward, CaseDecoderLoRA, CaseDecoderMTL, CaseDecoderGen,
}

// LiveReference moves the "torch NAME" results out of results into a Reference (their medians), so the
// table and the ratios read them as they read a torch_bench.py --json file.
func LiveReference(results []Result, t *Torch) ([]Result, *Reference) {
	ref := &Reference{Torch: t.Version, Threads: t.Threads, Seconds: map[string]float64{}}
	var ours []Result
	for _, r := range results {
		if name, ok := strings.CutPrefix(r.Name, "torch "); ok {
			ref.Seconds[name] = r.Median()
			continue
		}
		ours = append(ours, r)
	}
	return ours, ref
}
