package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// palette holds one colour per task (colour-blind-safe Okabe–Ito first, then Tableau): task i always gets
// palette[i mod len] in every chart.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
	"#4E79A7", "#F28E2B", "#59A14F", "#B07AA1"}

// TaskColor returns the colour of the task with index i.
func TaskColor(i int) string { return palette[i%len(palette)] }

func base(title, subtitle string) []charts.GlobalOpts {
	return []charts.GlobalOpts{
		charts.WithInitializationOpts(opts.Initialization{Width: "100%", Height: "420px"}), // the page's width, its own height
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: subtitle}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true)}),
		charts.WithAnimation(false), // screenshots and headless renders see the final frame at once
	}
}

// Series is one named sequence of y values over shared x values; Std, when set (one per value), draws the
// band of ± one standard deviation around the line (seeds) as dashed lines.
type Series struct {
	Name   string
	Y      []float64
	Std    []float64
	Chance *float64 // when set: a dashed line at this level, labelled "chance" (a score compared with chance)
}

// Lines draws one line per task over steps (e.g. per-task loss or metric curves); series i gets task i's
// colour. xName and yName label the axes with their units; the subtitle says what to read from it.
func Lines(title, subtitle, xName, yName string, x []int, series []Series) *charts.Line {
	c := charts.NewLine()
	c.SetGlobalOptions(append(base(title, subtitle), charts.WithXAxisOpts(opts.XAxis{Name: xName}), charts.WithYAxisOpts(opts.YAxis{Name: yName}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}))...)
	c.SetXAxis(x)
	for i, s := range series {
		data := make([]opts.LineData, len(s.Y))
		for k, v := range s.Y {
			data[k] = opts.LineData{Value: v}
		}
		so := []charts.SeriesOpts{charts.WithItemStyleOpts(opts.ItemStyle{Color: TaskColor(i)}), charts.WithLineStyleOpts(opts.LineStyle{Color: TaskColor(i)})}
		if s.Chance != nil {
			so = append(so, charts.WithMarkLineNameYAxisItemOpts(opts.MarkLineNameYAxisItem{Name: "chance", YAxis: *s.Chance}),
				charts.WithMarkLineStyleOpts(opts.MarkLineStyle{Symbol: []string{"none", "none"},
					Label: &opts.Label{Show: opts.Bool(true), Formatter: "chance"}, LineStyle: &opts.LineStyle{Color: TaskColor(i), Type: "dotted"}}))
		}
		c.AddSeries(s.Name, data, so...)
		if len(s.Std) != len(s.Y) {
			continue
		}
		// The band: dashed lines at mean ± std (echarts 5.4 stacks only values of one sign, so a filled band
		// between them cannot be stacked on negative scores). Same name as the line: the legend shows and
		// hides them together.
		lower, upper := make([]opts.LineData, len(s.Y)), make([]opts.LineData, len(s.Y))
		for k, v := range s.Y {
			lower[k], upper[k] = opts.LineData{Value: v - s.Std[k]}, opts.LineData{Value: v + s.Std[k]}
		}
		for _, edge := range [][]opts.LineData{lower, upper} {
			c.AddSeries(s.Name, edge, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
				charts.WithLineStyleOpts(opts.LineStyle{Color: TaskColor(i), Type: "dashed", Opacity: opts.Float(0.6), Width: 1}))
		}
	}
	return c
}

// Heatmap draws a labelled matrix (e.g. the cosine between tasks' gradients or updates) with each cell's
// value written in it, coloured from lo to hi; its height follows its rows.
func Heatmap(title, subtitle string, rows, cols []string, m [][]float64, lo, hi float64) *charts.HeatMap {
	c := charts.NewHeatMap()
	rotate, px := 0.0, min(max(150+28*len(rows), 280), 1000) // sized to its rows
	if len(cols) > 8 {
		rotate, px = 35, px+70 // every column labelled, slanted so long names fit
	}
	height := fmt.Sprintf("%dpx", px)
	c.SetGlobalOptions(append(base(title, subtitle), charts.WithInitializationOpts(opts.Initialization{Width: "100%", Height: height}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}), // one series: its name would sit on the title
		// Room for the labels inside the chart, the colour bar at the right: nothing cut, nothing on top of labels.
		charts.WithGridOpts(opts.Grid{ContainLabel: opts.Bool(true), Left: "2%", Right: "90px", Top: "70px", Bottom: "10px"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Data: cols, AxisLabel: &opts.AxisLabel{Interval: "0", Rotate: rotate}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: rows, Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Interval: "0"}}), // the first row on top, as a matrix reads
		// The colour bar's ends carry the real range (echarts' own handle labels round it to integers: "-0 … 0").
		charts.WithVisualMapOpts(opts.VisualMap{Calculable: opts.Bool(false), Min: float32(lo), Max: float32(hi),
			Text: []string{strconv.FormatFloat(hi, 'g', 3, 64), strconv.FormatFloat(lo, 'g', 3, 64)}, Orient: "vertical", Right: "10px", Top: "middle",
			InRange: &opts.VisualMapInRange{Color: []string{"#2166AC", "#F7F7F7", "#B2182B"}}}))...)
	var data []opts.HeatMapData
	for i := range m {
		for j, v := range m[i] {
			data = append(data, opts.HeatMapData{Value: [3]any{j, i, fmt.Sprintf("%.2f", v)}})
		}
	}
	c.AddSeries(title, data, charts.WithLabelOpts(opts.Label{Show: opts.Bool(true)}))
	return c
}

// MeanStd is one bar of an ablation: a configuration's mean and standard deviation over seeds.
type MeanStd struct {
	Name      string
	Mean, Std float64
}

// Level is a reference score drawn across a chart as a dashed line with its name (chance, the majority
// answer).
type Level struct {
	Name  string
	Value float64
}

// Ablation draws configurations as boxes spanning mean ± std with the mean marked (ECharts has no error
// bars; a box from mean − std to mean + std with the mean as its median carries the same information), and
// each level as a dashed line. The y axis spans the boxes and the levels, so a difference between
// configurations is seen against the distance to the levels.
func Ablation(title, yName string, bars []MeanStd, levels ...Level) *charts.BoxPlot {
	read := "read: the best configuration on average; box: mean ± std over seeds, line: the mean"
	oneSeed := len(bars) > 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range bars {
		oneSeed = oneSeed && b.Std == 0
		lo, hi = min(lo, b.Mean-b.Std), max(hi, b.Mean+b.Std)
	}
	if oneSeed {
		read = "read: the best configuration; one seed each, its line is the score"
	}
	var names []string
	for _, l := range levels {
		names = append(names, l.Name)
		lo, hi = min(lo, l.Value), max(hi, l.Value)
	}
	if len(levels) > 0 {
		read += "; dashed: " + strings.Join(names, ", ")
	}
	y := opts.YAxis{Name: yName, Scale: opts.Bool(true)}
	if lo < hi && len(levels) > 0 { // markLines do not widen ECharts' axis: it is set here, on ticks of a round step
		step := roundStep((hi - lo) / 5)
		y.Min, y.Max = math.Floor(lo/step-0.2)*step, math.Ceil(hi/step+0.2)*step
		y.MinInterval, y.MaxInterval = step, step
	}
	c := charts.NewBoxPlot()
	c.SetGlobalOptions(append(base(title, read),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}), charts.WithYAxisOpts(y),
		charts.WithXAxisOpts(opts.XAxis{AxisLabel: &opts.AxisLabel{Interval: "0", Rotate: 15}}), // long names ("lora r=8 (147456 params)") side by side
		charts.WithGridOpts(opts.Grid{ContainLabel: opts.Bool(true), Left: "90px", Right: "2%", Top: "80px", Bottom: "10px"}))...)
	var data []opts.BoxPlotData
	var labels []string
	for _, b := range bars {
		labels = append(labels, b.Name)
		data = append(data, opts.BoxPlotData{Value: []float64{b.Mean - b.Std, b.Mean - b.Std, b.Mean, b.Mean + b.Std, b.Mean + b.Std}})
	}
	c.SetXAxis(labels)
	so := []charts.SeriesOpts{charts.WithItemStyleOpts(opts.ItemStyle{Color: "#DDE7F0", BorderColor: TaskColor(0)})}
	for _, l := range levels {
		so = append(so, charts.WithMarkLineNameYAxisItemOpts(opts.MarkLineNameYAxisItem{Name: l.Name, YAxis: l.Value}))
	}
	if len(levels) > 0 {
		so = append(so, charts.WithMarkLineStyleOpts(opts.MarkLineStyle{Symbol: []string{"none", "none"},
			Label: &opts.Label{Show: opts.Bool(true), Formatter: "{b}", Position: "insideEndTop"}, LineStyle: &opts.LineStyle{Color: "#888", Type: "dashed"}}))
	}
	c.AddSeries(yName, data, so...)
	return c
}

// roundStep is the smallest of 1, 2 and 5 times a power of ten that is at least raw (> 0).
func roundStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// Scatter draws 2-D points coloured by task (e.g. projected low-rank features); axis names the axes ("PC":
// PC 1 and PC 2).
func Scatter(title, subtitle, axis string, taskNames []string, points [][2]float64, tasks []int) *charts.Scatter {
	c := charts.NewScatter()
	c.SetGlobalOptions(append(base(title, subtitle), charts.WithXAxisOpts(opts.XAxis{Name: axis + " 1", Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Name: axis + " 2", Scale: opts.Bool(true)}), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}))...)
	for t, name := range taskNames {
		var data []opts.ScatterData
		for i, p := range points {
			if tasks[i] == t {
				data = append(data, opts.ScatterData{Value: []float64{p[0], p[1]}, SymbolSize: 6})
			}
		}
		c.AddSeries(name, data, charts.WithItemStyleOpts(opts.ItemStyle{Color: TaskColor(t)}))
	}
	return c
}

// Bars draws one bar per category for each task (e.g. Λ_t's mean diagonal or mixing weights per task).
func Bars(title, subtitle, yName string, categories []string, series []Series) *charts.Bar {
	c := charts.NewBar()
	c.SetGlobalOptions(append(base(title, subtitle), charts.WithYAxisOpts(opts.YAxis{Name: yName}), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom"}))...)
	c.SetXAxis(categories)
	for i, s := range series {
		data := make([]opts.BarData, len(s.Y))
		for k, v := range s.Y {
			data[k] = opts.BarData{Value: v}
		}
		c.AddSeries(s.Name, data, charts.WithItemStyleOpts(opts.ItemStyle{Color: TaskColor(i)}))
	}
	return c
}
