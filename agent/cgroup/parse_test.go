package cgroup

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCPUStat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     cpuStat
		err      bool
	}{
		{"controller enabled", "usage_usec 8361112930\nuser_usec 7012004511\nsystem_usec 1349108419\nnr_periods 482113\nnr_throttled 9120\nthrottled_usec 311402117\nnr_bursts 0\nburst_usec 0\n",
			cpuStat{usageUsec: 8361112930, nrPeriods: 482113, nrThrottled: 9120, throttledUsec: 311402117, hasThrottling: true}, false},
		{"controller disabled", "usage_usec 48211\nuser_usec 21000\nsystem_usec 27211\nnice_usec 0\n", cpuStat{usageUsec: 48211}, false},
		{"core scheduling key and reordering", "nr_periods 1\nusage_usec 5\ncore_sched.force_idle_usec 0\nthrottled_usec 3\nnr_throttled 1\n",
			cpuStat{usageUsec: 5, nrPeriods: 1, nrThrottled: 1, throttledUsec: 3, hasThrottling: true}, false},
		{"partial bandwidth keys", "usage_usec 5\nnr_periods 1\n", cpuStat{usageUsec: 5, nrPeriods: 1}, false},
		{"no trailing newline", "usage_usec 7", cpuStat{usageUsec: 7}, false},
		{"max uint64", "usage_usec 18446744073709551615\n", cpuStat{usageUsec: 1<<64 - 1}, false},
		{"overflow", "usage_usec 18446744073709551616\n", cpuStat{}, true},
		{"no usage", "user_usec 1\nsystem_usec 2\n", cpuStat{}, true},
		{"empty", "", cpuStat{}, true},
		{"negative", "usage_usec -1\n", cpuStat{}, true},
		{"two spaces", "usage_usec  1\n", cpuStat{}, true},
		{"truncated value", "usage_usec \n", cpuStat{}, true},
		{"blank line", "usage_usec 1\n\n", cpuStat{}, true},
		{"bad value of an unused key is ignored", "usage_usec 1\nuser_usec x\n", cpuStat{usageUsec: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCPUStat([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, errSyntax)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseMemoryStat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     memoryStat
		err      bool
	}{
		{"kernel order", "anon 301989888\nfile 104857600\nkernel 737280\nshmem 0\ninactive_anon 301989888\nactive_anon 0\ninactive_file 62914560\nactive_file 41943040\nunevictable 0\npgfault 912345\n",
			memoryStat{anon: 301989888, file: 104857600, inactiveFile: 62914560, activeFile: 41943040}, false},
		{"other order", "active_file 4\ninactive_file 3\nfile 2\nanon 1\n", memoryStat{anon: 1, file: 2, inactiveFile: 3, activeFile: 4}, false},
		{"file_mapped is not file", "anon 1\nfile_mapped 9\nfile 2\ninactive_file 3\nactive_file 4\n", memoryStat{anon: 1, file: 2, inactiveFile: 3, activeFile: 4}, false},
		{"missing inactive_file", "anon 1\nfile 2\nactive_file 4\n", memoryStat{}, true},
		{"bad number", "anon 1\nfile 2x\ninactive_file 3\nactive_file 4\n", memoryStat{}, true},
		{"empty", "", memoryStat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMemoryStat([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, errSyntax)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseOOMKills(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     uint64
		err      bool
	}{
		{"kernel", "low 0\nhigh 0\nmax 6\noom 2\noom_kill 2\noom_group_kill 0\n", 2, false},
		{"with sock_throttled", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 7\noom_group_kill 1\nsock_throttled 0\n", 7, false},
		{"oom_group_kill alone is not oom_kill", "oom_group_kill 1\n", 0, true},
		{"missing", "low 0\n", 0, true},
		{"bad", "oom_kill x\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOOMKills([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, errSyntax)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseSingleValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in          string
		current, limit    uint64
		currErr, limitErr bool
	}{
		{"number", "412385280\n", 412385280, 412385280, false, false},
		{"no newline", "4096", 4096, 4096, false, false},
		{"max", "max\n", 0, 0, true, false},
		{"zero", "0\n", 0, 0, false, false},
		{"empty", "", 0, 0, true, true},
		{"two newlines", "1\n\n", 0, 0, true, true},
		{"space", " 1\n", 0, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseSingleUint([]byte(tc.in))
			if tc.currErr {
				require.ErrorIs(t, err, errSyntax)
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.current, c)
			}
			l, err := parseLimit([]byte(tc.in))
			if tc.limitErr {
				require.ErrorIs(t, err, errSyntax)
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.limit, l)
			}
		})
	}
}

func TestParsePressure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     pressure
		err      bool
	}{
		{"some and full", "some avg10=3.12 avg60=1.00 avg300=0.50 total=90211433\nfull avg10=2.80 avg60=0.90 avg300=0.40 total=81234556\n",
			pressure{someAvg10: 3.12, fullAvg10: 2.80, someTotal: 90211433, fullTotal: 81234556, hasFull: true}, false},
		{"cpu before 5.13: some only", "some avg10=0.25 avg60=0.00 avg300=0.00 total=30122\n", pressure{someAvg10: 0.25, someTotal: 30122}, false},
		{"hundred percent", "some avg10=100.00 avg60=99.99 avg300=98.00 total=1\nfull avg10=100.00 avg60=0.00 avg300=0.00 total=1\n",
			pressure{someAvg10: 100, fullAvg10: 100, someTotal: 1, fullTotal: 1, hasFull: true}, false},
		{"integer average", "some avg10=7 total=1\n", pressure{someAvg10: 7, someTotal: 1}, false},
		{"full only", "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", pressure{}, true},
		{"missing total", "some avg10=0.00 avg60=0.00 avg300=0.00\n", pressure{}, true},
		{"bad average", "some avg10=1.2.3 avg60=0.00 avg300=0.00 total=0\n", pressure{}, true},
		{"negative total", "some avg10=0.00 total=-1\n", pressure{}, true},
		{"field without =", "some avg10 total=1\n", pressure{}, true},
		{"unknown line", "most avg10=0.00 total=0\n", pressure{}, true},
		{"empty", "", pressure{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePressure([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, errSyntax)
				return
			}
			require.NoError(t, err)
			require.InDelta(t, tc.want.someAvg10, got.someAvg10, 1e-9)
			require.InDelta(t, tc.want.fullAvg10, got.fullAvg10, 1e-9)
			got.someAvg10, got.fullAvg10, tc.want.someAvg10, tc.want.fullAvg10 = 0, 0, 0, 0
			require.Equal(t, tc.want, got)
		})
	}
}
