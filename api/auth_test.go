package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rightsizer/rightsizer/api/internal/testpki"
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// Test tokens. Every secret starts with "s3cr" so tests can check that none leaks into errors.
const (
	readToken   = "s3cr-read-0123456789"
	ingestToken = "s3cr-ingest-0123456789"
	adminToken  = "s3cr-admin-0123456789"
	secretMark  = "s3cr"
)

// testAuthenticator loads a tokens file with one token per role (admin's from a tokenFile)
// and two mTLS clients.
func testAuthenticator(t *testing.T) *Authenticator {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "admin.token"), []byte("\n  "+adminToken+"\n"), 0o600))
	path := filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
tokens:
  - name: reader
    token: "`+readToken+`"
    roles: [read]
  - name: ingester
    token: `+ingestToken+`
    roles: [ingest]
  - name: root
    tokenFile: secrets/admin.token
    roles: [admin]
clients:
  - commonName: node-agent
    roles: [ingest]
  - commonName: dashboard
    roles: [read, ingest]
`), 0o600))
	a, err := LoadTokens(path)
	require.NoError(t, err)
	return a
}

func TestRoles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		set  Roles
		want map[Role]bool
		str  string
	}{
		{set: 0, want: map[Role]bool{RoleRead: false, RoleIngest: false, RoleAdmin: false}, str: "none"},
		{set: RolesOf(RoleRead), want: map[Role]bool{RoleRead: true, RoleIngest: false, RoleAdmin: false}, str: "read"},
		{set: RolesOf(RoleIngest), want: map[Role]bool{RoleRead: false, RoleIngest: true, RoleAdmin: false}, str: "ingest"},
		{set: RolesOf(RoleRead, RoleIngest), want: map[Role]bool{RoleRead: true, RoleIngest: true, RoleAdmin: false}, str: "read,ingest"},
		{set: RolesOf(RoleAdmin), want: map[Role]bool{RoleRead: true, RoleIngest: true, RoleAdmin: true, 0: true}, str: "admin"},
		{set: RolesOf(0, 9), want: map[Role]bool{0: false, 9: false}, str: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			t.Parallel()
			for r, want := range tt.want {
				require.Equal(t, want, tt.set.Has(r), "Has(%v)", r)
			}
			require.Equal(t, tt.str, tt.set.String())
		})
	}
	require.Equal(t, "read", RoleRead.String())
	require.Equal(t, "ingest", RoleIngest.String())
	require.Equal(t, "admin", RoleAdmin.String())
	require.Equal(t, "Role(7)", Role(7).String())
}

func TestParseTokensErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "short.token"), []byte("s3cr-short\n"), 0o600))

	tests := []struct {
		name string
		data string
		want []string // each must appear in the error
	}{
		{
			name: "unknown entry key",
			data: "tokens:\n  - name: a\n    token: s3cr-0123456789abcdef\n    roles: [read]\n    colour: red\n",
			want: []string{"line 5: field colour not found in a tokens entry"},
		},
		{
			name: "unknown top-level key",
			data: "tokenz: []\n",
			want: []string{"field tokenz not found in the tokens file"},
		},
		{
			name: "duplicate name",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, roles: [read]}\n  - {name: a, token: s3cr-fedcba9876543210, roles: [read]}\n",
			want: []string{`tokens[1] "a": name: duplicate of tokens[0]`},
		},
		{
			name: "duplicate token",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, roles: [read]}\n  - {name: b, token: s3cr-0123456789abcdef, roles: [admin]}\n",
			want: []string{`tokens[1] "b": token: same token as tokens[0]`},
		},
		{
			name: "short token",
			data: "tokens:\n  - {name: a, token: s3cr-short, roles: [read]}\n",
			want: []string{`tokens[0] "a": token: is 10 bytes, fewer than 16`},
		},
		{
			name: "short token from file",
			data: "tokens:\n  - {name: a, tokenFile: short.token, roles: [read]}\n",
			want: []string{`tokens[0] "a": tokenFile: is 10 bytes, fewer than 16`},
		},
		{
			name: "token with whitespace",
			data: "tokens:\n  - {name: a, token: \"s3cr-0123 456789abcdef\", roles: [read]}\n",
			want: []string{`tokens[0] "a": token: byte 9 is whitespace or not printable ASCII`},
		},
		{
			name: "empty token",
			data: "tokens:\n  - {name: a, token: \"\", roles: [read]}\n",
			want: []string{`tokens[0] "a": token: must not be empty`},
		},
		{
			name: "token is a list",
			data: "tokens:\n  - {name: a, token: [s3cr-0123456789abcdef], roles: [read]}\n",
			want: []string{"line 2: cannot unmarshal !!seq into a string", `tokens[0] "a": token: must not be empty`},
		},
		{
			name: "token in place of roles",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, roles: s3cr-0123456789abcdef}\n",
			want: []string{"line 2: cannot unmarshal !!str into a list of strings", `tokens[0] "a": roles: must list at least one`},
		},
		{
			name: "bad role",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, roles: [read, root, read]}\n",
			want: []string{`roles: [1]: unknown role "root"`, `roles: [2]: duplicate role "read"`},
		},
		{
			name: "empty roles",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, roles: []}\n",
			want: []string{`tokens[0] "a": roles: must list at least one of read, ingest, admin`},
		},
		{
			name: "both token and tokenFile",
			data: "tokens:\n  - {name: a, token: s3cr-0123456789abcdef, tokenFile: short.token, roles: [read]}\n",
			want: []string{`tokens[0] "a": token: set together with tokenFile`},
		},
		{
			name: "neither token nor tokenFile",
			data: "tokens:\n  - {name: a, roles: [read]}\n",
			want: []string{`tokens[0] "a": token: missing; set token or tokenFile`},
		},
		{
			name: "missing tokenFile",
			data: "tokens:\n  - {name: a, tokenFile: nope.token, roles: [read]}\n",
			want: []string{`tokens[0] "a": tokenFile: open ` + filepath.Join(dir, "nope.token")},
		},
		{
			name: "bad names",
			data: "tokens:\n  - {token: s3cr-0123456789abcdef, roles: [read]}\n  - {name: \"a\\tb\", token: s3cr-fedcba9876543210, roles: [read]}\n  - {name: " +
				strings.Repeat("x", 64) + ", token: s3cr-00000000000000000, roles: [read]}\n",
			want: []string{"tokens[0]: name: must not be empty", `tokens[1] "a\tb": name: contains the non-printable character U+0009`, "name: is 64 bytes, more than 63"},
		},
		{
			name: "bad clients",
			data: "clients:\n  - {roles: [read]}\n  - {commonName: x, roles: [writer]}\n  - {commonName: x, roles: [read]}\n",
			want: []string{"clients[0]: commonName: must not be empty", `clients[1] "x": roles: [0]: unknown role "writer"`, `clients[2] "x": commonName: duplicate of clients[1]`},
		},
		{
			name: "duplicate key",
			data: "tokens:\n  - name: a\n    token: s3cr-0123456789abcdef\n    token: s3cr-fedcba9876543210\n    roles: [read]\n",
			want: []string{`mapping key "token" already defined at line 3`},
		},
		{
			name: "top level is a scalar",
			data: "s3cr-0123456789abcdef\n",
			want: []string{"cannot unmarshal !!str into the tokens file"},
		},
		{
			name: "not YAML",
			data: "tokens: [name: a\n  token: }\n",
			want: []string{"parse tokens file: yaml:"},
		},
		{
			name: "binary",
			data: "\x00\xff\xfe s3cr",
			want: []string{"parse tokens file: yaml:"},
		},
		{
			name: "empty file",
			data: "",
			want: []string{"tokens file is empty"},
		},
		{
			name: "nothing configured",
			data: "tokens: []\nclients: []\n",
			want: []string{"no tokens or clients configured"},
		},
		{
			name: "two documents",
			data: "tokens: [{name: a, token: s3cr-0123456789abcdef, roles: [read]}]\n---\ntokens: []\n",
			want: []string{"tokens file must hold a single YAML document"},
		},
		{
			name: "oversized",
			data: "# " + strings.Repeat("x", maxTokensFileBytes),
			want: []string{"more than the 1048576 byte limit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := ParseTokens([]byte(tt.data), dir)
			require.Error(t, err)
			require.Nil(t, a)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), secretMark, "an error leaks a token")
		})
	}
}

// TestParseTokensReportsEveryError checks that one file's problems all come back together.
func TestParseTokensReportsEveryError(t *testing.T) {
	t.Parallel()
	data := `
tokens:
  - {name: a, token: s3cr-short, roles: [read]}
  - {name: a, token: s3cr-0123456789abcdef, roles: [root]}
  - {name: c, roles: []}
  - {name: d, token: s3cr-0123456789abcdef, roles: [admin], extra: 1}
clients:
  - {commonName: "", roles: [read]}
`
	_, err := ParseTokens([]byte(data), t.TempDir())
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.ErrorAs(t, err, &joined)
	var msgs []string
	for _, e := range joined.Unwrap() {
		msgs = append(msgs, e.Error())
	}
	require.ElementsMatch(t, []string{
		"line 6: field extra not found in a tokens entry",
		`tokens[0] "a": token: is 10 bytes, fewer than 16`,
		`tokens[1] "a": name: duplicate of tokens[0]`,
		`tokens[1] "a": roles: [0]: unknown role "root", want read, ingest or admin`,
		`tokens[2] "c": roles: must list at least one of read, ingest, admin`,
		`tokens[2] "c": token: missing; set token or tokenFile`,
		`tokens[3] "d": token: same token as tokens[1]`,
		"clients[0]: commonName: must not be empty",
	}, msgs)
	require.NotContains(t, err.Error(), secretMark)
}

func TestLoadTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("# "+strings.Repeat("x", maxTokensFileBytes)), 0o600))
	_, err := LoadTokens(big)
	require.ErrorContains(t, err, "file is larger than the 1048576 byte limit")

	_, err = LoadTokens(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("tokens: [{name: a}]\n"), 0o600))
	_, err = LoadTokens(bad)
	require.ErrorContains(t, err, "load tokens "+bad+": ")

	require.NotNil(t, testAuthenticator(t))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	a := testAuthenticator(t)
	tests := []struct {
		name    string
		authz   []string // authorization values
		certCN  string
		want    Identity
		wantErr string
	}{
		{name: "no credential", wantErr: "unauthenticated: no credential"},
		{name: "read token", authz: []string{"Bearer " + readToken}, want: Identity{Name: "reader", Roles: RolesOf(RoleRead)}},
		{name: "ingest token", authz: []string{"Bearer " + ingestToken}, want: Identity{Name: "ingester", Roles: RolesOf(RoleIngest)}},
		{name: "admin token from file", authz: []string{"Bearer " + adminToken}, want: Identity{Name: "root", Roles: RolesOf(RoleAdmin)}},
		{name: "scheme is case-insensitive", authz: []string{"bEARER " + readToken}, want: Identity{Name: "reader", Roles: RolesOf(RoleRead)}},
		{name: "wrong token", authz: []string{"Bearer " + readToken + "x"}, wantErr: "unauthenticated: unknown token"},
		{name: "token prefix", authz: []string{"Bearer " + readToken[:16]}, wantErr: "unauthenticated: unknown token"},
		{name: "wrong scheme", authz: []string{"Basic " + readToken}, wantErr: "unauthenticated: authorization is not a bearer token"},
		{name: "no scheme", authz: []string{readToken}, wantErr: "unauthenticated: authorization is not a bearer token"},
		{name: "empty bearer", authz: []string{"Bearer  "}, wantErr: "unauthenticated: empty bearer token"},
		{name: "two values", authz: []string{"Bearer " + readToken, "Bearer " + adminToken}, wantErr: "more than one authorization value"},
		{name: "known cert", certCN: "node-agent", want: Identity{Name: "node-agent", Roles: RolesOf(RoleIngest)}},
		{name: "unknown cert", certCN: "stranger", wantErr: "unauthenticated: unknown client certificate"},
		{name: "token wins over cert", authz: []string{"Bearer " + readToken}, certCN: "node-agent", want: Identity{Name: "reader", Roles: RolesOf(RoleRead)}},
		{name: "bad token with good cert", authz: []string{"Bearer nope-nope-nope-nope"}, certCN: "node-agent", wantErr: "unauthenticated: unknown token"},
		{name: "bad scheme with good cert", authz: []string{"Basic x"}, certCN: "node-agent", wantErr: "not a bearer token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md := metadata.MD{}
			for _, v := range tt.authz {
				md.Append("Authorization", v)
			}
			got, err := a.Authenticate(md, tt.certCN)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrUnauthenticated)
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), secretMark)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRequiredRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		role   Role
		public bool
	}{
		{"/grpc.health.v1.Health/Check", 0, true},
		{"/grpc.health.v1.Health/Watch", 0, true},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", 0, true},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", 0, true},
		{rightsizerv1.RecommendationService_ListRecommendations_FullMethodName, RoleRead, false},
		{rightsizerv1.RecommendationService_GetRecommendation_FullMethodName, RoleRead, false},
		{rightsizerv1.RecommendationService_WatchRecommendations_FullMethodName, RoleRead, false},
		{rightsizerv1.SummaryService_GetSummary_FullMethodName, RoleRead, false},
		{rightsizerv1.UsageService_IngestUsage_FullMethodName, RoleIngest, false},
		{"/rightsizer.v1.UsageService/DeleteUsage", RoleAdmin, false},
		{"/rightsizer.v1.AdminService/Compact", RoleAdmin, false},
		{"/grpc.health.v1.Health/", RoleAdmin, false},
		{"/grpc.health.v1.Health/Check/x", RoleAdmin, false},
		{"/grpc.health.v1.HealthX/Check", RoleAdmin, false},
		{"/rightsizer.v1.SummaryServiceX/GetSummary", RoleAdmin, false},
		{"", RoleAdmin, false},
	}
	for _, tt := range tests {
		role, public := RequiredRole(tt.method)
		require.Equal(t, tt.role, role, tt.method)
		require.Equal(t, tt.public, public, tt.method)
	}
}

func TestIdentityContext(t *testing.T) {
	t.Parallel()
	_, ok := IdentityFrom(t.Context())
	require.False(t, ok)
	id := Identity{Name: "x", Roles: RolesOf(RoleRead)}
	got, ok := IdentityFrom(WithIdentity(t.Context(), id))
	require.True(t, ok)
	require.Equal(t, id, got)
}

// identityHeader is the response header in which the test services echo the caller's identity.
const identityHeader = "x-test-identity"

func echoIdentity(ctx context.Context) error {
	id, ok := IdentityFrom(ctx)
	if !ok {
		return status.Error(codes.Internal, "no identity in ctx")
	}
	return grpc.SetHeader(ctx, metadata.Pairs(identityHeader, id.Name))
}

type testSummaryServer struct {
	rightsizerv1.UnimplementedSummaryServiceServer
}

func (testSummaryServer) GetSummary(ctx context.Context, _ *rightsizerv1.GetSummaryRequest) (*rightsizerv1.GetSummaryResponse, error) {
	if err := echoIdentity(ctx); err != nil {
		return nil, err
	}
	return &rightsizerv1.GetSummaryResponse{}, nil
}

type testUsageServer struct {
	rightsizerv1.UnimplementedUsageServiceServer
}

func (testUsageServer) IngestUsage(stream grpc.ClientStreamingServer[rightsizerv1.IngestUsageRequest, rightsizerv1.IngestUsageResponse]) error {
	if err := echoIdentity(stream.Context()); err != nil {
		return err
	}
	return stream.SendAndClose(&rightsizerv1.IngestUsageResponse{})
}

// adminMethod is a method no role but admin may call; it is served by testAdminDesc.
const adminMethod = "/rightsizer.test.AdminService/Compact"

var testAdminDesc = grpc.ServiceDesc{
	ServiceName: "rightsizer.test.AdminService",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Compact",
		Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				return new(emptypb.Empty), echoIdentity(ctx)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: adminMethod}, h)
		},
	}},
}

// startAuthServer serves the test services behind the auth interceptors on 127.0.0.1:0 and
// returns the address. internalListener, when set, makes internal(ctx) true for calls on it.
func startAuthServer(t *testing.T, auth *Authenticator, creds credentials.TransportCredentials, internalListener bool) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	internal := func(ctx context.Context) bool {
		p, ok := peer.FromContext(ctx)
		return internalListener && ok && p.LocalAddr != nil && p.LocalAddr.String() == lis.Addr().String()
	}
	srv := grpc.NewServer(
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(UnaryAuthInterceptor(auth, internal)),
		grpc.ChainStreamInterceptor(StreamAuthInterceptor(auth, internal)),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	rightsizerv1.RegisterSummaryServiceServer(srv, testSummaryServer{})
	rightsizerv1.RegisterUsageServiceServer(srv, testUsageServer{})
	srv.RegisterService(&testAdminDesc, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		require.NoError(t, <-served)
	})
	return lis.Addr().String()
}

// call makes one RPC of the given kind and returns the identity the server saw.
func call(ctx context.Context, conn *grpc.ClientConn, method string) (string, error) {
	var hdr metadata.MD
	switch method {
	case rightsizerv1.SummaryService_GetSummary_FullMethodName:
		_, err := rightsizerv1.NewSummaryServiceClient(conn).GetSummary(ctx, &rightsizerv1.GetSummaryRequest{}, grpc.Header(&hdr))
		if err != nil {
			return "", err
		}
	case rightsizerv1.UsageService_IngestUsage_FullMethodName:
		stream, err := rightsizerv1.NewUsageServiceClient(conn).IngestUsage(ctx)
		if err != nil {
			return "", err
		}
		if _, err := stream.CloseAndRecv(); err != nil {
			return "", err
		}
		if hdr, err = stream.Header(); err != nil {
			return "", err
		}
	case adminMethod:
		if err := conn.Invoke(ctx, adminMethod, new(emptypb.Empty), new(emptypb.Empty), grpc.Header(&hdr)); err != nil {
			return "", err
		}
	case "health":
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return "", err
	default:
		return "", errors.New("unknown test method " + method)
	}
	if v := hdr.Get(identityHeader); len(v) == 1 {
		return v[0], nil
	}
	return "", errors.New("no identity header in response")
}

func TestAuthInterceptors(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	auth := testAuthenticator(t)

	serverTLS, err := ServerTLSConfig(TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile})
	require.NoError(t, err)
	servers := map[string]string{
		"tls":      startAuthServer(t, auth, credentials.NewTLS(serverTLS), false),
		"internal": startAuthServer(t, auth, insecure.NewCredentials(), true),
		"noauth":   startAuthServer(t, nil, insecure.NewCredentials(), false),
	}

	const (
		summary = rightsizerv1.SummaryService_GetSummary_FullMethodName
		ingest  = rightsizerv1.UsageService_IngestUsage_FullMethodName
	)
	tests := []struct {
		name     string
		server   string
		cert     string // client certificate common name; "untrusted:" prefix for one signed by another CA
		md       []string
		method   string
		want     codes.Code
		wantID   string
		wantText string
	}{
		{name: "health is public", server: "tls", method: "health", want: codes.OK},
		{name: "no credential", server: "tls", method: summary, want: codes.Unauthenticated, wantText: "no credential"},
		{name: "read token reads", server: "tls", md: []string{"authorization", "Bearer " + readToken}, method: summary, wantID: "reader"},
		{name: "read token cannot ingest", server: "tls", md: []string{"authorization", "Bearer " + readToken}, method: ingest, want: codes.PermissionDenied, wantText: "needs role ingest"},
		{name: "ingest token ingests", server: "tls", md: []string{"authorization", "Bearer " + ingestToken}, method: ingest, wantID: "ingester"},
		{name: "ingest token cannot read", server: "tls", md: []string{"authorization", "Bearer " + ingestToken}, method: summary, want: codes.PermissionDenied, wantText: "needs role read"},
		{name: "admin token reads", server: "tls", md: []string{"authorization", "Bearer " + adminToken}, method: summary, wantID: "root"},
		{name: "admin token on admin method", server: "tls", md: []string{"authorization", "Bearer " + adminToken}, method: adminMethod, wantID: "root"},
		{name: "unlisted method denied by default", server: "tls", md: []string{"authorization", "Bearer " + readToken}, method: adminMethod, want: codes.PermissionDenied, wantText: "needs role admin"},
		{name: "wrong token", server: "tls", md: []string{"authorization", "Bearer s3cr-wrong-0123456789"}, method: summary, want: codes.Unauthenticated, wantText: "unknown token"},
		{name: "wrong scheme", server: "tls", md: []string{"authorization", "Basic " + readToken}, method: summary, want: codes.Unauthenticated, wantText: "not a bearer token"},
		{name: "known cert", server: "tls", cert: "node-agent", method: ingest, wantID: "node-agent"},
		{name: "known cert lacks role", server: "tls", cert: "node-agent", method: summary, want: codes.PermissionDenied},
		{name: "unknown cert", server: "tls", cert: "stranger", method: summary, want: codes.Unauthenticated, wantText: "unknown client certificate"},
		{name: "token wins over cert", server: "tls", cert: "node-agent", md: []string{"authorization", "Bearer " + readToken}, method: summary, wantID: "reader"},
		{name: "bad token with good cert", server: "tls", cert: "dashboard", md: []string{"authorization", "Bearer s3cr-wrong-0123456789"}, method: summary, want: codes.Unauthenticated},
		{name: "untrusted cert fails handshake", server: "tls", cert: "untrusted:node-agent", method: summary, want: codes.Unavailable},
		{name: "cn header ignored when not internal", server: "tls", md: []string{ClientCNMetadataKey, "node-agent"}, method: ingest, want: codes.Unauthenticated, wantText: "no credential"},
		{name: "cn header ignored next to a cert", server: "tls", cert: "stranger", md: []string{ClientCNMetadataKey, "node-agent"}, method: ingest, want: codes.Unauthenticated},
		{name: "cn header honoured when internal", server: "internal", md: []string{ClientCNMetadataKey, "node-agent"}, method: ingest, wantID: "node-agent"},
		{name: "internal unknown cn", server: "internal", md: []string{ClientCNMetadataKey, "stranger"}, method: ingest, want: codes.Unauthenticated},
		{name: "internal two cn values", server: "internal", md: []string{ClientCNMetadataKey, "node-agent", ClientCNMetadataKey, "dashboard"}, method: ingest, want: codes.Unauthenticated},
		{name: "internal token", server: "internal", md: []string{"authorization", "Bearer " + readToken}, method: summary, wantID: "reader"},
		{name: "internal no credential", server: "internal", method: summary, want: codes.Unauthenticated},
		{name: "no auth allows all", server: "noauth", method: adminMethod, wantID: "anonymous"},
		{name: "no auth ignores credentials", server: "noauth", md: []string{"authorization", "Bearer x"}, method: ingest, wantID: "anonymous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			creds := insecure.NewCredentials()
			if tt.server == "tls" {
				cfg := &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12}
				switch {
				case strings.HasPrefix(tt.cert, "untrusted:"):
					// Sent even though the server does not list its CA, as an attacker would.
					cert := pki.Untrusted(t, strings.TrimPrefix(tt.cert, "untrusted:"))
					cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
				case tt.cert != "":
					cfg.Certificates = []tls.Certificate{pki.Client(t, tt.cert)}
				}
				creds = credentials.NewTLS(cfg)
			}
			conn, err := grpc.NewClient(servers[tt.server], grpc.WithTransportCredentials(creds))
			require.NoError(t, err)
			defer func() { require.NoError(t, conn.Close()) }()

			ctx := metadata.AppendToOutgoingContext(t.Context(), tt.md...)
			id, err := call(ctx, conn, tt.method)
			require.Equal(t, tt.want, status.Code(err), "error: %v", err)
			if err != nil {
				require.Contains(t, status.Convert(err).Message(), tt.wantText)
				require.NotContains(t, err.Error(), secretMark)
				return
			}
			require.Equal(t, tt.wantID, id)
		})
	}
}

// TestPeerCommonName checks that only a verified chain yields a common name.
func TestPeerCommonName(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	leaf := pki.Client(t, "node-agent").Leaf
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{name: "no peer", ctx: t.Context()},
		{name: "no tls", ctx: peer.NewContext(t.Context(), &peer.Peer{})},
		{name: "unverified", ctx: peer.NewContext(t.Context(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}}})},
		{name: "verified", ctx: peer.NewContext(t.Context(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}}), want: "node-agent"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, peerCommonName(tt.ctx), tt.name)
	}
}
