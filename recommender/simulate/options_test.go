package simulate

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// joined returns the errors joined in err, or err alone.
func joined(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(o *Options)
		want   []string // one substring per expected error; none means valid
	}{
		{name: "defaults", modify: func(*Options) {}},
		{name: "zero values mean defaults", modify: func(o *Options) { *o = Options{} }},
		{name: "paced", modify: func(o *Options) { o.Speed = 3600 }},
		{name: "negative step", modify: func(o *Options) { o.Step = -time.Minute }, want: []string{"step -1m0s is outside [1s, 1h0m0s]"}},
		{name: "step too short", modify: func(o *Options) { o.Step = time.Millisecond }, want: []string{"step 1ms"}},
		{name: "step too long", modify: func(o *Options) { o.Step = 2 * time.Hour }, want: []string{"step 2h0m0s"}},
		{name: "negative duration", modify: func(o *Options) { o.Duration = -time.Hour }, want: []string{"duration -1h0m0s is negative"}},
		{name: "duration shorter than a step", modify: func(o *Options) { o.Duration = time.Second }, want: []string{"duration 1s is shorter than the step 1m0s"}},
		{name: "negative speed", modify: func(o *Options) { o.Speed = -1 }, want: []string{"speed -1"}},
		{name: "NaN speed", modify: func(o *Options) { o.Speed = math.NaN() }, want: []string{"speed NaN"}},
		{name: "infinite speed", modify: func(o *Options) { o.Speed = math.Inf(1) }, want: []string{"speed +Inf"}},
		{name: "start out of range", modify: func(o *Options) { o.Start = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }, want: []string{"start 1900-01-01T00:00:00Z"}},
		{
			name: "every bad field at once",
			modify: func(o *Options) {
				*o = Options{Step: -1, Duration: -1, Speed: math.NaN(), Start: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
			},
			want: []string{"step", "duration", "speed", "start"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := DefaultOptions()
			tt.modify(&o)
			err := o.Validate()
			requireErrors(t, err, tt.want)
		})
	}
}

func TestClusterValidate(t *testing.T) {
	t.Parallel()
	steady := Model{Archetype: ArchetypeSteady, CPU: 10, Memory: 10 * mib}
	valid := func() Cluster {
		return one("Deployment", 2, ctr("app", recommender.Amounts{}, recommender.Amounts{}, steady))
	}
	tests := []struct {
		name   string
		modify func(c *Cluster)
		want   []string
		is     error // a sentinel the error wraps, if any
	}{
		{name: "valid", modify: func(*Cluster) {}},
		{name: "the default cluster", modify: func(c *Cluster) { *c = DefaultCluster(9) }},
		{name: "empty", modify: func(c *Cluster) { *c = Cluster{} }},
		{name: "duplicate workload", modify: func(c *Cluster) { c.Workloads = append(c.Workloads, c.Workloads[0]) }, want: []string{"duplicate key"}},
		{name: "bad key", modify: func(c *Cluster) { c.Workloads[0].Key.Namespace = "a/b" }, want: []string{"key: invalid key: namespace"}, is: recommender.ErrInvalidKey},
		{name: "negative replicas", modify: func(c *Cluster) { c.Workloads[0].Replicas = -1 }, want: []string{"replicas -1 is negative"}},
		{name: "no app container", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Spec.Role = recommender.RoleSidecar }, want: []string{"no app container"}},
		{name: "unknown role", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Spec.Role = 9 }, want: []string{"unknown role 9", "no app container"}},
		{
			name: "duplicate container",
			modify: func(c *Cluster) {
				c.Workloads[0].Containers = append(c.Workloads[0].Containers, c.Workloads[0].Containers[0])
			},
			want: []string{`container "app": duplicate name`},
		},
		{name: "empty container name", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Spec.Name = "" }, want: []string{"name: invalid key: container"}},
		{name: "runtime on an app container", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Runtime = time.Minute }, want: []string{"runtime 1m0s"}},
		{
			name: "request above limit",
			modify: func(c *Cluster) {
				c.Workloads[0].Containers[0].Spec.Requests.CPU, c.Workloads[0].Containers[0].Spec.Limits.CPU = 200, 100
			},
			want: []string{"a request is above its limit"},
		},
		{name: "negative request", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Spec.Requests.Memory = -1 }, want: []string{"requests: negative"}},
		{name: "unset archetype", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.Archetype = 0 }, want: []string{"unknown archetype 0"}},
		{name: "no memory", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.Memory = 0 }, want: []string{"memory 0 must be positive"}},
		{name: "peak below base", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.CPUPeak = 1 }, want: []string{"cpu peak 1 is below cpu 10"}},
		{name: "noise", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.Noise = math.NaN() }, want: []string{"noise NaN"}},
		{name: "peak hour", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.PeakAt = 25 * time.Hour }, want: []string{"peak time 25h0m0s"}},
		{
			name: "leaking without a limit",
			modify: func(c *Cluster) {
				c.Workloads[0].Containers[0].Model.Archetype = ArchetypeLeaking
				c.Workloads[0].Containers[0].Model.LeakPerHour = mib
			},
			want: []string{"leaking needs a memory limit"},
		},
		{name: "batch without a schedule", modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.Archetype = ArchetypeBatch }, want: []string{"batch needs a workload schedule"}},
		{
			name:   "gpu without a gpu request",
			modify: func(c *Cluster) { c.Workloads[0].Containers[0].Model.Archetype = ArchetypeGPUInference },
			want:   []string{"gpu-inference needs gpu compute and gpu memory requests", "gpu-inference needs positive gpu weights"},
		},
		{
			name: "runs longer than the interval",
			modify: func(c *Cluster) {
				c.Workloads[0].Schedule = Schedule{Every: time.Hour, MinRun: time.Hour, MaxRun: 2 * time.Hour}
			},
			want: []string{"schedule runs [1h0m0s, 2h0m0s] must be positive, ordered and shorter than the interval 1h0m0s"},
		},
		{name: "schedule without interval", modify: func(c *Cluster) { c.Workloads[0].Schedule = Schedule{MinRun: time.Hour} }, want: []string{"schedule has no positive interval"}},
		{
			name: "rollouts of a scheduled workload",
			modify: func(c *Cluster) {
				c.Workloads[0].Schedule = Schedule{Every: 24 * time.Hour, MinRun: time.Hour, MaxRun: time.Hour}
				c.Workloads[0].RolloutEvery = time.Hour
			},
			want: []string{"a scheduled workload cannot have rollouts"},
		},
		{
			name: "every problem at once",
			modify: func(c *Cluster) {
				w := &c.Workloads[0]
				w.Replicas = -3
				w.Containers[0].Model.Noise = 2
				w.Containers[0].Model.WeekendDip = -1
				w.Containers = append(w.Containers, ctr("", recommender.Amounts{}, recommender.Amounts{}, Model{}))
			},
			want: []string{"replicas -3", "noise 2", "weekend dip -1", "name: invalid key", "unknown archetype 0", "memory 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.modify(&c)
			err := c.Validate()
			if !requireErrors(t, err, tt.want) {
				return
			}
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// requireErrors asserts that err joins exactly the errors described by
// want, in order (nil for none), and reports whether there were any.
func requireErrors(t *testing.T, err error, want []string) bool {
	t.Helper()
	if len(want) == 0 {
		require.NoError(t, err)
		return false
	}
	errs := joined(err)
	require.Len(t, errs, len(want), "%v", err)
	for i, w := range want {
		require.ErrorContains(t, errs[i], w)
	}
	return true
}
