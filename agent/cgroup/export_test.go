package cgroup

// ReadInto exposes readInto to the benchmarks of package cgroup_test.
var ReadInto = readInto

// Scan exposes a round's scan of the directories alone to BenchmarkScan.
func (r *Reader) Scan(full bool) { r.scan(full) }
