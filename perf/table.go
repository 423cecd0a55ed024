package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Reference is the PyTorch side of the comparison, as written by scripts/reference/torch_bench.py --json:
// the median seconds of the cases it shares with this package, by case name.
type Reference struct {
	Torch   string             `json:"torch"`
	Threads int                `json:"threads"`
	Seconds map[string]float64 `json:"seconds"`
}

// ReadReference reads a torch_bench.py JSON file; a case with a non-positive time is an error naming it.
func ReadReference(path string) (*Reference, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("perf: reading the PyTorch reference: %w", err)
	}
	var ref Reference
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ref); err != nil {
		return nil, fmt.Errorf("perf: %s: not a torch_bench.py --json file: %w", path, err)
	}
	if len(ref.Seconds) == 0 {
		return nil, fmt.Errorf("perf: %s: no \"seconds\" recorded", path)
	}
	for name, s := range ref.Seconds {
		if !(s > 0) {
			return nil, fmt.Errorf("perf: %s: case %q has time %g s, expected a positive number", path, name, s)
		}
	}
	return &ref, nil
}

// Ratio is one of the figures the README quotes: a quotient of two measured medians against its target.
type Ratio struct {
	Name       string
	Num, Den   string  // case names (Den may name a PyTorch case, prefixed "torch ")
	Value      float64 // 0 when a side was not measured
	Target     float64 // upper bound the issue sets; 0 for none
	TargetNote string
}

// Ratios computes the README's figures from the results (and the PyTorch reference, when given).
func Ratios(results []Result, ref *Reference) []Ratio {
	med := map[string]float64{}
	var peak float64
	for _, r := range results {
		med[r.Name] = r.Median()
		if r.Group == "matmul" && r.GFLOPs() > peak {
			peak = r.GFLOPs()
		}
	}
	quot := func(a, b float64) float64 {
		if a == 0 || b == 0 {
			return 0
		}
		return a / b
	}
	out := []Ratio{
		{Name: "MTL-LoRA step / LoRA step", Num: "minilm mtl-lora train step", Den: "minilm lora train step", Target: 1.10},
		{Name: "merged inference / base inference", Num: CaseMergedForward, Den: CaseBaseForward, Target: 1.02},
		{Name: "base inference, repeated / base inference (A/A control)", Num: CaseBaseRepeat, Den: CaseBaseForward},
		{Name: "unmerged MTL-LoRA inference / base inference", Num: "minilm mtl-lora forward", Den: CaseBaseForward},
	}
	for i := range out {
		out[i].Value = quot(med[out[i].Num], med[out[i].Den])
	}
	if ref != nil {
		for _, m := range []string{"lora", "mtl-lora"} {
			for _, kind := range []string{"train step", "forward"} {
				name := fmt.Sprintf("minilm %s %s", m, kind)
				r := Ratio{Name: fmt.Sprintf("%s %s: this toolkit / PyTorch %s", m, kind, ref.Torch), Num: name, Den: "torch " + name,
					Value: quot(med[name], ref.Seconds[name])}
				if kind == "train step" {
					r.Target = 1.0
				}
				out = append(out, r)
			}
		}
		for _, name := range []string{CaseDecoderForward, CaseDecoderLoRA, CaseDecoderMTL, CaseDecoderGen} {
			if med[name] == 0 {
				continue // the decoder group was not run
			}
			r := Ratio{Name: fmt.Sprintf("%s: this toolkit / PyTorch %s", name, ref.Torch), Num: name, Den: "torch " + name,
				Value: quot(med[name], ref.Seconds[name])}
			if strings.HasSuffix(name, "train step") {
				r.Target = 1.0
			}
			out = append(out, r)
		}
	}
	if med[CaseDecoderMTL] > 0 {
		out = append(out, Ratio{Name: "SmolLM2 MTL-LoRA step / LoRA step", Num: CaseDecoderMTL, Den: CaseDecoderLoRA,
			Value: quot(med[CaseDecoderMTL], med[CaseDecoderLoRA]), Target: 1.10})
	}
	for _, r := range results {
		if r.Group == "minilm" && r.GFLOPs() > 0 && peak > 0 {
			out = append(out, Ratio{Name: r.Name + ": GFLOP/s / matmul peak", Num: r.Name, Den: "matmul peak",
				Value: r.GFLOPs() / peak, TargetNote: fmt.Sprintf("%.1f of %.1f GFLOP/s", r.GFLOPs(), peak)})
		}
	}
	return out
}

// WriteTable prints the results as one table, then the ratios.
func WriteTable(w io.Writer, header string, results []Result, ref *Reference) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, header)
	fmt.Fprintln(tw, "case\tmedian s\tmin s\tfirst s\tGFLOP/s\trows/s\tadded RSS MiB\tPyTorch s\t")
	for _, r := range results {
		min := r.Seconds[0]
		for _, s := range r.Seconds {
			min = minF(min, s)
		}
		cell := func(v float64, format string) string {
			if v == 0 {
				return "–"
			}
			return fmt.Sprintf(format, v)
		}
		rows := 0.0
		if r.Rows > 0 {
			rows = float64(r.Rows) / r.Median()
		}
		torch := 0.0
		if ref != nil {
			torch = ref.Seconds[r.Name]
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.2f\t%s\t%s\t%.0f\t%s\t\n", r.Name, r.Median(), min, r.First,
			cell(r.GFLOPs(), "%.1f"), cell(rows, "%.0f"), r.PeakRSSMiB, cell(torch, "%.4f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ratios := Ratios(results, ref)
	if len(ratios) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tvalue\ttarget\t")
	for _, r := range ratios {
		value, target := "not measured", r.TargetNote
		if r.Value > 0 {
			value = fmt.Sprintf("%.3f", r.Value)
		}
		if r.Target > 0 {
			verdict := "met"
			if r.Value == 0 {
				verdict = "–"
			} else if r.Value > r.Target {
				verdict = "NOT met"
			}
			target = fmt.Sprintf("≤ %.2f (%s)", r.Target, verdict)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Name, value, target)
	}
	return tw.Flush()
}

func minF(a, b float64) float64 {
	if b < a {
		return b
	}
	return a
}
