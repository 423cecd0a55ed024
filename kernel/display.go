package kernel

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mtlora/mtlora/report"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
)

// InNotebook reports whether the code runs inside a GoNB cell (displays are dropped otherwise).
func InNotebook() bool { return gonbui.IsNotebook }

// LoadCharts puts echarts (plots.EChartsScript, about 1 MB) into the notebook's page once: charts shown
// after it draw inline, offline, without carrying echarts themselves. Call it in an early cell of every
// notebook that shows charts (a second call adds nothing to the page).
func LoadCharts() error {
	script, err := plots.EChartsScript()
	if err != nil {
		return err
	}
	gonbui.DisplayHTML(script)
	gonbui.Sync()
	return nil
}

// Show displays a page of charts inline in the cell's output, each chart at its own height and the output's
// width (nothing clipped); echarts must be on the page (LoadCharts), else each chart says so. Outside a
// notebook it does nothing.
func Show(page plots.Page) error {
	body, err := page.Body()
	if err != nil {
		return err
	}
	title := ""
	if page.Title != "" {
		title = "<h3>" + html.EscapeString(page.Title) + "</h3>\n"
	}
	gonbui.DisplayHTML("<div class=\"mtlora-page\" style=\"font-family:system-ui,sans-serif\">" + title + body + "</div>")
	gonbui.Sync()
	return nil
}

// TableHTML renders a plain table; every cell is escaped.
func TableHTML(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString(`<table style="border-collapse:collapse">` + "<tr>")
	for _, h := range header {
		fmt.Fprintf(&b, `<th style="border:1px solid #ccc;padding:2px 6px">%s</th>`, html.EscapeString(h))
	}
	b.WriteString("</tr>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&b, `<td style="border:1px solid #ccc;padding:2px 6px">%s</td>`, html.EscapeString(c))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}

// ShowResults displays the final scores of runs, mean ± std over seeds per configuration (the mean alone for
// one seed) and the split they are on, with each baseline's row (report.MainTable); given baselines (the
// data's majority answer: report.MajorityOf), also which tasks each configuration learned beyond chance and
// them (report.LearnedTable, p < 0.05; for runs evaluated before examples were counted, a line saying so).
func ShowResults(results []*experiment.Result, baselines ...report.Baseline) {
	t := report.MainTable("Final scores", results, baselines...)
	out := "<b>" + html.EscapeString(t.Title) + "</b>" + TableHTML(t.Header, t.Rows)
	if len(baselines) > 0 {
		if l, err := report.LearnedTable("Tasks learned", results, 0.05, baselines...); err != nil {
			out += "<p>Tasks learned: not shown, " + html.EscapeString(err.Error()) + "</p>"
		} else {
			out += "<b>" + html.EscapeString(l.Title) + "</b>" + TableHTML(l.Header, l.Rows)
		}
	}
	gonbui.DisplayHTML(out)
	gonbui.Sync()
}

// AdapterSummary describes an adapter configuration on a model's layers: method, rank, targets and
// trainable parameters per layer kind and in total.
func AdapterSummary(cfg mtlcore.Config, layers map[string][2]int, repeat int) string {
	var rows [][]string
	total := 0
	for name, d := range layers {
		p := cfg.TrainableParams(d[0], d[1])
		rows = append(rows, []string{name, fmt.Sprintf("%d → %d", d[0], d[1]), fmt.Sprint(p), fmt.Sprint(p * repeat)})
		total += p * repeat
	}
	head := fmt.Sprintf("<p><b>%s</b> rank %d, n %d, τ %g, targets %s, %d tasks: %d trainable parameters</p>",
		html.EscapeString(cfg.Method.String()), cfg.Rank, cfg.N, cfg.Temperature, html.EscapeString(cfg.Targets.String()), cfg.NumTasks, total)
	return head + TableHTML([]string{"layer", "in → out", "params per layer", fmt.Sprintf("× %d", repeat)}, rows)
}

// Dashboard is a live training display that updates in place: a progress bar with ETA, the loss curve and
// a free-form status (e.g. the current Λ_t and mixing weights). Outside a notebook it does nothing.
type Dashboard struct {
	mu     sync.Mutex
	id     string
	title  string
	total  int
	start  time.Time
	losses []float64
	status string
	last   time.Time
}

// NewDashboard opens a dashboard for a run of total steps.
func NewDashboard(title string, total int) *Dashboard {
	d := &Dashboard{id: gonbui.UniqueID(), title: title, total: total, start: time.Now()}
	gonbui.UpdateHTML(d.id, d.render())
	return d
}

// OnStep records a step's loss; the display refreshes at most five times a second and at the last step.
func (d *Dashboard) OnStep(step int, loss float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.losses = append(d.losses, loss)
	if time.Since(d.last) > 200*time.Millisecond || step >= d.total {
		d.last = time.Now()
		gonbui.UpdateHTML(d.id, d.render())
	}
}

// SetStatus replaces the free-form status line (plain text).
func (d *Dashboard) SetStatus(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = s
	gonbui.UpdateHTML(d.id, d.render())
}

// Done draws the final state and flushes the output.
func (d *Dashboard) Done() {
	d.mu.Lock()
	gonbui.UpdateHTML(d.id, d.render())
	d.mu.Unlock()
	gonbui.Sync()
}

func (d *Dashboard) render() string {
	n := len(d.losses)
	frac := 0.0
	if d.total > 0 {
		frac = math.Min(1, float64(n)/float64(d.total))
	}
	eta := "…"
	if n > 0 && frac < 1 {
		eta = (time.Duration(float64(time.Since(d.start)) * (1 - frac) / frac)).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "done in " + time.Since(d.start).Round(100*time.Millisecond).String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div style="font-family:sans-serif"><b>%s</b> step %d/%d — ETA %s<div style="width:400px;height:10px;background:#eee">`+
		`<div style="width:%.0f%%;height:10px;background:#0072B2"></div></div>`, html.EscapeString(d.title), n, d.total, eta, 100*frac)
	if n > 1 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range d.losses {
			lo, hi = math.Min(lo, l), math.Max(hi, l)
		}
		if hi == lo {
			hi = lo + 1
		}
		var pts []string
		for i, l := range d.losses {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", 400*float64(i)/float64(max(1, d.total-1)), 80-75*(l-lo)/(hi-lo)))
		}
		fmt.Fprintf(&b, `<svg width="400" height="85"><polyline fill="none" stroke="#0072B2" points="%s"/></svg>`+
			`<div>loss %.4f (min %.4f, max %.4f)</div>`, strings.Join(pts, " "), d.losses[n-1], lo, hi)
	}
	if d.status != "" {
		fmt.Fprintf(&b, `<pre>%s</pre>`, html.EscapeString(d.status))
	}
	b.WriteString("</div>")
	return b.String()
}

// DisplayHTML shows trusted HTML in the cell's output (build it with TableHTML or AdapterSummary, which
// escape their text).
func DisplayHTML(s string) {
	gonbui.DisplayHTML(s)
	gonbui.Sync()
}

// ResultsDir is the folder, beside the notebook, where RunPlan keeps a plan's runs: results/<plan name>.
func ResultsDir(plan experiment.Plan) string {
	dir := os.Getenv("GONB_DIR") // the notebook's own folder, headless and live
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, "results", plan.Name)
}

// RunPlan runs a plan in its ResultsDir with a live dashboard over all its steps: finished runs are reused
// (re-running an unchanged cell trains nothing), unfinished ones resume. It returns exactly the plan's runs,
// in plan order — never other runs that share the folder.
func RunPlan(plan experiment.Plan) ([]*experiment.Result, error) {
	results, _, err := PlanResults(plan, ResultsDir(plan), true)
	return results, err
}

// PlanResults returns the plan's finished runs in dir (a sweep folder, as mtlora sweep -dir writes it), in plan
// order, and the ids of those not finished there. With runMissing it first runs those (with a live dashboard),
// so that every run is finished; without, it trains nothing: a notebook regenerating figures reads what a
// sweep left and says what is missing.
func PlanResults(plan experiment.Plan, dir string, runMissing bool) (results []*experiment.Result, missing []string, err error) {
	runs, err := plan.Runs()
	if err != nil {
		return nil, nil, err
	}
	if runMissing {
		b, err := backend.New()
		if err != nil {
			return nil, nil, err
		}
		total := 0
		for _, r := range runs {
			total += r.Config.Steps
		}
		dash := NewDashboard(fmt.Sprintf("plan %s: %d run(s)", plan.Name, len(runs)), total)
		dash.SetStatus(backend.Reason())
		env := experiment.Env{Backend: b, OnStep: experiment.TotalProgress(runs, func(done, _ int, loss float64) { dash.OnStep(done, loss) })}
		rep, err := experiment.RunSweep(env, runs, dir, 1, nil)
		if err != nil {
			return nil, nil, err
		}
		dash.SetStatus(fmt.Sprintf("%d run(s) trained, %d reused from %s; %s", len(rep.Executed), len(rep.Skipped), dir, backend.Reason()))
		dash.Done()
		return rep.Runs, nil, nil
	}
	for _, r := range runs {
		res, ok, err := experiment.ReadResult(experiment.RunDir(dir, r.ID()))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			results = append(results, res)
		} else {
			missing = append(missing, r.ID())
		}
	}
	return results, missing, nil
}
