// Package prombackfill reads past container usage from a Prometheus (or a
// Prometheus-compatible query API) at start-up, so that a fresh install
// answers with recommendations at once instead of after a week of live
// data. It is a recommender.UsageSource: Run feeds the sink and returns.
//
// It reads the raw cAdvisor and kube-state-metrics series that the
// remote-write receiver (recommender/promwrite) reads live, sampled at
// Options.Step, and maps them with the same code
// (recommender/internal/promseries): CPU is the rate between consecutive
// steps, computed here, not by PromQL. So past and live usage of the same
// data give the same samples.
//
// # Safety of the Prometheus it reads
//
// KRR issues #83 and #332 report Prometheus servers OOM-killed by a
// recommender's queries: quantile_over_time over rate subqueries spanning
// 14 days, for every pod of a namespace at once, several in parallel. A
// subquery evaluates its inner query at every step of the whole range and
// holds the results, so memory grows with series × range ÷ step. This
// package bounds every dimension instead:
//
//   - Only raw selectors are queried (no functions, no subqueries): the
//     server decodes each series' chunks once and keeps one value per step.
//   - Time is split into windows of Options.Window (default 6 h); within a
//     namespace they are read oldest first, one at a time.
//   - Series are bounded per query: before querying a window, the series
//     API (an index lookup, no sample decoding) lists the namespace's
//     series, and pods are batched so that a query selects at most
//     Options.MaxSeriesPerQuery series (default 500). A query thus returns
//     at most 500 × 361 values at the defaults.
//   - At most Options.Concurrency namespaces (default 2) are read at once,
//     and requests are rate-limited (Options.QPS, default 5 per second).
//   - Each query carries a server-side timeout (Options.QueryTimeout), so
//     Prometheus abandons it rather than work on for a client that gave up.
//   - 429 and 5xx answers and network errors are retried with exponential
//     backoff and jitter (honouring Retry-After), at most Options.MaxRetries
//     times; a query that timed out on the server is not retried. After
//     Options.MaxFailedQueries failed queries the backfill stops: a
//     struggling Prometheus matters more than a complete history.
//
// Progress is logged every Options.ProgressInterval, and counted in
// rightsizer_prombackfill_* metrics.
//
// Caveats. The step must be at least the scrape interval (Options.Step,
// Options.ScrapeInterval): a smaller step would read one sample twice and
// see a zero rate. Prometheus fills a step without a new sample with the
// last value for up to its lookback delta (5 minutes) unless a staleness
// marker ended the series, so a series that stopped without one (data
// imported with promtool, or a Prometheus restart) yields up to five
// repeated points: memory repeats, CPU reads zero.
package prombackfill
