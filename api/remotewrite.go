package api

import (
	"context"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// RemoteWritePath is where Options.RemoteWrite is served on the HTTP
// address, as Prometheus' own receiver is.
const RemoteWritePath = "/api/v1/write"

// remoteWriteReadTimeout bounds reading one remote-write request. The
// server has no ReadTimeout of its own (watch streams are long), so a
// slow sender is cut off here instead.
const remoteWriteReadTimeout = time.Minute

// remoteWrite serves h to callers that may ingest usage: remote-write is
// usage ingestion by another protocol, so it takes the same credentials
// (bearer token, client certificate, ServiceAccount token) and the same
// role as IngestUsage, checked by the same code.
func remoteWrite(h http.Handler, auth Authn) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		md := metadata.MD{}
		if v := r.Header.Values("Authorization"); len(v) > 0 {
			md.Set("authorization", v...)
		}
		md = metadata.Join(md, clientCertMetadata(r.Context(), r))
		ctx := metadata.NewIncomingContext(r.Context(), md)
		// The request's certificate, if any, was verified by this server's
		// TLS, so it is read from md as the gateway's is.
		ctx, err := authorize(ctx, auth, func(context.Context) bool { return true }, rightsizerv1.UsageService_IngestUsage_FullMethodName)
		if err != nil {
			st := status.Convert(err)
			http.Error(w, st.Message(), runtime.HTTPStatusFromCode(st.Code()))
			return
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(remoteWriteReadTimeout))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}
