package plots

import (
	"strings"
)

// Markdown writes the table as a GitHub-flavoured Markdown table (the title as a bold line above it; "|" in
// cells escaped, line breaks as spaces).
func (t Table) Markdown() string {
	var b strings.Builder
	if t.Title != "" {
		b.WriteString("**" + markdownCell(t.Title) + "**\n\n")
	}
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + markdownCell(c) + " |")
		}
		b.WriteString("\n")
	}
	row(t.Header)
	b.WriteString("|")
	for i := range t.Header {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		row(r)
	}
	return b.String()
}

func markdownCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ").Replace(s)
}

// LaTeX writes the table as a booktabs tabular inside a table environment with the title as its caption
// (LaTeX's special characters escaped; "±" as $\pm$, "−" as $-$).
func (t Table) LaTeX() string {
	var b strings.Builder
	b.WriteString("\\begin{table}[t]\n\\centering\n")
	if t.Title != "" {
		b.WriteString("\\caption{" + latexCell(t.Title) + "}\n")
	}
	b.WriteString("\\begin{tabular}{l" + strings.Repeat("r", max(0, len(t.Header)-1)) + "}\n\\toprule\n")
	row := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString(" & ")
			}
			b.WriteString(latexCell(c))
		}
		b.WriteString(" \\\\\n")
	}
	row(t.Header)
	b.WriteString("\\midrule\n")
	for _, r := range t.Rows {
		row(r)
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n\\end{table}\n")
	return b.String()
}

var latexEscaper = strings.NewReplacer(`\`, `\textbackslash{}`, "&", `\&`, "%", `\%`, "$", `\$`, "#", `\#`, "_", `\_`,
	"{", `\{`, "}", `\}`, "~", `\textasciitilde{}`, "^", `\textasciicircum{}`, "±", `$\pm$`, "−", `$-$`, "\n", " ")

func latexCell(s string) string { return latexEscaper.Replace(s) }
