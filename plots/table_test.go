package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tables come out as Markdown and LaTeX with each format's special characters escaped.
func TestTableMarkdownAndLaTeX(t *testing.T) {
	tab := Table{Title: "Scores", Header: []string{"method", "a|b"}, Rows: [][]string{{"lora_r8 & 50%", "0.5 ± 0.1"}, {"x\ny", "−0.2"}}}
	wantMD := "**Scores**\n\n| method | a\\|b |\n|---|---:|\n| lora_r8 & 50% | 0.5 ± 0.1 |\n| x y | −0.2 |\n"
	if got := tab.Markdown(); got != wantMD {
		t.Errorf("Markdown:\n%s\nwant\n%s", got, wantMD)
	}
	wantTeX := "\\begin{table}[t]\n\\centering\n\\caption{Scores}\n\\begin{tabular}{lr}\n\\toprule\nmethod & a|b \\\\\n\\midrule\n" +
		"lora\\_r8 \\& 50\\% & 0.5 $\\pm$ 0.1 \\\\\nx y & $-$0.2 \\\\\n\\bottomrule\n\\end{tabular}\n\\end{table}\n"
	if got := tab.LaTeX(); got != wantTeX {
		t.Errorf("LaTeX:\n%s\nwant\n%s", got, wantTeX)
	}
}

// A figure is written whole: HTML, a PNG of the whole page, an SVG per chart, and its tables as Markdown and
// LaTeX.
func TestWriteFigure(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	tab := Table{Title: "t", Header: []string{"a", "b"}, Rows: [][]string{{"x", "1"}}}
	p := Page{Title: "figure", Charts: allCharts()[:2], Tables: []Table{tab, tab}}
	paths, err := p.WriteFigure(dir, "fig", 800)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fig.html", "fig.png", "fig-1.svg", "fig-2.svg", "fig.md", "fig.tex"}
	if len(paths) != len(want) {
		t.Fatalf("paths %v", paths)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("path %d: %s, want %s", i, p, want[i])
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if md, _ := os.ReadFile(paths[4]); string(md) != tab.Markdown()+"\n"+tab.Markdown() {
		t.Errorf("Markdown file %q", md)
	}
	if tex, _ := os.ReadFile(paths[5]); strings.Count(string(tex), `\begin{tabular}`) != 2 {
		t.Errorf("LaTeX file %q", tex)
	}
}
