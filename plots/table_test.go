package plots

import "testing"

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
