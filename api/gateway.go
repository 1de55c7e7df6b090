package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rightsizer/rightsizer/api/openapi"
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// OpenAPIPath is where the server serves its OpenAPI document.
const OpenAPIPath = "/openapi.yaml"

// maxHeaderBytes bounds an HTTP request's headers.
const maxHeaderBytes = 64 << 10

// newGatewayConn dials the gRPC server through the in-process pipe with
// grpc.NewClient; dial creates each connection.
func newGatewayConn(dial func(context.Context, string) (net.Conn, error), maxMsg int) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///rest-gateway",
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg)),
	)
}

// newHTTPHandler routes /v1/ to the REST gateway over conn and serves the
// OpenAPI document, /metrics, /healthz, /readyz and, when o.RemoteWrite is
// set, Prometheus remote-write.
func newHTTPHandler(ctx context.Context, conn *grpc.ClientConn, o *Options, ready func() error) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithMetadata(clientCertMetadata),
		runtime.WithForwardResponseOption(openStream),
	)
	var errs []error
	for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"RecommendationService": rightsizerv1.RegisterRecommendationServiceHandler,
		"SummaryService":        rightsizerv1.RegisterSummaryServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			errs = append(errs, fmt.Errorf("register %s gateway: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.HandleFunc("GET "+OpenAPIPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openapi.Spec)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	if o.RemoteWrite != nil {
		mux.Handle(RemoteWritePath, remoteWrite(o.RemoteWrite, o.authn()))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux, nil
}

// headerMatcher forwards what grpc-gateway forwards by default, except the
// internal client-certificate key: only the HTTP server's own TLS check
// may set it (clientCertMetadata), never a client's header.
func headerMatcher(key string) (string, bool) {
	k, ok := runtime.DefaultHeaderMatcher(key)
	if strings.EqualFold(k, ClientCNMetadataKey) {
		return "", false
	}
	return k, ok
}

// openStream sends a server stream's status line and headers as soon as
// the gRPC stream has started (the gateway calls forward-response options
// with a nil message then), rather than with the first event: a watch
// client knows at once that it is watching. Unary responses pass through.
func openStream(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	if m != nil {
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w).Flush()
}

// clientCertMetadata passes the common name of a verified HTTP client
// certificate to the gRPC auth interceptor.
func clientCertMetadata(_ context.Context, r *http.Request) metadata.MD {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return metadata.Pairs(ClientCNMetadataKey, r.TLS.VerifiedChains[0][0].Subject.CommonName)
}

// grpc-gateway keeps its query parser in a global, which the option sets
// whenever a mux is built; set it once, before any server runs, rather
// than racing with servers already parsing.
func init() { runtime.NewServeMux(runtime.SetQueryParameterParser(&strictQueryParser{})) }

// strictQueryParser refuses query parameters that name no field of the
// request, which grpc-gateway's default parser ignores: a misspelt filter
// ("namespce=shop") would otherwise silently list everything. The gateway
// turns the error into INVALID_ARGUMENT, HTTP 400.
type strictQueryParser struct{ runtime.DefaultQueryParser }

func (p *strictQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	for key := range values {
		if err := knownField(msg.ProtoReflect().Descriptor(), key); err != nil {
			return err
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}

// knownField checks that a dotted query key ("a.b", or "m[k]" for a map)
// names a field path of md, by proto or JSON name.
func knownField(md protoreflect.MessageDescriptor, key string) error {
	path := key
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	for part := range strings.SplitSeq(path, ".") {
		if md == nil {
			return fmt.Errorf("unknown query parameter %.64q", key)
		}
		fd := md.Fields().ByTextName(part)
		if fd == nil {
			fd = md.Fields().ByJSONName(part)
		}
		if fd == nil {
			return fmt.Errorf("unknown query parameter %.64q", key)
		}
		md = fd.Message()
	}
	return nil
}
