// Package sketch implements the quantile sketch at the heart of rightsizer:
// a mergeable, exponentially decaying sketch with a guaranteed relative
// error, after DDSketch (Masson, Rim and Lee, VLDB 2019).
//
// A value v > 0 falls in a logarithmic bucket whose bounds are at most a
// factor γ = (1+α)/(1−α) apart (see mapping.go: no logarithm is computed);
// each bucket
// reports the one value within α of everything it holds, so a quantile is
// never more than α (1 % by default) away from the exact weighted quantile,
// whatever the distribution, where a VPA histogram with 5 % bucket growth
// rounds up by as much as 5 %. Buckets are stored densely from an offset,
// so a series that stays within a factor of ten costs about 116 buckets of
// 4 bytes at 1 %.
//
// Time decay follows VPA's decaying histogram: a sample at time t weighs
// 2^((t−ref)/HalfLife), so that old samples fade by half every half-life,
// and the reference moves forward (rescaling every weight) before the
// weights can overflow.
//
// Sketches sharing a Config merge exactly: merging the sketches of two
// streams gives the sketch of the union. The binary encoding is versioned
// and its decoder checks every field, so a checkpoint or a message from the
// network can never make it panic or allocate beyond MaxBuckets.
package sketch
