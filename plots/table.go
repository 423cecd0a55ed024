package plots

import (
	"path/filepath"
	"strings"

	"github.com/mtlora/mtlora/internal/atomicfile"
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

// WriteFigure writes the page as a figure in every format a paper or a README needs, and returns the paths:
// dir/name.html (self-contained), dir/name.png (the whole page, width px wide, by headless Chromium),
// dir/name-1.svg, -2, … (each chart as vector graphics), and, when the page has tables, dir/name.md and
// dir/name.tex (every table, Markdown and LaTeX).
func (p Page) WriteFigure(dir, name string, width int) ([]string, error) {
	html := filepath.Join(dir, name+".html")
	if err := p.WriteHTML(html); err != nil {
		return nil, err
	}
	png := filepath.Join(dir, name+".png")
	if err := Screenshot(html, png, width, 0); err != nil {
		return nil, err
	}
	paths := []string{html, png}
	if len(p.Charts) > 0 {
		svgs, err := p.WriteSVGs(dir, name, width)
		if err != nil {
			return nil, err
		}
		paths = append(paths, svgs...)
	}
	if len(p.Tables) > 0 {
		var md, tex strings.Builder
		for i, t := range p.Tables {
			if i > 0 {
				md.WriteString("\n")
				tex.WriteString("\n")
			}
			md.WriteString(t.Markdown())
			tex.WriteString(t.LaTeX())
		}
		for ext, text := range map[string]string{".md": md.String(), ".tex": tex.String()} {
			if err := atomicfile.Write(filepath.Join(dir, name+ext), []byte(text)); err != nil {
				return nil, err
			}
		}
		paths = append(paths, filepath.Join(dir, name+".md"), filepath.Join(dir, name+".tex"))
	}
	return paths, nil
}
