// Package apiload is an in-repo load generator for a running rightsizer
// API server. It drives the server's gRPC API over loopback and measures,
// in order:
//
//  1. setup: a fleet of Config.Workloads workloads (one container each) is
//     upserted and given Config.SetupSamples samples per container, so that
//     every container has a recommendation;
//  2. ingest: Config.Streams client streams send pre-encoded batches of
//     Config.BatchSize samples as fast as the server takes them for
//     Config.IngestDuration, Config.Runs times; samples/s counts only
//     samples the server reports accepted, over the time to its final
//     response, and the median run is reported;
//  3. list: ListRecommendations pages of Config.PageSize, open loop at
//     Config.ListRate requests/s, with latency taken from each request's
//     scheduled send time, while a paced background stream ingests
//     Config.BackgroundRate samples/s;
//  4. watch lag: Config.Probes brand-new containers are ingested, each
//     timed from just before its Send to the ADDED event of
//     WatchRecommendations, with the same background ingest.
//
// Samples are stamped from eight days ago toward now, one minute apart per
// container and monotonically per container, with values drawn once from a
// seeded generator. IngestUsageRequest.containers appends to a list that
// spans the stream, which samples index: every stream declares each of its
// containers once, in the first batch of the container's block, and sends
// samples only after that; a probe declares its new container at the
// next index of its stream's list, and a stream that reaches
// MaxStreamContainers gives way to a fresh one. Batches are encoded once
// per block of containers and place in a stream's list; a send copies the
// encoding, after the block's refs the first time, and writes each
// sample's time into it (see Fleet), so the client's cost per batch is a
// memory copy, not a marshal.
//
// Run returns a Result, which WriteJSON writes as bench/out/api.json and
// WriteTable prints for people. StartServer runs `rightsizer serve` on
// loopback ports for a run.
package apiload
