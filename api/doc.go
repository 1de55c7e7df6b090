// Package api serves rightsizer over the network: gRPC services
// (RecommendationService, UsageService, SummaryService from
// proto/rightsizer/v1), the standard health service and server reflection,
// and a grpc-gateway REST gateway with the OpenAPI document at
// /openapi.yaml, Prometheus metrics at /metrics, and /healthz and /readyz.
//
//	srv, err := api.New(api.Options{Engine: engine, Auth: auth, TLS: tlsConf, ...})
//	err = srv.Serve(ctx, grpcListener, httpListener) // until ctx is done
//
// # Shape
//
// The services are thin adapters over an Engine (*recommender.Engine):
// conversions live in convert.go and usage.go, domain errors become gRPC
// codes only in errors.go, and the gateway maps codes to HTTP statuses.
// The server types embed rightsizerv1.Unimplemented…Server by value: a
// method added to a .proto answers UNIMPLEMENTED until it is written,
// rather than breaking the build of every client of this package.
//
// The REST gateway reaches the gRPC server through an in-process pipe
// (grpc.go), so that every REST call passes the same interceptors as a
// gRPC call: panic recovery, slog logging, Prometheus metrics and auth,
// in that order.
//
// # Lists, watches and ingest
//
// Lists are answered from a snapshot of every workload's recommendation,
// retaken every Options.SnapshotInterval (snapshot.go): a page costs a
// binary search and the page itself, never a recomputation of every
// container. Pages use keyset tokens bound to the request's filters.
//
// Watches read a retained change log fed by one engine subscription
// (watch.go). Every event carries a resume token; a client that
// reconnects with the last token it saw misses nothing still retained
// (Options.WatchRetention), and a list's resume_token starts a watch that
// misses nothing after the list. A token that is too old, or from another
// server process, gets OUT_OF_RANGE: list again.
//
// Ingest is a client stream (usage.go): containers are declared once per
// stream and samples name them by index, so the steady state decodes only
// numbers. A bad sample, OOM event or workload is rejected alone with its
// reason; each client (its identity, or its host without auth) has a
// token-bucket rate limit that applies backpressure by not reading the
// stream, and rejects a batch only when it would wait longer than
// Options.IngestMaxWait.
//
// # Auth
//
// A tokens file (auth.go) maps bearer tokens and mTLS client certificate
// names to roles: read (lists, summaries, watches), ingest (IngestUsage)
// and admin (everything, including methods added later). Health,
// reflection, /openapi.yaml, /metrics, /healthz and /readyz need none.
// Tokens are compared in constant time. Over REST, a client certificate
// verified by the HTTP server is passed to the gRPC interceptor in
// metadata that only the in-process gateway connection may set.
//
// In a cluster, a KubeAuthenticator (kubeauth.go, Options.Kube) also
// accepts Kubernetes bearer tokens, ServiceAccount tokens for agents and
// bots: a TokenReview names the user and SubjectAccessReviews against
// resources of API group rightsizer.io give its roles, so operators grant
// them with plain RBAC. Results are cached briefly by token digest. The
// tokens file, if any, is checked first.
package api
