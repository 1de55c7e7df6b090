package backtest

import (
	"bytes"
	"errors"
	"image"
	imagedraw "image/draw"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/rightsizer/rightsizer/internal/golden"
)

// plotSampleSpec is a realistic backtest of one dataset: the three
// baselines and five rightsizer policies.
func plotSampleSpec() PlotSpec {
	return PlotSpec{
		Title:     "bitbrains-rnd: 500 workloads, 14 days replayed, a decision every 24h after a 3-day warm-up",
		CostLabel: "requested CPU (core-hours)",
		RiskLabel: "share of samples with CPU usage above the request",
		Points: []PlotPoint{
			{Policy: "provisioned", Kind: KindBaseline, Cost: 100, Risk: 0},
			{Policy: "vpa", Kind: KindBaseline, Cost: 40, Risk: 0.02},
			{Policy: "krr", Kind: KindBaseline, Cost: 45, Risk: 0.05},
			{Policy: "cost", Kind: KindProfile, Cost: 25, Risk: 0.08},
			{Policy: "balanced", Kind: KindProfile, Cost: 32, Risk: 0.02},
			{Policy: "performance", Kind: KindProfile, Cost: 45, Risk: 0.005},
			{Policy: "budget-1", Kind: KindBudget, Cost: 38, Risk: 0.01},
			{Policy: "budget-5", Kind: KindBudget, Cost: 28, Risk: 0.05},
		},
	}
}

func plotPNG(t *testing.T, spec PlotSpec) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WritePlot(&b, spec))
	return b.Bytes()
}

// plotDecode decodes a PNG and checks its size: 8×6 inches at 100 dpi.
func plotDecode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 800, 600), img.Bounds())
	return img
}

// plotLayoutOf lays spec out on a canvas that records drawing calls
// instead of rasterising them: fast, for tests of the layout only.
func plotLayoutOf(spec PlotSpec) (*plotLayout, error) {
	return drawPlot(draw.NewCanvas(&recorder.Canvas{}, plotWidth, plotHeight), spec)
}

func TestPlotSpecValidate(t *testing.T) {
	t.Parallel()
	ok := func(name string, k PointKind, cost, risk float64) PlotPoint {
		return PlotPoint{Policy: name, Kind: k, Cost: cost, Risk: risk}
	}
	for _, tc := range []struct {
		name   string
		points []PlotPoint
		want   []string // substrings of the joined error; nil: valid
	}{
		{name: "valid", points: plotSampleSpec().Points},
		{name: "single point", points: []PlotPoint{ok("vpa", KindBaseline, 1, 0)}},
		{name: "all zero", points: []PlotPoint{ok("vpa", KindBaseline, 0, 0), ok("cost", KindProfile, 0, 0)}},
		{name: "no points", want: []string{"no points to plot"}},
		{name: "empty name", points: []PlotPoint{ok(" ", KindProfile, 1, 1)}, want: []string{`point 0 (" "): empty policy name`}},
		{name: "unknown kind", points: []PlotPoint{ok("vpa", 0, 1, 1), ok("krr", 4, 1, 1)}, want: []string{
			`point 0 ("vpa"): unknown kind 0`, `point 1 ("krr"): unknown kind 4`,
		}},
		{name: "NaN cost", points: []PlotPoint{ok("vpa", KindBaseline, math.NaN(), 1)}, want: []string{`point 0 ("vpa"): cost NaN is not finite`}},
		{name: "Inf risk", points: []PlotPoint{ok("vpa", KindBaseline, 1, math.Inf(1))}, want: []string{`point 0 ("vpa"): risk +Inf is not finite`}},
		{name: "-Inf cost", points: []PlotPoint{ok("vpa", KindBaseline, math.Inf(-1), 1)}, want: []string{`cost -Inf is not finite`}},
		{name: "negative", points: []PlotPoint{ok("vpa", KindBaseline, -1, -0.5)}, want: []string{
			`point 0 ("vpa"): cost -1 is negative`, `point 0 ("vpa"): risk -0.5 is negative`,
		}},
		{name: "duplicate", points: []PlotPoint{ok("vpa", KindBaseline, 1, 1), ok("cost", KindProfile, 1, 1), ok("vpa", KindProfile, 2, 2)}, want: []string{
			`point 2 ("vpa"): duplicate policy name, first used by point 0`,
		}},
		{name: "every problem at once", points: []PlotPoint{
			ok("vpa", KindBaseline, 1, 1), ok("vpa", KindBudget, math.NaN(), -1), ok("", 9, 1, 1),
		}, want: []string{
			`point 1 ("vpa"): duplicate policy name`, `point 1 ("vpa"): cost NaN is not finite`,
			`point 1 ("vpa"): risk -1 is negative`, `point 2 (""): empty policy name`, `point 2 (""): unknown kind 9`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := PlotSpec{Points: tc.points}
			err := spec.Validate()
			var b bytes.Buffer
			werr := WritePlot(&b, spec)
			if tc.want == nil {
				require.NoError(t, err)
				require.NoError(t, werr)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			if len(tc.want) > 1 {
				var joined interface{ Unwrap() []error }
				require.ErrorAs(t, err, &joined)
				require.Len(t, joined.Unwrap(), len(tc.want))
			}
			require.ErrorContains(t, werr, "validate plot spec: ")
			require.ErrorContains(t, werr, err.Error(), "WritePlot wraps the validation error")
			require.Zero(t, b.Len(), "nothing written for an invalid spec")
		})
	}
}

// TestPlotDeterministic checks that rendering is byte-for-byte repeatable
// and does not depend on the order of the points, which is what makes
// the golden test possible.
func TestPlotDeterministic(t *testing.T) {
	t.Parallel()
	spec := plotSampleSpec()
	first := plotPNG(t, spec)
	require.Equal(t, first, plotPNG(t, spec), "same spec, same bytes")

	rev := spec
	rev.Points = slices.Clone(spec.Points)
	slices.Reverse(rev.Points)
	require.Equal(t, first, plotPNG(t, rev), "the order of the points does not matter")
}

// TestPlotGolden compares the sample chart with testdata/plot-sample.png,
// decoded, so that a change in Go's PNG encoder does not fail it. A build
// renders the same bytes every time (TestPlotDeterministic), but builds
// that fuse multiply-adds (arm64, GOAMD64=v3) round the anti-aliasing of a
// few pixels one level differently, so pixels may differ by
// plotGoldenTolerance levels; a moved or recoloured mark differs by far
// more. Run go test ./recommender/backtest -run TestPlotGolden -update
// after a deliberate change, and look at the new image.
const plotGoldenTolerance = 4

func TestPlotGolden(t *testing.T) {
	t.Parallel()
	got := plotPNG(t, plotSampleSpec())
	goldenPath := filepath.Join("testdata", "plot-sample.png")
	golden.Write(t, goldenPath, got)
	wantPNG, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	want, gotImg := plotDecode(t, wantPNG), plotDecode(t, got)
	if diff := plotPixelDiff(want, gotImg, plotGoldenTolerance); diff != 0 {
		out := filepath.Join(t.TempDir(), "plot-sample.png")
		require.NoError(t, os.WriteFile(out, got, 0o644))
		require.Failf(t, "chart differs from the golden file",
			"%d pixels differ from %s by more than %d levels; this run's chart is %s (-update to accept it)",
			diff, goldenPath, plotGoldenTolerance, out)
	}
}

// plotPixelDiff counts the pixels of two images of the same size that
// differ by more than tol levels (of 255) in some channel.
func plotPixelDiff(a, b image.Image, tol int) int {
	pa, pb := plotRGBA(a), plotRGBA(b)
	n := 0
	for i := 0; i < len(pa.Pix); i += 4 {
		for c := range 4 {
			if d := int(pa.Pix[i+c]) - int(pb.Pix[i+c]); d > tol || -d > tol {
				n++
				break
			}
		}
	}
	return n
}

func plotRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) && r.Stride == 4*r.Rect.Dx() {
		return r
	}
	r := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	imagedraw.Draw(r, r.Rect, img, img.Bounds().Min, imagedraw.Src)
	return r
}

// TestPlotScales draws the edge cases on every scale and checks each
// gives a PNG of the right size, with every label inside the data area,
// clear of the other labels and of every marker.
func TestPlotScales(t *testing.T) {
	t.Parallel()
	sample := plotSampleSpec()
	allZero := plotSampleSpec()
	for i := range allZero.Points {
		allZero.Points[i].Risk = 0
	}
	single := PlotSpec{Points: []PlotPoint{{Policy: "balanced", Kind: KindProfile, Cost: 12.5, Risk: 0.01}}}
	zeroSingle := PlotSpec{Points: []PlotPoint{{Policy: "provisioned", Kind: KindBaseline}}}
	wide := PlotSpec{Points: []PlotPoint{
		{Policy: "provisioned", Kind: KindBaseline, Cost: 1e6, Risk: 1e-6},
		{Policy: "cost", Kind: KindProfile, Cost: 0.5, Risk: 0.9},
		{Policy: "budget-5", Kind: KindBudget, Cost: 3, Risk: 0.05},
	}}
	baselinesOnly := PlotSpec{Points: sample.Points[:3]}
	extremes := PlotSpec{Points: []PlotPoint{
		{Policy: "provisioned", Kind: KindBaseline, Cost: math.MaxFloat64, Risk: math.SmallestNonzeroFloat64},
		{Policy: "cost", Kind: KindProfile, Cost: 5e-324, Risk: 1e300},
		{Policy: "budget-5", Kind: KindBudget},
	}}
	equal := PlotSpec{Points: []PlotPoint{
		{Policy: "vpa", Kind: KindBaseline, Cost: 3, Risk: 0.5},
		{Policy: "balanced", Kind: KindProfile, Cost: 3, Risk: 0.5},
		{Policy: "budget-1", Kind: KindBudget, Cost: 3, Risk: 0.5},
	}}
	for _, tc := range []struct {
		name string
		spec PlotSpec
	}{
		{"sample", sample}, {"all zero risk", allZero}, {"single point", single},
		{"single zero point", zeroSingle}, {"twelve decades", wide}, {"baselines only", baselinesOnly},
		{"float64 extremes", extremes}, {"all at one spot", equal},
	} {
		for _, sc := range []struct {
			name       string
			logX, logY bool
		}{{"linear", false, false}, {"logX", true, false}, {"logY", false, true}, {"loglog", true, true}} {
			t.Run(tc.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				spec := tc.spec
				spec.LogX, spec.LogY = sc.logX, sc.logY
				c := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
				l, err := drawPlot(draw.New(c), spec)
				require.NoError(t, err)
				var b bytes.Buffer
				_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(&b)
				require.NoError(t, err)
				plotDecode(t, b.Bytes())
				require.Len(t, l.Labels, len(spec.Points))
				plotCheckLayout(t, l)
			})
		}
	}
}

// plotCheckLayout checks that every label is inside the data area, clear
// of the other labels and of every marker, and that the legend and axis
// labels are inside the image and clear of the data area.
func plotCheckLayout(t *testing.T, l *plotLayout) {
	t.Helper()
	for i, r := range l.Labels {
		require.Truef(t, plotInside(r, l.Data), "label %d %v outside the data area %v", i, r, l.Data)
		for j := range i {
			require.Falsef(t, plotOverlaps(r, l.Labels[j]), "labels %d and %d overlap", i, j)
		}
		for j, m := range l.Markers {
			require.Falsef(t, plotOverlaps(r, m), "label %d covers marker %d", i, j)
		}
	}
	require.Truef(t, plotInside(l.Legend, l.Image), "legend %v outside the image", l.Legend)
	require.Truef(t, plotInside(l.XLabelRect, l.Image), "x label %v outside the image", l.XLabelRect)
	require.Truef(t, plotInside(l.YLabelRect, l.Image), "y label %v outside the image", l.YLabelRect)
	require.Falsef(t, plotOverlaps(l.XLabelRect, l.Data), "x label covers the data area")
	require.Falsef(t, plotOverlaps(l.YLabelRect, l.Data), "y label covers the data area")
	require.Falsef(t, plotOverlaps(l.Legend, l.Data), "legend %v covers the data area %v", l.Legend, l.Data)
}

// TestPlotLayoutRandom lays out random charts, crowded and spanning
// decades on linear axes as no real backtest does, and checks the labels
// still stay clear of each other and of the markers.
func TestPlotLayoutRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	value := func() float64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return math.Pow(10, rng.Float64()*12-6)
		default:
			return rng.Float64() * 100
		}
	}
	for i := range 100 {
		spec := PlotSpec{LogX: rng.IntN(2) == 0, LogY: rng.IntN(2) == 0}
		for j := range 1 + rng.IntN(14) {
			spec.Points = append(spec.Points, PlotPoint{
				Policy: "policy-" + strconv.Itoa(j), Kind: PointKind(1 + rng.IntN(3)), Cost: value(), Risk: value(),
			})
		}
		l, err := plotLayoutOf(spec)
		require.NoError(t, err, "chart %d", i)
		require.Len(t, l.Labels, len(spec.Points))
		plotCheckLayout(t, l)
	}
}

// TestPlotDiffers checks that what the spec says shows in the image.
func TestPlotDiffers(t *testing.T) {
	t.Parallel()
	base := plotSampleSpec()
	moved := plotSampleSpec()
	moved.Points[1].Risk = 0.03
	renamed := plotSampleSpec()
	renamed.Points[1].Policy = "vpa-updater"
	kind := plotSampleSpec()
	kind.Points[1].Kind = KindProfile
	logY := plotSampleSpec()
	logY.LogY = true
	titled := plotSampleSpec()
	titled.Title = "another dataset"

	want := plotDecode(t, plotPNG(t, base))
	for name, s := range map[string]PlotSpec{"moved": moved, "renamed": renamed, "kind": kind, "logY": logY, "titled": titled} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NotZero(t, plotPixelDiff(want, plotDecode(t, plotPNG(t, s)), plotGoldenTolerance), "draws as the base spec does")
		})
	}
}

func TestPlotLogFloor(t *testing.T) {
	t.Parallel()
	spec := plotSampleSpec()
	spec.RiskLabel = "risk"
	l, err := plotLayoutOf(spec)
	require.NoError(t, err)
	require.Equal(t, "risk", l.YLabel)
	spec.LogX, spec.LogY = true, true
	l, err = plotLayoutOf(spec)
	require.NoError(t, err)
	require.Equal(t, "risk, log\u00a0scale, 0\u00a0drawn\u00a0at\u00a00.001", l.YLabel, "the floor is said where it is used")
	require.Equal(t, "requested CPU (core-hours), log\u00a0scale", l.XLabel)

	for _, tc := range []struct {
		vs   []float64
		want float64
	}{
		{[]float64{0, 0.005, 0.08}, 0.001},
		{[]float64{0, 0.01, 1}, 0.001},
		{[]float64{0, 25, 100}, 10},
		{[]float64{0, 0}, 1e-3},
		{[]float64{5e-324}, 5e-324},
	} {
		require.Equal(t, tc.want, plotLogFloor(tc.vs), "%v", tc.vs)
	}
}

func TestPointKindString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "baseline", KindBaseline.String())
	require.Equal(t, "rightsizer profile", KindProfile.String())
	require.Equal(t, "rightsizer risk budget", KindBudget.String())
	require.Equal(t, "PointKind(0)", PointKind(0).String())
}

func TestPlotTicks(t *testing.T) {
	t.Parallel()
	labels := func(ts []plot.Tick) []string {
		var ls []string
		for _, t := range ts {
			if t.Label != "" {
				ls = append(ls, t.Label)
			}
		}
		return ls
	}
	require.Equal(t, []string{"0", "25", "50", "75", "100"}, labels(plotLinearTicks(0, 106)))
	require.Equal(t, []string{"0", "0.02", "0.04", "0.06", "0.08"}, labels(plotLinearTicks(0, 0.0848)))
	require.Equal(t, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, labels(plotLinearTicks(0, 1)))
	require.Equal(t, []string{"0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1"}, labels(plotLogTicks(0.00076, 0.105)))
	require.Equal(t, []string{"1e-06", "0.001", "1", "1000", "1000000"}, labels(plotLogTicks(7e-7, 1.3e6)))
	require.Equal(t, []string{"1e-06", "0.0001", "0.01", "1"}, labels(plotLogTicks(7e-7, 1.3)))
	// Less than a decade: linear ticks.
	require.Equal(t, []string{"20", "30", "40", "50"}, labels(plotLogTicks(19, 57)))
}

func TestSavePlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sample.png")
	require.NoError(t, SavePlot(path, plotSampleSpec()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, plotPNG(t, plotSampleSpec()), b)

	// An invalid spec leaves the file as it was.
	require.ErrorContains(t, SavePlot(path, PlotSpec{}), "no points to plot")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, after)

	err = SavePlot(filepath.Join(dir, "missing", "x.png"), plotSampleSpec())
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "save plot: ")
}

type plotFailingWriter struct{ err error }

func (w plotFailingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWritePlotWriteError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	err := WritePlot(plotFailingWriter{boom}, plotSampleSpec())
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "write plot png: ")
}
