package backtest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PointKind is the family of a PlotPoint. It picks the point's marker and
// its legend entry.
type PointKind int

const (
	// KindBaseline is a policy rightsizer is compared with: the provisioned
	// requests, VPA or KRR. Drawn as a dark grey square.
	KindBaseline PointKind = iota + 1
	// KindProfile is one of rightsizer's named profiles (cost, balanced,
	// performance). Drawn as a blue circle on the rightsizer frontier.
	KindProfile
	// KindBudget is one of rightsizer's risk-budget policies (budget-1,
	// budget-5, ...). Drawn as an orange triangle on the rightsizer frontier.
	KindBudget
)

// String returns the kind's name as the legend writes it.
func (k PointKind) String() string {
	switch k {
	case KindBaseline:
		return "baseline"
	case KindProfile:
		return "rightsizer profile"
	case KindBudget:
		return "rightsizer risk budget"
	default:
		return "PointKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// PlotPoint is one policy's score on one dataset.
type PlotPoint struct {
	// Policy is the policy's name, drawn next to its marker ("vpa",
	// "balanced", "budget-5"). Must be non-empty and unique in a PlotSpec.
	Policy string
	// Kind is the policy's family; the zero value is invalid.
	Kind PointKind
	// Cost is what the policy reserved over the replay, in the unit of
	// PlotSpec.CostLabel (for example requested core-hours, or a cost
	// index). Finite and ≥ 0.
	Cost float64
	// Risk is how often the policy's decision was too small, in the unit of
	// PlotSpec.RiskLabel (for example the fraction of samples with CPU usage
	// above the request, 0–1, or OOM events per workload-day). Finite
	// and ≥ 0.
	Risk float64
}

// PlotSpec is what WritePlot draws: one cost-against-risk chart of every
// policy of one backtest dataset. Lower left is better: cheaper and safer.
type PlotSpec struct {
	// Title is drawn above the chart; empty draws none.
	Title string
	// CostLabel names the x axis with its unit ("requested CPU
	// (core-hours)"); empty means "cost".
	CostLabel string
	// RiskLabel names the y axis with its unit ("samples with CPU usage
	// above request (fraction)"); empty means "risk".
	RiskLabel string
	// Points are the policies to draw, in any order: the chart does not
	// depend on their order.
	Points []PlotPoint
	// LogX and LogY draw that axis on a log10 scale. A log axis cannot show
	// 0: values of 0 are drawn at a floor, the largest power of ten below
	// the smallest positive value on that axis (0.001 if all are 0), and
	// the axis label says so.
	LogX, LogY bool
}

// Validate reports every problem of s, joined with errors.Join: no points,
// an empty or duplicate policy name, an unknown kind, and a cost or risk
// that is NaN, infinite or negative. It returns nil for a drawable spec.
func (s PlotSpec) Validate() error {
	if len(s.Points) == 0 {
		return errors.New("no points to plot")
	}
	var errs []error
	first := make(map[string]int, len(s.Points))
	for i, p := range s.Points {
		name := fmt.Sprintf("point %d (%q)", i, p.Policy)
		if strings.TrimSpace(p.Policy) == "" {
			errs = append(errs, fmt.Errorf("%s: empty policy name", name))
		} else if j, dup := first[p.Policy]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate policy name, first used by point %d", name, j))
		} else {
			first[p.Policy] = i
		}
		if p.Kind < KindBaseline || p.Kind > KindBudget {
			errs = append(errs, fmt.Errorf("%s: unknown kind %d", name, int(p.Kind)))
		}
		for _, v := range []struct {
			axis string
			v    float64
		}{{"cost", p.Cost}, {"risk", p.Risk}} {
			switch {
			case math.IsNaN(v.v) || math.IsInf(v.v, 0):
				errs = append(errs, fmt.Errorf("%s: %s %v is not finite", name, v.axis, v.v))
			case v.v < 0:
				errs = append(errs, fmt.Errorf("%s: %s %v is negative", name, v.axis, v.v))
			}
		}
	}
	return errors.Join(errs...)
}

// plotWidth and plotHeight are the size of the chart WritePlot draws, at
// plotDPI pixels per inch: 800×600 pixels, readable at 100 %.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 6 * vg.Inch
	plotDPI    = 100
)

// WritePlot draws spec as an 800×600-pixel PNG (8×6 inches at 100 dpi)
// and writes it to w. Every point is a marker labelled with its policy name:
// baselines as grey squares; rightsizer's profiles (circles) and risk
// budgets (triangles) joined in order of increasing cost into the
// "rightsizer frontier" line. Labels are placed to avoid each other, the
// markers and the plot edges; a legend right of the chart tells the kinds
// apart. Linear axes start at 0.
//
// The output is a function of spec alone (the order of spec.Points does
// not matter): the same spec gives the same bytes. It writes nothing if
// spec is invalid (see PlotSpec.Validate). WritePlot is safe for concurrent
// use; it takes O(n²) time for n points, to place the labels.
func WritePlot(w io.Writer, spec PlotSpec) error {
	c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
	if _, err := drawPlot(draw.New(c), spec); err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("write plot png: %w", err)
	}
	return nil
}

// SavePlot draws spec as WritePlot does and writes the PNG to the file at
// path, creating or truncating it (mode 0644 before umask). An invalid
// spec leaves any existing file untouched.
func SavePlot(path string, spec PlotSpec) error {
	var b bytes.Buffer
	if err := WritePlot(&b, spec); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save plot: %w", err)
	}
	return nil
}

// Look of the chart. Sizes are in points (1/72 inch); colours are from the
// Okabe–Ito palette, which stays distinct for colour-blind readers.
var (
	plotSans = font.Font{Typeface: "Liberation", Variant: "Sans"}

	plotBaselineColor = color.RGBA{R: 0x4d, G: 0x4d, B: 0x4d, A: 0xff}
	plotProfileColor  = color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff}
	plotBudgetColor   = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff}
	plotGridColor     = color.RGBA{R: 0xe0, G: 0xe0, B: 0xe0, A: 0xff}
	plotNoteColor     = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
)

const (
	plotMarkerRadius = vg.Length(4.5)
	plotHalo         = vg.Length(1.5) // white ring around markers, over lines
	plotLabelGap     = vg.Length(1.5) // between a marker's halo and its label
	plotFrontierW    = vg.Length(1.5)
	plotLegendMargin = vg.Length(14) // between the chart and the legend
	plotMargin       = vg.Length(8)  // around the image
	plotTitleGap     = vg.Length(10)
	plotAxisRoom     = vg.Length(70) // for tick labels, when wrapping axis labels
	plotAxisLabelGap = vg.Length(4)  // between an axis label and tick labels
	// plotHeadroom widens a linear axis past its largest value, as a
	// fraction of it; a log axis is widened by plotLogPad decades each side.
	plotHeadroom = 0.06
	plotLogPad   = 0.12
	// plotLogFloorAllZero is where a log axis draws 0 when it has no
	// positive value to take a floor from.
	plotLogFloorAllZero = 1e-3
)

func plotTextStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(plotSans, size),
		Handler: plot.DefaultTextHandler,
	}
}

// plotGlyph is the marker of a kind.
func plotGlyph(k PointKind) draw.GlyphStyle {
	switch k {
	case KindProfile:
		return draw.GlyphStyle{Color: plotProfileColor, Radius: plotMarkerRadius, Shape: draw.CircleGlyph{}}
	case KindBudget:
		return draw.GlyphStyle{Color: plotBudgetColor, Radius: plotMarkerRadius, Shape: draw.PyramidGlyph{}}
	default:
		return draw.GlyphStyle{Color: plotBaselineColor, Radius: plotMarkerRadius, Shape: draw.BoxGlyph{}}
	}
}

func plotFrontierStyle() draw.LineStyle {
	return draw.LineStyle{Color: plotProfileColor, Width: plotFrontierW}
}

// plotMark is a point as drawn: X and Y are the data values after the log
// floor.
type plotMark struct {
	PlotPoint
	X, Y float64
}

// plotLayout records where drawPlot put things, in canvas coordinates
// (points from the lower left corner of the image), for tests.
type plotLayout struct {
	Image   vg.Rectangle   // the whole image
	Data    vg.Rectangle   // the area the points are drawn in
	Legend  vg.Rectangle   // legend entries and note
	Markers []vg.Rectangle // in the order of costRiskPlotter.marks
	Labels  []vg.Rectangle // in the order of costRiskPlotter.marks
	// The axis labels as drawn, wrapped, and their boxes.
	XLabel, YLabel         string
	XLabelRect, YLabelRect vg.Rectangle
}

// drawPlot validates spec and draws it on dc, which is plotWidth by
// plotHeight.
func drawPlot(dc draw.Canvas, spec PlotSpec) (layout *plotLayout, err error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("validate plot spec: %w", err)
	}
	// gonum/plot panics on what it considers programming errors (an empty
	// axis range, a non-positive value on a log axis). Validate and the
	// range and floor choices below rule those out; should one slip
	// through, report it rather than crash the backtest.
	defer func() {
		if r := recover(); r != nil {
			layout = nil
			if e, ok := r.(error); ok {
				err = fmt.Errorf("render plot: %w", e)
			} else {
				err = fmt.Errorf("render plot: %v", r)
			}
		}
	}()

	marks := make([]plotMark, len(spec.Points))
	for i, p := range spec.Points {
		marks[i] = plotMark{PlotPoint: p, X: p.Cost, Y: p.Risk}
	}
	// One order for everything drawn, so the image does not depend on the
	// order of spec.Points: by cost, then by risk falling (the direction of
	// the frontier), then by name.
	slices.SortFunc(marks, func(a, b plotMark) int {
		return cmp.Or(cmp.Compare(a.Cost, b.Cost), cmp.Compare(b.Risk, a.Risk), strings.Compare(a.Policy, b.Policy))
	})

	body := draw.Crop(dc, plotMargin, -plotMargin, plotMargin, -plotMargin)

	// The title spans the whole width, wrapped: backtest titles are long.
	if spec.Title != "" {
		sty := plotTextStyle(13, color.Black)
		sty.Font.Weight = xfont.WeightBold
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		title := plotWrapBalanced(sty, spec.Title, body.Max.X-body.Min.X)
		body.FillText(sty, vg.Point{X: body.Center().X, Y: body.Max.Y}, title)
		body.Max.Y -= sty.Height(title) + plotTitleGap
	}

	leg, legW := plotLegend(marks)
	body.Max.X -= legW + plotLegendMargin // the chart's part

	p := plot.New()
	xs := make([]float64, len(marks))
	ys := make([]float64, len(marks))
	for i, m := range marks {
		xs[i], ys[i] = m.X, m.Y
	}
	xLabel := plotConfigureAxis(&p.X, xs, spec.LogX, cmp.Or(spec.CostLabel, "cost"))
	yLabel := plotConfigureAxis(&p.Y, ys, spec.LogY, cmp.Or(spec.RiskLabel, "risk"))
	for i := range marks {
		marks[i].X, marks[i].Y = xs[i], ys[i]
	}

	// The axis labels are drawn here, not by gonum/plot, which pads the
	// chart for a label centred on the arithmetic middle of the axis
	// range: far off centre on a log axis. They wrap to the length of
	// their axis, less room for the other axis's tick labels.
	xSty := plotTextStyle(12, color.Black)
	xSty.XAlign = draw.XCenter // centres the lines of a wrapped label
	xLabel = plotWrap(xSty, xLabel, body.Max.X-body.Min.X-plotAxisRoom)
	ySty := xSty
	ySty.Rotation = math.Pi / 2
	yLabel = plotWrap(ySty, yLabel, body.Max.Y-body.Min.Y-plotAxisRoom)
	xBox, yBox := xSty.Rectangle(xLabel), ySty.Rectangle(yLabel)
	chart := draw.Crop(body, yBox.Size().X+plotAxisLabelGap, 0, xBox.Size().Y+plotAxisLabelGap, 0)

	p.Add(plotGrid{})
	crp := &costRiskPlotter{marks: marks}
	p.Add(crp)
	p.Draw(chart)

	// Centre the axis labels on the data area, against the image margins.
	xAt := vg.Point{X: (crp.area.Min.X+crp.area.Max.X)/2 - (xBox.Min.X+xBox.Max.X)/2, Y: body.Min.Y - xBox.Min.Y}
	yAt := vg.Point{X: body.Min.X - yBox.Min.X, Y: (crp.area.Min.Y+crp.area.Max.Y)/2 - (yBox.Min.Y+yBox.Max.Y)/2}
	body.FillText(xSty, xAt, xLabel)
	body.FillText(ySty, yAt, yLabel)

	// The legend sits right of the chart, top-aligned with the data area,
	// so it never covers a point.
	legC := dc
	legC.Min.X = body.Max.X + plotLegendMargin
	legC.Max.Y = crp.area.Max.Y
	legRect := leg.draw(legC)

	layout = &plotLayout{
		Image:      dc.Rectangle,
		Data:       crp.area,
		Legend:     legRect,
		Markers:    crp.markers,
		Labels:     crp.labels,
		XLabel:     xLabel,
		YLabel:     yLabel,
		XLabelRect: xBox.Add(xAt),
		YLabelRect: yBox.Add(yAt),
	}
	return layout, nil
}

// plotWrapBalanced wraps s as plotWrap does into as few lines, but as
// even in length as it can: it looks for the narrowest width that needs
// no more lines.
func plotWrapBalanced(sty text.Style, s string, width vg.Length) string {
	best := plotWrap(sty, s, width)
	n := strings.Count(best, "\n")
	lo, hi := vg.Length(0), width
	for range 20 {
		mid := (lo + hi) / 2
		if w := plotWrap(sty, s, mid); strings.Count(w, "\n") <= n {
			hi, best = mid, w
		} else {
			lo = mid
		}
	}
	return best
}

// plotWrap breaks s into lines no wider than width in style sty, at
// spaces (U+0020, not no-break spaces); a word wider than width gets a
// line of its own.
func plotWrap(sty text.Style, s string, width vg.Length) string {
	var lines []string
	line := ""
	for w := range strings.SplitSeq(s, " ") {
		switch {
		case w == "":
		case line == "":
			line = w
		case sty.Width(line+" "+w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return strings.Join(append(lines, line), "\n")
}

// plotConfigureAxis sets a's range, scale, ticks and tick style for the
// values vs, which it clamps in place to the log floor when log is set.
// It returns the axis label to draw: label, with the scale and the floor
// said when log is set.
func plotConfigureAxis(a *plot.Axis, vs []float64, log bool, label string) string {
	// Keep the tick label alignment gonum chose for this axis.
	xa, ya := a.Tick.Label.XAlign, a.Tick.Label.YAlign
	a.Tick.Label = plotTextStyle(10, color.Black)
	a.Tick.Label.XAlign, a.Tick.Label.YAlign = xa, ya

	lo, hi := slices.Min(vs), slices.Max(vs)
	if !log {
		// A linear axis starts at 0: the distance from 0 is what a user
		// compares.
		top := hi * (1 + plotHeadroom)
		if hi == 0 {
			top = 1
		}
		if math.IsInf(top, 0) {
			top = math.MaxFloat64
		}
		a.Min, a.Max = 0, top
		a.Scale = plot.LinearScale{}
		a.Tick.Marker = plot.TickerFunc(plotLinearTicks)
		return label
	}

	floor := plotLogFloor(vs)
	clamped := false
	for i, v := range vs {
		if v < floor {
			vs[i] = floor
			clamped = true
		}
	}
	lo, hi = math.Max(lo, floor), math.Max(hi, floor)
	pad := math.Pow(10, plotLogPad)
	if lo == hi {
		pad = 10 // a decade each side, so the ticks are round
	}
	a.Min = math.Max(lo/pad, math.SmallestNonzeroFloat64)
	a.Max = math.Min(hi*pad, math.MaxFloat64)
	if a.Min >= a.Max { // only for values at the ends of float64
		a.Min, a.Max = lo, math.Nextafter(lo, math.Inf(1))
	}
	a.Scale = plot.LogScale{}
	a.Tick.Marker = plot.TickerFunc(plotLogTicks)
	// No-break spaces keep each phrase on one line when the label wraps.
	label += ", log\u00a0scale"
	if clamped {
		label += ", 0\u00a0drawn\u00a0at\u00a0" + strconv.FormatFloat(floor, 'g', -1, 64)
	}
	return label
}

// plotLogFloor returns where a log axis draws the zeros of vs: the largest
// power of ten below the smallest positive value, or plotLogFloorAllZero
// if no value is positive.
func plotLogFloor(vs []float64) float64 {
	minPos := math.Inf(1)
	for _, v := range vs {
		if v > 0 && v < minPos {
			minPos = v
		}
	}
	if math.IsInf(minPos, 1) {
		return plotLogFloorAllZero
	}
	e := int(math.Floor(math.Log10(minPos)))
	f := plotDecimal(1, e)
	for f >= minPos && f > 0 { // Log10 rounding, and exact powers of ten
		e--
		f = plotDecimal(1, e)
	}
	if f == 0 { // no power of ten is below minPos in float64
		return minPos
	}
	return f
}

// plotDecimal returns m×10^e as the float64 nearest to that decimal, so tick
// values print short ("0.3", not "0.30000000000000004").
func plotDecimal(m int64, e int) float64 {
	// Out of range, ParseFloat returns ±Inf or 0 with an error; callers
	// keep e within float64's range.
	v, _ := strconv.ParseFloat(strconv.FormatInt(m, 10)+"e"+strconv.Itoa(e), 64)
	return v
}

func plotFormatTick(v float64) string {
	if v != 0 && (math.Abs(v) >= 1e7 || math.Abs(v) < 1e-4) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// plotLinearTicks labels about five round values (1, 2, 2.5 or 5 × 10^k
// apart) between lo and hi.
func plotLinearTicks(lo, hi float64) []plot.Tick {
	const want = 5
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return []plot.Tick{{Value: lo, Label: plotFormatTick(lo)}}
	}
	raw := span / want
	e := int(math.Floor(math.Log10(raw)))
	// Step is m×10^(e-1) with m one of 10, 20, 25, 50, 100.
	var m int64 = 100
	for _, c := range []int64{10, 20, 25, 50} {
		if plotDecimal(c, e-1) >= raw {
			m = c
			break
		}
	}
	step := plotDecimal(m, e-1)
	if lo/step > 1e15 { // the range is lost in lo's rounding
		return []plot.Tick{{Value: lo, Label: plotFormatTick(lo)}}
	}
	first := int64(math.Ceil(lo / step))
	var ticks []plot.Tick
	for i := first; ; i++ {
		v := plotDecimal(i*m, e-1)
		if v > hi || len(ticks) > 2*want {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: plotFormatTick(v)})
	}
	return ticks
}

// plotLogTicks labels powers of ten between lo and hi (every k-th power
// of ten, k chosen for at most about six labels) and, on ranges of three
// decades or less, 2 and 5 times them. Minor ticks mark the other integer
// multiples up to six decades, the other powers of ten up to 60, and
// nothing beyond. On a range too short for three labels it falls back to
// plotLinearTicks.
func plotLogTicks(lo, hi float64) []plot.Tick {
	const maxLabels = 6
	decades := math.Log10(hi) - math.Log10(lo)
	labelled := []int64{1, 2, 5}
	if decades > 3 {
		labelled = []int64{1}
	}
	every := max(1, int(math.Ceil(decades/maxLabels)))
	var ticks []plot.Tick
	nLabels := 0
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Ceil(math.Log10(hi))); e++ {
		for m := int64(1); m <= 9; m++ {
			v := plotDecimal(m, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			switch {
			case slices.Contains(labelled, m) && plotMod(e, every) == 0:
				t.Label = plotFormatTick(v)
				nLabels++
			case decades > maxLabels && (m != 1 || decades > 10*maxLabels):
				continue // minor ticks would smear
			}
			ticks = append(ticks, t)
		}
	}
	if nLabels < 3 {
		return plotLinearTicks(lo, hi)
	}
	return ticks
}

// plotMod is a mod b in [0, b), for b > 0.
func plotMod(a, b int) int { return ((a % b) + b) % b }

// plotGrid draws light lines at the labelled ticks, under the data.
type plotGrid struct{}

func (plotGrid) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: plotGridColor, Width: 0.75}
	for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if x := trX(t.Value); !t.IsMinor() && c.ContainsX(x) {
			c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
		}
	}
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if y := trY(t.Value); !t.IsMinor() && c.ContainsY(y) {
			c.StrokeLine2(sty, c.Min.X, y, c.Max.X, y)
		}
	}
}

// costRiskPlotter draws the frontier line, the markers and their labels.
// It implements plot.GlyphBoxer so that the plot pads its data area to fit
// each label in its preferred place.
type costRiskPlotter struct {
	marks []plotMark // sorted as drawPlot sorts them

	// Set by Plot, for plotLayout.
	area    vg.Rectangle
	markers []vg.Rectangle
	labels  []vg.Rectangle
}

func plotLabelStyle(k PointKind) text.Style {
	switch k {
	case KindProfile:
		return plotTextStyle(10, color.RGBA{R: 0x00, G: 0x4f, B: 0x7c, A: 0xff})
	case KindBudget:
		return plotTextStyle(10, color.RGBA{R: 0x9a, G: 0x44, B: 0x00, A: 0xff})
	default:
		return plotTextStyle(10, color.RGBA{R: 0x26, G: 0x26, B: 0x26, A: 0xff})
	}
}

// plotLabelSpot is a place for a marker's label: sx and sy are -1 (left
// of or below the marker), 0 (centred on it) or +1 (right of or above
// it); a level above 0 moves a label above or below the marker that many
// label rows further out, tied to it by a leader line, for crowded charts.
type plotLabelSpot struct{ sx, sy, level int }

// plotMaxLevel is how many rows out a label may be stacked.
const plotMaxLevel = 20

// plotSpots returns the spots tried for a label, best first; the plot is
// padded for the first. Labels go right of a marker (left, if left is
// set), then on its other side, then on its corners, then above and below
// it, and then stacked further out.
func plotSpots(left bool) []plotLabelSpot {
	h := 1
	if left {
		h = -1
	}
	s := []plotLabelSpot{{h, 0, 0}, {-h, 0, 0}, {h, 1, 0}, {h, -1, 0}, {0, 1, 0}, {0, -1, 0}, {-h, 1, 0}, {-h, -1, 0}}
	for l := 1; l <= plotMaxLevel; l++ {
		s = append(s, plotLabelSpot{0, 1, l}, plotLabelSpot{0, -1, l}, plotLabelSpot{h, 1, l},
			plotLabelSpot{h, -1, l}, plotLabelSpot{-h, 1, l}, plotLabelSpot{-h, -1, l})
	}
	return s
}

// plotSpotsRight and plotSpotsLeft are read only.
var (
	plotSpotsRight = plotSpots(false)
	plotSpotsLeft  = plotSpots(true)
)

// plotSpotsAt returns the spots for a marker at nx (0–1 along the x
// axis): labels go left of markers in the right fifth of the chart.
func plotSpotsAt(nx float64) []plotLabelSpot {
	if nx > 0.8 {
		return plotSpotsLeft
	}
	return plotSpotsRight
}

// plotLabelAt returns the text style and anchor of the label name at spot s
// of a marker at pt, and the label's bounding box: plotLabelGap clear of
// the marker's halo on the spot's sides, centred on the marker otherwise.
func plotLabelAt(k PointKind, name string, pt vg.Point, s plotLabelSpot) (text.Style, vg.Point, vg.Rectangle) {
	sty := plotLabelStyle(k)
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
	r := sty.Rectangle(name) // relative to the anchor
	off := plotMarkerRadius + plotHalo + plotLabelGap
	at := pt
	switch s.sx {
	case 1:
		at.X += off - r.Min.X
	case -1:
		at.X -= off + r.Max.X
	default:
		at.X -= (r.Min.X + r.Max.X) / 2
	}
	offY := off + vg.Length(s.level)*(r.Size().Y+plotLabelGap)
	switch s.sy {
	case 1:
		at.Y += offY - r.Min.Y
	case -1:
		at.Y -= offY + r.Max.Y
	default:
		at.Y -= (r.Min.Y + r.Max.Y) / 2
	}
	return sty, at, r.Add(at)
}

// plotLeader returns the leader line from the edge of the halo of a marker
// at pt to the nearest point of its label's box r.
func plotLeader(pt vg.Point, r vg.Rectangle) []vg.Point {
	end := vg.Point{X: min(max(pt.X, r.Min.X), r.Max.X), Y: min(max(pt.Y, r.Min.Y), r.Max.Y)}
	d := end.Sub(pt)
	n := vg.Length(math.Hypot(float64(d.X), float64(d.Y)))
	if n <= plotMarkerRadius+plotHalo {
		return nil
	}
	return []vg.Point{pt.Add(d.Scale((plotMarkerRadius + plotHalo) / n)), end}
}

func plotMarkerBox(pt vg.Point) vg.Rectangle {
	r := plotMarkerRadius + plotHalo
	return vg.Rectangle{Min: vg.Point{X: pt.X - r, Y: pt.Y - r}, Max: vg.Point{X: pt.X + r, Y: pt.Y + r}}
}

// GlyphBoxes implements plot.GlyphBoxer: each marker and its label in its
// first spot.
func (p *costRiskPlotter) GlyphBoxes(plt *plot.Plot) []plot.GlyphBox {
	var bs []plot.GlyphBox
	for _, m := range p.marks {
		nx, ny := plt.X.Norm(m.X), plt.Y.Norm(m.Y)
		bs = append(bs, plot.GlyphBox{X: nx, Y: ny, Rectangle: plotMarkerBox(vg.Point{})})
		_, _, r := plotLabelAt(m.Kind, m.Policy, vg.Point{}, plotSpotsAt(nx)[0])
		bs = append(bs, plot.GlyphBox{X: nx, Y: ny, Rectangle: r})
	}
	return bs
}

// Plot implements plot.Plotter. It draws the frontier line, then leader
// lines, then markers, then labels, so that markers sit on lines and
// labels on everything.
func (p *costRiskPlotter) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	p.area = c.Rectangle
	pts := make([]vg.Point, len(p.marks))
	p.markers = make([]vg.Rectangle, len(p.marks))
	var line []vg.Point
	for i, m := range p.marks {
		pts[i] = vg.Point{X: trX(m.X), Y: trY(m.Y)}
		p.markers[i] = plotMarkerBox(pts[i])
		if m.Kind != KindBaseline {
			line = append(line, pts[i])
		}
	}

	// Place the labels one by one, each in its least bad spot: inside the
	// data area, then clear of other labels, then of markers, then of the
	// frontier line, then as close to its marker as may be.
	var segs [][2]vg.Point
	for i := 1; i < len(line); i++ {
		segs = append(segs, [2]vg.Point{line[i-1], line[i]})
	}
	spots := make([]plotLabelSpot, len(p.marks))
	p.labels = make([]vg.Rectangle, len(p.marks))
	for i, m := range p.marks {
		cands := plotSpotsAt(plt.X.Norm(m.X))
		best, bestCost := 0, math.Inf(1)
		for j, s := range cands {
			_, _, r := plotLabelAt(m.Kind, m.Policy, pts[i], s)
			cost := float64(j)
			if !plotInside(r, c.Rectangle) {
				if j > 0 {
					continue
				}
				cost += 1e6 // the plot is padded for spot 0; only rounding gets here
			}
			for k := range i {
				if plotOverlaps(r, p.labels[k]) {
					cost += 1e4
				}
			}
			for _, mb := range p.markers {
				if plotOverlaps(r, mb) {
					cost += 5e3
				}
			}
			for _, sg := range segs {
				if plotCrosses(r, sg[0], sg[1]) {
					cost += 200
				}
			}
			// A label nearer another marker than its own reads as that
			// marker's.
			own := plotDist(r, pts[i])
			for k, q := range pts {
				if k != i && q != pts[i] && plotDist(r, q) < own {
					cost += 300
				}
			}
			if cost < bestCost {
				best, bestCost = j, cost
			}
		}
		spots[i] = cands[best]
		_, _, p.labels[i] = plotLabelAt(m.Kind, m.Policy, pts[i], spots[i])
	}

	if len(line) > 1 {
		c.StrokeLines(plotFrontierStyle(), c.ClipLinesXY(line)...)
	}
	for i := range p.marks {
		if spots[i].level > 0 {
			if l := plotLeader(pts[i], p.labels[i]); l != nil {
				c.StrokeLines(draw.LineStyle{Color: plotNoteColor, Width: 0.6}, l)
			}
		}
	}
	// Baselines first: where markers coincide, rightsizer's are on top.
	for _, baselines := range []bool{true, false} {
		for i, m := range p.marks {
			if (m.Kind == KindBaseline) != baselines {
				continue
			}
			g := plotGlyph(m.Kind)
			halo := g
			halo.Color = color.White
			halo.Radius += plotHalo
			c.DrawGlyphNoClip(halo, pts[i])
			c.DrawGlyphNoClip(g, pts[i])
		}
	}
	for i, m := range p.marks {
		sty, at, _ := plotLabelAt(m.Kind, m.Policy, pts[i], spots[i])
		c.FillText(sty, at, m.Policy)
	}
}

// plotDist returns the distance from pt to the nearest point of r.
func plotDist(r vg.Rectangle, pt vg.Point) vg.Length {
	dx := max(r.Min.X-pt.X, 0, pt.X-r.Max.X)
	dy := max(r.Min.Y-pt.Y, 0, pt.Y-r.Max.Y)
	return vg.Length(math.Hypot(float64(dx), float64(dy)))
}

func plotInside(r, outer vg.Rectangle) bool {
	const eps = 1e-6
	return r.Min.X >= outer.Min.X-eps && r.Min.Y >= outer.Min.Y-eps &&
		r.Max.X <= outer.Max.X+eps && r.Max.Y <= outer.Max.Y+eps
}

func plotOverlaps(a, b vg.Rectangle) bool {
	return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
}

// plotCrosses reports whether the segment from a to b passes through r
// (Liang–Barsky clipping).
func plotCrosses(r vg.Rectangle, a, b vg.Point) bool {
	t0, t1 := 0.0, 1.0
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	for _, e := range [4][2]float64{
		{-dx, float64(a.X - r.Min.X)},
		{dx, float64(r.Max.X - a.X)},
		{-dy, float64(a.Y - r.Min.Y)},
		{dy, float64(r.Max.Y - a.Y)},
	} {
		p, q := e[0], e[1]
		if p == 0 {
			if q < 0 {
				return false
			}
			continue
		}
		t := q / p
		if p < 0 {
			t0 = math.Max(t0, t)
		} else {
			t1 = math.Min(t1, t)
		}
		if t0 > t1 {
			return false
		}
	}
	return true
}

// plotLegendBox is the legend: one entry per kind present, then the
// frontier line, then a note on reading the chart.
type plotLegendBox struct {
	leg  plot.Legend
	note string
}

func plotLegend(marks []plotMark) (plotLegendBox, vg.Length) {
	leg := plot.NewLegend()
	leg.TextStyle = plotTextStyle(11, color.Black)
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = 26
	leg.Padding = 5
	present := map[PointKind]bool{}
	for _, m := range marks {
		present[m.Kind] = true
	}
	for _, k := range []PointKind{KindBaseline, KindProfile, KindBudget} {
		if present[k] {
			leg.Add(k.String(), plotGlyphThumb(plotGlyph(k)))
		}
	}
	if len(marks)-plotCountKind(marks, KindBaseline) > 1 {
		leg.Add("rightsizer frontier", plotLineThumb(plotFrontierStyle()))
	}
	b := plotLegendBox{leg: leg, note: "lower left is better:\ncheaper and safer"}
	w := leg.Rectangle(draw.Canvas{}).Size().X
	w = max(w, plotTextStyle(10, plotNoteColor).Width(b.note))
	return b, w
}

func plotCountKind(marks []plotMark, k PointKind) int {
	n := 0
	for _, m := range marks {
		if m.Kind == k {
			n++
		}
	}
	return n
}

// draw draws the legend at the top left of c and returns the area it used.
func (b plotLegendBox) draw(c draw.Canvas) vg.Rectangle {
	b.leg.Draw(c)
	r := b.leg.Rectangle(c) // right-aligned in c: gonum swaps sides for Left
	r.Min.X, r.Max.X = c.Min.X, c.Min.X+r.Size().X
	note := plotTextStyle(10, plotNoteColor)
	note.YAlign = draw.YTop
	at := vg.Point{X: c.Min.X, Y: r.Min.Y - 14}
	c.FillText(note, at, b.note)
	nr := note.Rectangle(b.note).Add(at)
	return vg.Rectangle{
		Min: vg.Point{X: min(r.Min.X, nr.Min.X), Y: min(r.Min.Y, nr.Min.Y)},
		Max: vg.Point{X: max(r.Max.X, nr.Max.X), Y: max(r.Max.Y, nr.Max.Y)},
	}
}

// plotGlyphThumb draws a marker in a legend entry.
type plotGlyphThumb draw.GlyphStyle

func (g plotGlyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyphNoClip(draw.GlyphStyle(g), c.Center())
}

// plotLineThumb draws a line in a legend entry.
type plotLineThumb draw.LineStyle

func (l plotLineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(draw.LineStyle(l), c.Min.X, y, c.Max.X, y)
}
