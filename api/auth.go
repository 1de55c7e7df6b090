package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// Role is a permission a caller can hold. RoleAdmin implies every other role.
// The zero Role is not a valid role; RequiredRole returns it for public methods.
type Role uint8

// The roles, from least to most privileged.
const (
	// RoleRead allows reading recommendations and summaries.
	RoleRead Role = iota + 1
	// RoleIngest allows streaming usage samples (the node agent).
	RoleIngest
	// RoleAdmin allows everything, including methods not otherwise listed.
	RoleAdmin
)

// String returns the role's name as written in the tokens file: "read", "ingest" or "admin".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleIngest:
		return "ingest"
	case RoleAdmin:
		return "admin"
	default:
		return fmt.Sprintf("Role(%d)", uint8(r))
	}
}

// valid reports whether r is one of the defined roles.
func (r Role) valid() bool { return r >= RoleRead && r <= RoleAdmin }

// parseRole maps a tokens-file role name to its Role.
func parseRole(s string) (Role, bool) {
	for r := RoleRead; r <= RoleAdmin; r++ {
		if s == r.String() {
			return r, true
		}
	}
	return 0, false
}

// Roles is a set of roles, one bit per Role. The zero value is the empty set.
// Roles is a plain value and safe to copy and share.
type Roles uint8

// allRoles holds every defined role.
const allRoles = Roles(1<<RoleRead | 1<<RoleIngest | 1<<RoleAdmin)

// RolesOf returns the set holding rs. Invalid roles are ignored.
func RolesOf(rs ...Role) Roles {
	var s Roles
	for _, r := range rs {
		if r.valid() {
			s |= 1 << r
		}
	}
	return s
}

// Has reports whether the set grants r: r is in s, or RoleAdmin is in s (admin implies every role).
func (s Roles) Has(r Role) bool {
	if s&(1<<RoleAdmin) != 0 {
		return true
	}
	return r.valid() && s&(1<<r) != 0
}

// String returns the roles in the set, comma-separated ("read,ingest"), or "none".
func (s Roles) String() string {
	var names []string
	for r := RoleRead; r <= RoleAdmin; r++ {
		if s&(1<<r) != 0 {
			names = append(names, r.String())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Identity is an authenticated caller. Name is the tokens-file entry name, the verified client
// certificate's subject common name, or the Kubernetes user name that a TokenReview returned
// ("system:serviceaccount:<namespace>:<name>"); it is safe to log and to use as a rate-limit key.
type Identity struct {
	Name  string
	Roles Roles
}

// identityKey is the context key for an Identity.
type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id. The auth interceptors call it; tests and
// in-process callers may too.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity an auth interceptor put in ctx, and false if there is none
// (public methods, or a context that did not pass through the interceptors).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

var (
	// ErrUnauthenticated means the caller presented no credential or one that matched nothing.
	// It is wrapped with the reason: "no credential", "unknown token", "unknown client certificate",
	// or a malformed authorization value. The gRPC code is codes.Unauthenticated.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the caller is known but lacks the role a method needs.
	// The gRPC code is codes.PermissionDenied.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrAuthUnavailable means the service that checks credentials (the Kubernetes API server)
	// could not answer, so the caller is neither accepted nor rejected; a retry may succeed.
	// The gRPC code is codes.Unavailable.
	ErrAuthUnavailable = errors.New("authentication unavailable")

	// errUnknownToken is a well-formed bearer token that the tokens file does not hold; only
	// this failure lets the next authenticator of a chain try the token.
	errUnknownToken = fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	// errNoCredential is a call with neither a bearer token nor a client certificate.
	errNoCredential = fmt.Errorf("%w: no credential", ErrUnauthenticated)
	// errUnknownClientCert is a verified client certificate whose name is not configured.
	errUnknownClientCert = fmt.Errorf("%w: unknown client certificate", ErrUnauthenticated)
)

// Authn authenticates the caller of one call. md is the call's incoming metadata and certCN the
// verified client certificate's subject common name ("" if none). Errors wrap ErrUnauthenticated
// when the credential is missing or wrong, or ErrAuthUnavailable when the service that checks it
// could not answer; they never contain the credential. ctx bounds any remote check.
//
// *Authenticator (a tokens file) and *KubeAuthenticator (Kubernetes TokenReview and
// SubjectAccessReview) implement it; Options.Auth and Options.Kube set together chain them, the
// tokens file first. Implementations must be safe for concurrent use.
type Authn interface {
	AuthenticateCall(ctx context.Context, md metadata.MD, certCN string) (Identity, error)
}

var (
	_ Authn = (*Authenticator)(nil)
	_ Authn = (*KubeAuthenticator)(nil)
	_ Authn = authnChain{}
)

// ClientCNMetadataKey is the gRPC metadata key through which the in-process REST gateway passes the
// common name of the HTTP client's verified certificate. The auth interceptors honour it only on
// connections their internal func marks as the gateway's; elsewhere it is ignored. The gateway must
// drop any copy of this key that an HTTP client tries to send (for example as the header
// "Grpc-Metadata-X-Rightsizer-Client-Cn") before setting its own.
const ClientCNMetadataKey = "x-rightsizer-client-cn"

// authorizationKey is the gRPC metadata key carrying "Bearer <token>".
const authorizationKey = "authorization"

// Limits on the tokens file and its entries.
const (
	maxTokensFileBytes = 1 << 20 // the tokens file
	maxTokenFileBytes  = 64 << 10
	minTokenBytes      = 16
	maxTokenBytes      = 4096
	maxNameBytes       = 63
	maxCommonNameBytes = 64 // RFC 5280 ub-common-name
)

// tokenCred is one configured bearer token, kept only as its SHA-256 digest.
type tokenCred struct {
	digest [sha256.Size]byte
	id     Identity
}

// Authenticator maps credentials (bearer tokens and verified client certificate common names)
// to identities. Build it with LoadTokens or ParseTokens. It is immutable after construction
// and safe for concurrent use. It keeps only SHA-256 digests of the tokens, never the tokens.
type Authenticator struct {
	tokens  []tokenCred
	clients map[string]Identity
}

// tokensFile is the on-disk schema of the tokens file.
type tokensFile struct {
	Tokens  []tokenEntry  `yaml:"tokens"`
	Clients []clientEntry `yaml:"clients"`
}

type tokenEntry struct {
	Name      string   `yaml:"name"`
	Token     *string  `yaml:"token"`
	TokenFile *string  `yaml:"tokenFile"`
	Roles     []string `yaml:"roles"`
}

type clientEntry struct {
	CommonName string   `yaml:"commonName"`
	Roles      []string `yaml:"roles"`
}

// LoadTokens reads and validates the tokens file at path; see ParseTokens for the format.
// A tokenFile in it is resolved relative to the directory of path. Files larger than 1 MiB
// are rejected. Every problem is reported at once, joined with errors.Join; no error contains
// a token value.
func LoadTokens(path string) (*Authenticator, error) {
	data, err := readCapped(path, maxTokensFileBytes)
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	a, err := ParseTokens(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load tokens %s: %w", path, err)
	}
	return a, nil
}

// ParseTokens parses and validates a tokens file:
//
//	tokens:
//	  - name: ci-bot        # unique, non-empty, printable, at most 63 bytes
//	    token: "…"          # at least 16 bytes of printable ASCII, no whitespace, unique
//	    roles: [read]       # non-empty, from read|ingest|admin
//	  - name: agent
//	    tokenFile: agent.token   # instead of token; relative to baseDir; contents are trimmed
//	    roles: [ingest]
//	clients:                # mTLS client certificates, by subject common name
//	  - commonName: node-agent
//	    roles: [ingest]
//
// Decoding is strict: unknown keys, duplicate keys and extra documents are errors. Every problem
// is reported at once, joined with errors.Join, each naming the entry index, name and field.
// Token values never appear in errors. At least one token or client must be configured.
func ParseTokens(data []byte, baseDir string) (*Authenticator, error) {
	if len(data) > maxTokensFileBytes {
		return nil, fmt.Errorf("tokens file is %d bytes, more than the %d byte limit", len(data), maxTokensFileBytes)
	}
	var (
		f    tokensFile
		errs []error
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&f); {
	case errors.Is(err, io.EOF):
		return nil, errors.New("tokens file is empty")
	case err != nil:
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// A syntax error: nothing was decoded, so there is nothing more to check.
			return nil, fmt.Errorf("parse tokens file: %s", sanitizeYAMLError(err.Error()))
		}
		// Type errors leave the rest of the document decoded: report them and keep validating.
		for _, msg := range te.Errors {
			errs = append(errs, errors.New(sanitizeYAMLError(msg)))
		}
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		errs = append(errs, errors.New("tokens file must hold a single YAML document"))
	}

	a := &Authenticator{clients: make(map[string]Identity, len(f.Clients))}
	names := make(map[string]int, len(f.Tokens))
	digests := make(map[[sha256.Size]byte]int, len(f.Tokens))
	for i, e := range f.Tokens {
		where := entryLabel("tokens", i, e.Name)
		var entryErrs []error
		if err := validateName(e.Name, maxNameBytes); err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("name: %w", err))
		} else if j, dup := names[e.Name]; dup {
			entryErrs = append(entryErrs, fmt.Errorf("name: duplicate of tokens[%d]", j))
		} else {
			names[e.Name] = i
		}
		roles, roleErrs := parseRoles(e.Roles)
		for _, err := range roleErrs {
			entryErrs = append(entryErrs, fmt.Errorf("roles: %w", err))
		}
		token, field, err := e.secret(baseDir)
		if err != nil {
			entryErrs = append(entryErrs, err)
		} else if err := validateToken(token); err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("%s: %w", field, err))
		}
		var digest [sha256.Size]byte
		if token != "" {
			digest = sha256.Sum256([]byte(token))
			if j, dup := digests[digest]; dup {
				entryErrs = append(entryErrs, fmt.Errorf("%s: same token as tokens[%d]", field, j))
			} else {
				digests[digest] = i
			}
		}
		if len(entryErrs) > 0 {
			for _, err := range entryErrs {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			continue
		}
		a.tokens = append(a.tokens, tokenCred{digest: digest, id: Identity{Name: e.Name, Roles: roles}})
	}

	cns := make(map[string]int, len(f.Clients))
	for i, c := range f.Clients {
		where := entryLabel("clients", i, c.CommonName)
		var entryErrs []error
		if err := validateName(c.CommonName, maxCommonNameBytes); err != nil {
			entryErrs = append(entryErrs, fmt.Errorf("commonName: %w", err))
		} else if j, dup := cns[c.CommonName]; dup {
			entryErrs = append(entryErrs, fmt.Errorf("commonName: duplicate of clients[%d]", j))
		} else {
			cns[c.CommonName] = i
		}
		roles, roleErrs := parseRoles(c.Roles)
		for _, err := range roleErrs {
			entryErrs = append(entryErrs, fmt.Errorf("roles: %w", err))
		}
		if len(entryErrs) > 0 {
			for _, err := range entryErrs {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			continue
		}
		a.clients[c.CommonName] = Identity{Name: c.CommonName, Roles: roles}
	}

	if len(errs) == 0 && len(a.tokens) == 0 && len(a.clients) == 0 {
		errs = append(errs, errors.New("no tokens or clients configured"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// secret returns the entry's token and the field it came from ("token" or "tokenFile").
// Errors name the field and, for tokenFile, the path, never the token.
func (e tokenEntry) secret(baseDir string) (token, field string, err error) {
	switch {
	case e.Token != nil && e.TokenFile != nil:
		return "", "token", errors.New("token: set together with tokenFile; set exactly one")
	case e.Token == nil && e.TokenFile == nil:
		return "", "token", errors.New("token: missing; set token or tokenFile")
	case e.Token != nil:
		return *e.Token, "token", nil
	}
	path := *e.TokenFile
	if path == "" {
		return "", "tokenFile", errors.New("tokenFile: empty path")
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(baseDir, path)
	}
	data, err := readCapped(path, maxTokenFileBytes)
	if err != nil {
		return "", "tokenFile", fmt.Errorf("tokenFile: %w", err)
	}
	return strings.TrimSpace(string(data)), "tokenFile", nil
}

// readCapped reads the file at path, failing if it holds more than limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // Read-only: Close has nothing to report.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: file is larger than the %d byte limit", path, limit)
	}
	return data, nil
}

// entryLabel names an entry in errors: `tokens[2] "ci-bot"`, or `tokens[2]` when the name is
// unusable. The name is quoted with %q so control characters cannot forge log lines.
func entryLabel(list string, i int, name string) string {
	if name == "" || len(name) > maxCommonNameBytes || !utf8.ValidString(name) {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d] %q", list, i, name)
}

// validateName checks an entry name or common name: non-empty, valid UTF-8, printable, at most max bytes.
func validateName(s string, max int) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > max:
		return fmt.Errorf("is %d bytes, more than %d", len(s), max)
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("contains the non-printable character %U", r)
		}
	}
	return nil
}

// validateToken checks a token without ever including it in the error. Tokens travel in gRPC
// metadata, which only carries printable ASCII, so anything else could never be presented.
func validateToken(t string) error {
	switch {
	case t == "":
		return errors.New("must not be empty")
	case len(t) < minTokenBytes:
		return fmt.Errorf("is %d bytes, fewer than %d", len(t), minTokenBytes)
	case len(t) > maxTokenBytes:
		return fmt.Errorf("is %d bytes, more than %d", len(t), maxTokenBytes)
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("byte %d is whitespace or not printable ASCII", i)
		}
	}
	return nil
}

// parseRoles turns role names into a set; the list must be non-empty, known and without repeats.
// It returns one error per problem.
func parseRoles(names []string) (Roles, []error) {
	if len(names) == 0 {
		return 0, []error{errors.New("must list at least one of read, ingest, admin")}
	}
	var (
		s    Roles
		errs []error
	)
	for i, n := range names {
		r, ok := parseRole(n)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("[%d]: unknown role %q, want read, ingest or admin", i, n))
		case s&(1<<r) != 0:
			errs = append(errs, fmt.Errorf("[%d]: duplicate role %q", i, n))
		default:
			s |= 1 << r
		}
	}
	return s, errs
}

// yamlValueInError matches the quoted scalar yaml puts in "cannot unmarshal" errors; it may be
// the start of a token, so it is removed.
var yamlValueInError = regexp.MustCompile("^(line [0-9]+: cannot unmarshal [^ ]+) `.*`( into .*)$")

// yamlTypeNames makes the Go type names at the end of yaml errors read the way the file does.
var yamlTypeNames = map[string]string{
	"api.tokensFile":    "the tokens file",
	"[]api.tokenEntry":  "a list of tokens",
	"[]api.clientEntry": "a list of clients",
	"api.tokenEntry":    "a tokens entry",
	"api.clientEntry":   "a clients entry",
	"[]string":          "a list of strings",
	"string":            "a string",
}

// sanitizeYAMLError removes scalar values from a yaml error and names types the way the file does.
// What it keeps of the file (a tag such as !%C0%80, which yaml percent-decodes into raw bytes) is
// made valid UTF-8.
func sanitizeYAMLError(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = yamlValueInError.ReplaceAllString(msg, "$1$2")
	for _, sep := range [...]struct{ from, to string }{{" into ", " into "}, {" in type ", " in "}} {
		i := strings.LastIndex(msg, sep.from)
		if i < 0 {
			continue
		}
		if name, ok := yamlTypeNames[msg[i+len(sep.from):]]; ok {
			return msg[:i] + sep.to + name
		}
	}
	return msg
}

// Authenticate finds the caller for one request.
//
// A bearer token in metadata key "authorization" ("Bearer <token>", scheme case-insensitive) is
// checked first: its SHA-256 digest is compared in constant time against every configured token's
// digest, always all of them, so neither which token matched nor its length leaks through timing.
// A presented token that matches nothing, or an authorization value that is not a single bearer
// token, fails even when a client certificate is also present. Without an authorization value,
// certCN (the verified client certificate's subject common name, "" if none) is looked up in the
// clients list.
//
// Errors wrap ErrUnauthenticated with the reason and never contain the token.
// Authenticate is safe for concurrent use.
func (a *Authenticator) Authenticate(md metadata.MD, certCN string) (Identity, error) {
	token, ok, err := bearerToken(md)
	if err != nil {
		return Identity{}, err
	}
	if ok {
		digest := sha256.Sum256([]byte(token))
		match := -1
		for i := range a.tokens {
			eq := subtle.ConstantTimeCompare(digest[:], a.tokens[i].digest[:])
			match = subtle.ConstantTimeSelect(eq, i, match)
		}
		if match < 0 {
			return Identity{}, errUnknownToken
		}
		return a.tokens[match].id, nil
	}
	if certCN != "" {
		if id, ok := a.clients[certCN]; ok {
			return id, nil
		}
		return Identity{}, errUnknownClientCert
	}
	return Identity{}, errNoCredential
}

// AuthenticateCall is Authenticate, for the Authn interface; it makes no remote call, so ctx is unused.
func (a *Authenticator) AuthenticateCall(_ context.Context, md metadata.MD, certCN string) (Identity, error) {
	return a.Authenticate(md, certCN)
}

// bearerToken returns the bearer token in metadata key "authorization" ("Bearer <token>", scheme
// case-insensitive), ok false if there is no authorization value, or an error wrapping
// ErrUnauthenticated if the value is not a single non-empty bearer token. Errors never contain
// the value.
func bearerToken(md metadata.MD) (token string, ok bool, err error) {
	vals := md.Get(authorizationKey)
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, fmt.Errorf("%w: more than one authorization value", ErrUnauthenticated)
	}
	scheme, token, found := strings.Cut(vals[0], " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false, fmt.Errorf("%w: authorization is not a bearer token", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", false, fmt.Errorf("%w: empty bearer token", ErrUnauthenticated)
	}
	return token, true, nil
}

// authnChain checks callers with the tokens file first and hands a bearer token the file does
// not hold to Kubernetes. Client certificates are only ever checked against the tokens file.
// A malformed authorization value fails at once: Kubernetes would reject it too.
type authnChain struct {
	static *Authenticator
	kube   *KubeAuthenticator
}

func (c authnChain) AuthenticateCall(ctx context.Context, md metadata.MD, certCN string) (Identity, error) {
	id, err := c.static.Authenticate(md, certCN)
	if !errors.Is(err, errUnknownToken) {
		return id, err
	}
	return c.kube.AuthenticateCall(ctx, md, certCN)
}

// Full method prefixes and names used by RequiredRole.
var (
	publicServicePrefixes = []string{
		"/grpc.health.v1.Health/",
		"/grpc.reflection.v1.ServerReflection/",
		"/grpc.reflection.v1alpha.ServerReflection/",
	}
	readServicePrefixes = []string{
		"/" + rightsizerv1.RecommendationService_ServiceDesc.ServiceName + "/",
		"/" + rightsizerv1.SummaryService_ServiceDesc.ServiceName + "/",
	}
)

// RequiredRole returns the role a full gRPC method name ("/package.Service/Method") needs.
// Health and reflection methods are public (public is true, role is 0). RecommendationService and
// SummaryService methods need RoleRead, UsageService/IngestUsage needs RoleIngest, and every other
// method, including ones added later, needs RoleAdmin: access is denied by default.
func RequiredRole(fullMethod string) (role Role, public bool) {
	if methodIn(fullMethod, publicServicePrefixes) {
		return 0, true
	}
	if methodIn(fullMethod, readServicePrefixes) {
		return RoleRead, false
	}
	if fullMethod == rightsizerv1.UsageService_IngestUsage_FullMethodName {
		return RoleIngest, false
	}
	return RoleAdmin, false
}

// methodIn reports whether fullMethod is a method of one of the services named by prefixes.
func methodIn(fullMethod string, prefixes []string) bool {
	for _, p := range prefixes {
		if m, ok := strings.CutPrefix(fullMethod, p); ok && m != "" && !strings.Contains(m, "/") {
			return true
		}
	}
	return false
}

// anonymousIdentity is the identity of every caller when authentication is off.
var anonymousIdentity = Identity{Name: "anonymous", Roles: allRoles}

// authorize authenticates and authorizes one call, returning ctx carrying the caller's Identity,
// or a status error with codes.Unauthenticated, codes.PermissionDenied, or codes.Unavailable when
// the credential could not be checked (codes.Canceled or codes.DeadlineExceeded when the call
// ended first).
func authorize(ctx context.Context, auth Authn, internal func(context.Context) bool, fullMethod string) (context.Context, error) {
	role, public := RequiredRole(fullMethod)
	if public {
		return ctx, nil
	}
	if auth == nil {
		return WithIdentity(ctx, anonymousIdentity), nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var certCN string
	if internal != nil && internal(ctx) {
		// The gateway verified the HTTP client's certificate; the gateway's own
		// connection certificate (if any) says nothing about the caller.
		switch vals := md.Get(ClientCNMetadataKey); len(vals) {
		case 0:
		case 1:
			certCN = vals[0]
		default:
			return ctx, status.Errorf(codes.Unauthenticated, "%v: more than one %s value", ErrUnauthenticated, ClientCNMetadataKey)
		}
	} else {
		certCN = peerCommonName(ctx)
	}
	id, err := auth.AuthenticateCall(ctx, md, certCN)
	switch {
	case err == nil:
	case errors.Is(err, ErrAuthUnavailable):
		return ctx, status.Errorf(codes.Unavailable, "%v (%s needs role %s)", err, fullMethod, role)
	case errors.Is(err, ErrUnauthenticated):
		return ctx, status.Errorf(codes.Unauthenticated, "%v (%s needs role %s)", err, fullMethod, role)
	default:
		// The call ended (canceled, or past its deadline) while its credential was being checked.
		return ctx, toStatus(err)
	}
	if !id.Roles.Has(role) {
		return ctx, status.Errorf(codes.PermissionDenied, "%v: %q has roles %s, %s needs role %s", ErrPermissionDenied, id.Name, id.Roles, fullMethod, role)
	}
	return WithIdentity(ctx, id), nil
}

// peerCommonName returns the subject common name of the peer's verified client certificate, or "".
func peerCommonName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return ti.State.VerifiedChains[0][0].Subject.CommonName
}

// UnaryAuthInterceptor authenticates and authorizes every unary call (see RequiredRole and
// Authenticate) and passes the caller's Identity to the handler in its ctx (IdentityFrom).
// Failures return codes.Unauthenticated or codes.PermissionDenied, naming the role needed.
//
// If auth is nil every call is allowed as Identity{Name: "anonymous"} with every role.
// internal reports whether a call arrived on the in-process REST gateway's connection; only then
// is metadata key ClientCNMetadataKey trusted as the verified client certificate's common name,
// and the connection's own certificate is not used. internal may be nil (no such connection).
// The interceptor is safe for concurrent use if internal is.
func UnaryAuthInterceptor(auth *Authenticator, internal func(context.Context) bool) grpc.UnaryServerInterceptor {
	if auth == nil {
		// A nil interface, not one holding a nil *Authenticator: nil means auth is off.
		return unaryAuthInterceptor(nil, internal)
	}
	return unaryAuthInterceptor(auth, internal)
}

// unaryAuthInterceptor is UnaryAuthInterceptor for any Authn; a nil authn serves everyone.
func unaryAuthInterceptor(auth Authn, internal func(context.Context) bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authorize(ctx, auth, internal, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamAuthInterceptor is UnaryAuthInterceptor for streaming calls; the handler's
// stream.Context() carries the caller's Identity.
func StreamAuthInterceptor(auth *Authenticator, internal func(context.Context) bool) grpc.StreamServerInterceptor {
	if auth == nil {
		// A nil interface, not one holding a nil *Authenticator: nil means auth is off.
		return streamAuthInterceptor(nil, internal)
	}
	return streamAuthInterceptor(auth, internal)
}

// streamAuthInterceptor is StreamAuthInterceptor for any Authn; a nil authn serves everyone.
func streamAuthInterceptor(auth Authn, internal func(context.Context) bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authorize(ss.Context(), auth, internal, info.FullMethod)
		if err != nil {
			return err
		}
		if ctx != ss.Context() {
			ss = &identityStream{ServerStream: ss, ctx: ctx}
		}
		return handler(srv, ss)
	}
}

// identityStream is a grpc.ServerStream whose Context carries the caller's Identity.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }
