package api

import (
	"context"
	"log/slog"
	"net"
	"runtime/debug"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// newGRPCServer builds the gRPC server in one place: credentials, limits,
// the interceptor chain (recovery → slog logging → Prometheus metrics →
// auth, outermost first), the services, health and reflection.
func newGRPCServer(o *Options, svc *services, hs *health.Server, pm *grpcprom.ServerMetrics) *grpc.Server {
	log := o.Logger
	recover := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...) //nolint:sloglint // an adapter: the middleware passes its own constant messages
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		// Successful calls at debug: a busy dashboard would drown the log.
		logging.WithLevels(func(c codes.Code) logging.Level {
			if c == codes.OK || c == codes.Canceled {
				return logging.LevelDebug
			}
			return logging.DefaultServerCodeToLevel(c)
		}),
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	authn := o.authn()
	s := grpc.NewServer(
		grpc.Creds(internalBypass{creds}),
		grpc.MaxRecvMsgSize(o.MaxRecvBytes),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
		// Ingest streams carry megabytes a second per agent: fixed large
		// windows rather than waiting for BDP estimation to grow them from
		// 64 KiB (which stalls each stream on window updates meanwhile).
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(16<<20),
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recover),
			logging.UnaryServerInterceptor(logger, logOpts...),
			pm.UnaryServerInterceptor(),
			unaryAuthInterceptor(authn, isInternal),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recover),
			logging.StreamServerInterceptor(logger, logOpts...),
			pm.StreamServerInterceptor(),
			streamAuthInterceptor(authn, isInternal),
		),
	)
	rightsizerv1.RegisterRecommendationServiceServer(s, svc)
	rightsizerv1.RegisterUsageServiceServer(s, svc)
	rightsizerv1.RegisterSummaryServiceServer(s, svc)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	pm.InitializeMetrics(s)
	return s
}

// The REST gateway reaches the gRPC server through an in-process pipe
// listener: its calls go through every interceptor like any client's,
// but skip TLS (they never leave the process) and may carry the client
// certificate name that the HTTP server verified (ClientCNMetadataKey).

// internalAddr is the remote address of the gateway's connections.
type internalAddr struct{}

func (internalAddr) Network() string { return "internal" }
func (internalAddr) String() string  { return "rest-gateway" }

// isInternal reports whether a call came from the REST gateway.
func isInternal(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.Addr.(internalAddr)
	return ok
}

// internalListener marks the connections of a pipe listener as internal.
type internalListener struct{ net.Listener }

func (l internalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return internalConn{c}, nil
}

type internalConn struct{ net.Conn }

func (internalConn) RemoteAddr() net.Addr { return internalAddr{} }

// internalBypass serves internal connections without a handshake and
// every other connection with the wrapped credentials.
type internalBypass struct {
	credentials.TransportCredentials
}

func (c internalBypass) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(internalConn); ok {
		return conn, internalAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c internalBypass) Clone() credentials.TransportCredentials {
	return internalBypass{c.TransportCredentials.Clone()}
}

type internalAuthInfo struct{ credentials.CommonAuthInfo }

func (internalAuthInfo) AuthType() string { return "internal" }
