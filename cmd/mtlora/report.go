package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mtlora/mtlora/report"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/plots"
)

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "HTML `FILE` to write (default PATH/report.html)")
	png := fs.String("png", "", "also render the whole page (its own height) to this PNG `FILE` with headless Chromium")
	svg := fs.String("svg", "", "also write every chart as an SVG file into this `DIR` (chart-1.svg, …; headless Chromium)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora report [-out FILE] [-png FILE] [-svg DIR] PATH

Writes one self-contained HTML page with every chart of a run (PATH holds result.json: training loss,
per-task scores over training, final metrics) or of a sweep (PATH holds runs/: mean score per configuration
with mean ± std over seeds, per-task scores, scores during training, tables). Charts embed echarts.min.js
(mtlora fetch-assets) and open offline in any browser.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("expected one PATH (a run or sweep directory), got %q", fs.Args())
	}
	path := fs.Arg(0)
	var page plots.Page
	if res, ok, err := experiment.ReadResult(path); err != nil {
		return err
	} else if ok {
		page = report.RunPage(res)
		b, err := newBackend()
		if err != nil {
			return err
		}
		env := experiment.Env{Backend: b}
		if res.Run.Config.Data == experiment.Synthetic {
			a, err := experiment.AnalyzeSynthetic(env, path)
			if err != nil {
				return err
			}
			page.Charts = append(page.Charts, a.Charts()...)
		} else if res.Run.Config.Method.UsesTaskIDs() { // what the task-specific parts learned, per layer
			tr, err := experiment.OpenRun(env, path)
			if err != nil {
				return err
			}
			layers, err := tr.Layers()
			if err != nil {
				return err
			}
			trace, err := experiment.ReadTrace(path)
			if err != nil {
				return err
			}
			page.Charts = append(page.Charts, experiment.TraceCharts(tr.TaskNames(), trace)...)
			page.Charts = append(page.Charts, experiment.InspectionCharts(tr.TaskNames(), layers)...)
		}
	} else {
		// A sweep folder: the runs its results table lists (the last plan run there), never older runs
		// that share the folder; without a table (runs written by separate jobs), every finished run.
		var results []*experiment.Result
		intro := ""
		if _, statErr := os.Stat(filepath.Join(path, experiment.ResultsFile)); statErr == nil {
			var others int
			if results, others, err = experiment.TableResults(path); err != nil {
				return err
			}
			intro = fmt.Sprintf("The %d runs of %s.", len(results), filepath.Join(path, experiment.ResultsFile))
			if others > 0 {
				intro += fmt.Sprintf(" %d other finished runs in %s (earlier plans in the same folder) are left out.", others, filepath.Join(path, "runs"))
			}
		} else {
			if results, err = experiment.CollectResults(path); err != nil {
				return fmt.Errorf("%s is neither a finished run (result.json) nor a sweep (runs/): %w", path, err)
			}
			intro = fmt.Sprintf("%d finished runs in %s (no results table: every finished run).", len(results), path)
		}
		if len(results) == 0 {
			return fmt.Errorf("%s: no finished runs", path)
		}
		page = sweepPage("Sweep "+filepath.Base(path), intro, results)
	}
	if *out == "" {
		*out = filepath.Join(path, "report.html")
	}
	if err := page.WriteHTML(*out); err != nil {
		return err
	}
	fmt.Println(*out)
	if *png != "" {
		if err := plots.Screenshot(*out, *png, 1000, 0); err != nil {
			return err
		}
		fmt.Println(*png)
	}
	if *svg != "" {
		if err := os.MkdirAll(*svg, 0o755); err != nil {
			return err
		}
		paths, err := page.WriteSVGs(*svg, "chart", 1000)
		if err != nil {
			return err
		}
		fmt.Printf("%d SVG charts in %s\n", len(paths), *svg)
	}
	return nil
}

// sweepPage is report.SweepPage with the majority answer of the runs' data as the baseline (report.MajorityOf;
// none for the synthetic set, whose tasks are regressions). Without it — the data no longer where the runs
// name it, say — the page says why, and so does standard error.
func sweepPage(title, intro string, results []*experiment.Result) plots.Page {
	if len(results) == 0 || results[0].Run.Config.Data == experiment.Synthetic {
		return report.SweepPage(title, intro, results)
	}
	majority, err := report.MajorityOf(results)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mtlora: no majority-answer baseline in the report: %v\n", err)
		page := report.SweepPage(title, intro, results)
		page.Notes = append(page.Notes, "Majority answer and tasks learned: not shown, "+err.Error())
		return page
	}
	return report.SweepPage(title, intro, results, majority)
}
