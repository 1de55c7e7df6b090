package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// The callers of a kubeAuthFixture.
const (
	kubeReader      = "reader"         // read, by a RoleBinding in the fixture's namespace
	kubeIngester    = "ingester"       // ingest, by a ClusterRoleBinding
	kubeAdmin       = "admin"          // admin, by a RoleBinding
	kubeNobody      = "nobody"         // no binding at all
	kubeGroupReader = "group-reader"   // read, through its group system:serviceaccounts:<its namespace>
	kubeWrongAud    = "wrong-audience" // reader's token, minted for another audience
)

// kubeAuthFixture is a namespace in the shared test cluster whose ServiceAccounts hold
// rightsizer's roles through plain RBAC, with a token for each. The objects are left behind:
// the cluster lives only as long as the test binary.
type kubeAuthFixture struct {
	cluster *kubetest.Cluster
	// ns is where the roles are granted (KubeAuthOptions.Namespace); otherNS holds group-reader.
	ns, otherNS string
	// server acts as a user holding only system:auth-delegator, as rightsizer itself would;
	// tokenReviewer may create TokenReviews but not SubjectAccessReviews.
	server, tokenReviewer *rest.Config
	tokens                map[string]string
	users                 map[string]string // Kubernetes user names, by caller
}

// kubeClient returns a clientset for cfg, through wrap if it is not nil, whose connections
// close when the test ends.
func kubeClient(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	// Tests make bursts of reviews; client-go's default limit of 5 requests per second would
	// only slow them down. A negative QPS turns the limiter off.
	cfg.QPS = -1
	if wrap != nil {
		cfg.Wrap(wrap)
	}
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	require.NoError(t, err)
	return cs
}

func newKubeAuthFixture(t *testing.T) *kubeAuthFixture {
	t.Helper()
	cl := kubetest.Shared(t)
	ctx := t.Context()
	admin := kubeClient(t, cl.Config, nil)
	create := func(_ any, err error) { t.Helper(); require.NoError(t, err) }

	newNS := func() string {
		ns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubeauth-"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return ns.Name
	}
	f := &kubeAuthFixture{cluster: cl, ns: newNS(), otherNS: newNS(), tokens: map[string]string{}, users: map[string]string{}}

	// The ClusterRoles an operator would write, as documented on KubeAuthenticator.
	clusterRole := func(resource string, verbs ...string) string {
		cr, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "rightsizer-"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{KubeAuthGroup}, Resources: []string{resource}, Verbs: verbs}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return cr.Name
	}
	readRole := clusterRole("recommendations", "get", "list", "watch")
	ingestRole := clusterRole("usage", "create")
	adminRole := clusterRole("*", "*")

	ref := func(clusterRole string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}
	}
	sa := func(ns, name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
	}
	roleBinding := func(clusterRole string, subject rbacv1.Subject) {
		t.Helper()
		create(admin.RbacV1().RoleBindings(f.ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "rightsizer-"}, RoleRef: ref(clusterRole), Subjects: []rbacv1.Subject{subject},
		}, metav1.CreateOptions{}))
	}
	clusterRoleBinding := func(clusterRole string, subject rbacv1.Subject) {
		t.Helper()
		create(admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "rightsizer-"}, RoleRef: ref(clusterRole), Subjects: []rbacv1.Subject{subject},
		}, metav1.CreateOptions{}))
	}

	accounts := []struct {
		name, ns string
		bind     func()
	}{
		{kubeReader, f.ns, func() { roleBinding(readRole, sa(f.ns, kubeReader)) }},
		{kubeIngester, f.ns, func() { clusterRoleBinding(ingestRole, sa(f.ns, kubeIngester)) }},
		{kubeAdmin, f.ns, func() { roleBinding(adminRole, sa(f.ns, kubeAdmin)) }},
		{kubeNobody, f.ns, func() {}},
		{kubeGroupReader, f.otherNS, func() {
			roleBinding(readRole, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:" + f.otherNS})
		}},
	}
	for _, a := range accounts {
		create(admin.CoreV1().ServiceAccounts(a.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: a.name}}, metav1.CreateOptions{}))
		a.bind()
		f.users[a.name] = "system:serviceaccount:" + a.ns + ":" + a.name
	}
	f.users[kubeWrongAud] = f.users[kubeReader]

	// rightsizer's own user: system:auth-delegator and nothing else.
	serverUser := "rightsizer-server-" + f.ns
	var err error
	f.server, err = cl.AddUser(serverUser)
	require.NoError(t, err)
	clusterRoleBinding("system:auth-delegator", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: serverUser})
	tokenReviewerUser := "rightsizer-token-reviewer-" + f.ns
	f.tokenReviewer, err = cl.AddUser(tokenReviewerUser)
	require.NoError(t, err)
	cr, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "token-reviewer-"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	clusterRoleBinding(cr.Name, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tokenReviewerUser})

	// The API server's RBAC authorizer sees new bindings through an informer, a moment after
	// they are created: poll, with a deadline, until each grant is in force.
	waitAllowed := func(user string, groups []string, attrs authorizationv1.ResourceAttributes) {
		t.Helper()
		require.Eventually(t, func() bool {
			sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &attrs, User: user, Groups: groups},
			}, metav1.CreateOptions{})
			return err == nil && sar.Status.Allowed
		}, 30*time.Second, 20*time.Millisecond, "RBAC never let %s %s %s", user, attrs.Verb, attrs.Resource)
	}
	read := authorizationv1.ResourceAttributes{Namespace: f.ns, Group: KubeAuthGroup, Verb: "get", Resource: "recommendations"}
	waitAllowed(f.users[kubeReader], nil, read)
	waitAllowed(f.users[kubeGroupReader], []string{"system:serviceaccounts:" + f.otherNS}, read)
	waitAllowed(f.users[kubeIngester], nil, authorizationv1.ResourceAttributes{Namespace: f.ns, Group: KubeAuthGroup, Verb: "create", Resource: "usage"})
	waitAllowed(f.users[kubeAdmin], nil, authorizationv1.ResourceAttributes{Namespace: f.ns, Group: KubeAuthGroup, Verb: "*", Resource: "*"})
	waitAllowed(serverUser, nil, authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Verb: "create", Resource: "tokenreviews"})
	waitAllowed(serverUser, nil, authorizationv1.ResourceAttributes{Group: "authorization.k8s.io", Verb: "create", Resource: "subjectaccessreviews"})
	waitAllowed(tokenReviewerUser, nil, authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Verb: "create", Resource: "tokenreviews"})

	token := func(ns, name string, audiences ...string) string {
		t.Helper()
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: audiences},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr.Status.Token
	}
	for _, a := range accounts {
		f.tokens[a.name] = token(a.ns, a.name, "rightsizer")
	}
	f.tokens[kubeWrongAud] = token(f.ns, kubeReader, "not-rightsizer")
	return f
}

// authenticator returns a KubeAuthenticator acting as cfg (f.server if nil), through wrap,
// with the default options but for the namespace and the changes in opts.
func (f *kubeAuthFixture) authenticator(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper, opts ...func(*KubeAuthOptions)) *KubeAuthenticator {
	t.Helper()
	if cfg == nil {
		cfg = f.server
	}
	o := DefaultKubeAuthOptions()
	o.Namespace = f.ns
	for _, fn := range opts {
		fn(&o)
	}
	ka, err := NewKubeAuthenticator(kubeClient(t, cfg, wrap), o)
	require.NoError(t, err)
	return ka
}

// reviewCounter counts the review requests that reach the API server.
type reviewCounter struct {
	tokenReviews, accessReviews atomic.Int64
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *reviewCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/tokenreviews"):
			c.tokenReviews.Add(1)
		case strings.HasSuffix(r.URL.Path, "/subjectaccessreviews"):
			c.accessReviews.Add(1)
		}
		return rt.RoundTrip(r)
	})
}

// syncBuffer is a bytes.Buffer for concurrent writers, such as a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withToken returns ctx carrying token as its bearer credential, or ctx if token is "".
func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// httpCodes are the statuses the gateway gives the auth codes.
var httpCodes = map[codes.Code]int{
	codes.OK:               http.StatusOK,
	codes.Unauthenticated:  http.StatusUnauthorized,
	codes.PermissionDenied: http.StatusForbidden,
	codes.Unavailable:      http.StatusServiceUnavailable,
}

// TestKubeAuth runs the Kubernetes authenticator against a real API server and RBAC.
func TestKubeAuth(t *testing.T) {
	t.Parallel()
	f := newKubeAuthFixture(t)
	t.Run("roles", func(t *testing.T) { testKubeRoles(t, f) })
	t.Run("RBAC over gRPC and REST", func(t *testing.T) { testKubeRBAC(t, f) })
	t.Run("cache", func(t *testing.T) { testKubeCache(t, f) })
	t.Run("API server failures", func(t *testing.T) { testKubeUnavailable(t, f) })
}

// testKubeRoles checks the identity and roles each ServiceAccount gets.
func testKubeRoles(t *testing.T, f *kubeAuthFixture) {
	t.Parallel()
	ka := f.authenticator(t, nil, nil)
	tests := []struct {
		caller  string
		roles   Roles
		wantErr string
	}{
		{caller: kubeReader, roles: RolesOf(RoleRead)},
		{caller: kubeIngester, roles: RolesOf(RoleIngest)},
		// Admin's rule (verbs and resources "*") matches the other roles' attributes too.
		{caller: kubeAdmin, roles: allRoles},
		{caller: kubeNobody, roles: 0},
		{caller: kubeGroupReader, roles: RolesOf(RoleRead)},
		{caller: kubeWrongAud, wantErr: "unauthenticated: Kubernetes rejected the token"},
	}
	for _, tt := range tests {
		t.Run(tt.caller, func(t *testing.T) {
			t.Parallel()
			id, err := ka.AuthenticateToken(t.Context(), f.tokens[tt.caller])
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrUnauthenticated)
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, Identity{Name: f.users[tt.caller], Roles: tt.roles}, id)
		})
	}
}

// testKubeRBAC serves the real API with the tokens file and Kubernetes chained, and checks what
// each caller may do over gRPC and REST.
func testKubeRBAC(t *testing.T, f *kubeAuthFixture) {
	t.Parallel()
	ka := f.authenticator(t, nil, nil)
	ts := startServer(t, func(o *Options) { o.Auth, o.Kube = testAuthenticator(t), ka })
	conn := ts.dial(t, nil)

	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		unauth = codes.Unauthenticated
	)
	tests := []struct {
		name     string
		token    string
		want     [3]codes.Code // list, ingest, summary
		wantText string        // in the message of the first failure
	}{
		{name: "read by RoleBinding", token: f.tokens[kubeReader], want: [3]codes.Code{ok, denied, ok}, wantText: "needs role ingest"},
		{name: "ingest by ClusterRoleBinding", token: f.tokens[kubeIngester], want: [3]codes.Code{denied, ok, denied}, wantText: "needs role read"},
		{name: "admin", token: f.tokens[kubeAdmin], want: [3]codes.Code{ok, ok, ok}},
		{name: "read through a group", token: f.tokens[kubeGroupReader], want: [3]codes.Code{ok, denied, ok}},
		{name: "no binding", token: f.tokens[kubeNobody], want: [3]codes.Code{denied, denied, denied}, wantText: `"` + f.users[kubeNobody] + `" has roles none`},
		{name: "wrong audience", token: f.tokens[kubeWrongAud], want: [3]codes.Code{unauth, unauth, unauth}, wantText: "Kubernetes rejected the token"},
		{name: "not a Kubernetes token", token: "s3cr-not-a-kubernetes-token", want: [3]codes.Code{unauth, unauth, unauth}, wantText: "Kubernetes rejected the token"},
		{name: "tokens file first", token: readToken, want: [3]codes.Code{ok, denied, ok}, wantText: `"reader" has roles read`},
		{name: "no credential", want: [3]codes.Code{unauth, unauth, unauth}, wantText: "no credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := withToken(t.Context(), tt.token)
			var errs [3]error
			_, errs[0] = rightsizerv1.NewRecommendationServiceClient(conn).ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{})
			_, errs[1] = ingest(ctx, conn, usageBatch(containerRef("kubeauth", "x"), testBase, 1, 0.1, 1))
			_, errs[2] = rightsizerv1.NewSummaryServiceClient(conn).GetSummary(ctx, &rightsizerv1.GetSummaryRequest{})
			checked := false
			for i, err := range errs {
				require.Equal(t, tt.want[i], status.Code(err), "call %d: %v", i, err)
				if err == nil {
					continue
				}
				if tt.token != "" {
					require.NotContains(t, err.Error(), tt.token)
				}
				if !checked {
					require.Contains(t, status.Convert(err).Message(), tt.wantText)
					checked = true
				}
			}
			for i, path := range []string{"/v1/recommendations", "", "/v1/summary"} {
				if path == "" {
					continue // ingest has no REST mapping
				}
				code, body := ts.get(t, path, tt.token, nil)
				require.Equal(t, httpCodes[tt.want[i]], code, "%s: %s", path, body)
			}
		})
	}
}

// testKubeCache counts the reviews that reach the API server while the clock is driven by hand.
func testKubeCache(t *testing.T, f *kubeAuthFixture) {
	t.Parallel()
	var counts reviewCounter
	clk := clocktesting.NewFakeClock(time.Now())
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	ka := f.authenticator(t, nil, counts.wrap, func(o *KubeAuthOptions) {
		o.Clock, o.Registerer = clk, reg
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ts := startServer(t, func(o *Options) { o.Kube = ka })
	conn := ts.dial(t, nil)
	opts := DefaultKubeAuthOptions()
	const badToken = "s3cr-not-a-kubernetes-token"

	summary := func(t *testing.T, token string) codes.Code {
		t.Helper()
		_, err := rightsizerv1.NewSummaryServiceClient(conn).GetSummary(withToken(t.Context(), token), &rightsizerv1.GetSummaryRequest{})
		return status.Code(err)
	}
	// Steps run in order; the counts are totals since the start.
	steps := []struct {
		name                       string
		do                         func(t *testing.T)
		tokenReviews, accessReview int64
	}{
		{"first call reviews the token and each role", func(t *testing.T) {
			require.Equal(t, codes.OK, summary(t, f.tokens[kubeReader]))
		}, 1, 3},
		{"calls within the TTL, over gRPC and REST, are answered from the cache", func(t *testing.T) {
			for range 20 {
				require.Equal(t, codes.OK, summary(t, f.tokens[kubeReader]))
			}
			code, body := ts.get(t, "/v1/summary", f.tokens[kubeReader], nil)
			require.Equal(t, http.StatusOK, code, body)
		}, 1, 3},
		{"the first call after the TTL reviews again", func(t *testing.T) {
			clk.Step(opts.CacheTTL)
			require.Equal(t, codes.OK, summary(t, f.tokens[kubeReader]))
			require.Equal(t, codes.OK, summary(t, f.tokens[kubeReader]))
		}, 2, 6},
		{"a rejected token is remembered", func(t *testing.T) {
			require.Equal(t, codes.Unauthenticated, summary(t, badToken))
			require.Equal(t, codes.Unauthenticated, summary(t, badToken))
		}, 3, 6},
		{"for the negative TTL", func(t *testing.T) {
			clk.Step(opts.NegativeCacheTTL)
			require.Equal(t, codes.Unauthenticated, summary(t, badToken))
		}, 4, 6},
		{"a user with no role is remembered", func(t *testing.T) {
			require.Equal(t, codes.PermissionDenied, summary(t, f.tokens[kubeNobody]))
			require.Equal(t, codes.PermissionDenied, summary(t, f.tokens[kubeNobody]))
		}, 5, 9},
		{"for the negative TTL only, so that a new binding applies soon", func(t *testing.T) {
			clk.Step(opts.NegativeCacheTTL)
			require.Equal(t, codes.PermissionDenied, summary(t, f.tokens[kubeNobody]))
		}, 6, 12},
		{"concurrent calls with a new token share one review", func(t *testing.T) {
			var wg sync.WaitGroup
			got := make([]codes.Code, 8)
			for i := range got {
				wg.Go(func() { got[i] = summary(t, f.tokens[kubeIngester]) })
			}
			wg.Wait()
			for _, c := range got {
				require.Equal(t, codes.PermissionDenied, c)
			}
		}, 7, 15},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			require.Equal(t, s.tokenReviews, counts.tokenReviews.Load(), "TokenReviews")
			require.Equal(t, s.accessReview, counts.accessReviews.Load(), "SubjectAccessReviews")
		})
	}
	require.InDelta(t, float64(counts.tokenReviews.Load()), testutil.ToFloat64(ka.metrics.requests.WithLabelValues("token", "ok")), 0)
	require.InDelta(t, float64(counts.accessReviews.Load()), testutil.ToFloat64(ka.metrics.requests.WithLabelValues("access", "ok")), 0)
	require.Zero(t, testutil.ToFloat64(ka.metrics.requests.WithLabelValues("token", "error")))
	// 38 authenticated calls: 7 reviews, and up to 7 more misses by concurrent callers that
	// waited on a review in flight.
	hits, misses := testutil.ToFloat64(ka.metrics.hits), testutil.ToFloat64(ka.metrics.misses)
	require.InDelta(t, 38, hits+misses, 0)
	require.GreaterOrEqual(t, misses, 7.0)
	require.LessOrEqual(t, misses, 14.0)
	n, err := testutil.GatherAndCount(reg, "rightsizer_api_kube_auth_requests_total", "rightsizer_api_kube_auth_cache_lookups_total")
	require.NoError(t, err)
	require.Equal(t, 6, n)

	log := logs.String()
	require.Contains(t, log, `level=DEBUG msg="Kubernetes rejected a bearer token"`)
	for _, token := range []string{badToken, f.tokens[kubeReader], f.tokens[kubeNobody], f.tokens[kubeIngester]} {
		require.NotContains(t, log, token)
	}
}

// testKubeUnavailable checks that an API server that refuses or does not answer makes the
// call UNAVAILABLE, and that such failures are not cached.
func testKubeUnavailable(t *testing.T, f *kubeAuthFixture) {
	t.Parallel()
	// A user without system:auth-delegator: the API server forbids its reviews, as it would a
	// rightsizer deployed without that binding.
	unprivileged, err := f.cluster.AddUser("rightsizer-unprivileged-" + f.ns)
	require.NoError(t, err)
	// A server that takes each request and never answers it. Reading the body lets the server
	// notice the client hang up (it watches the connection only after the body); stop releases
	// any handler still waiting when the test ends.
	stop := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(stop) }) // runs first

	tests := []struct {
		name          string
		cfg           *rest.Config
		timeout       time.Duration
		want          string // in the caller's error
		wantLog       string // in the log
		accessReviews bool   // whether any SubjectAccessReview is made
	}{
		{
			name: "TokenReviews forbidden", cfg: unprivileged, timeout: DefaultKubeAuthOptions().Timeout,
			want:    "authentication unavailable: Kubernetes TokenReview failed",
			wantLog: `msg="Kubernetes TokenReview failed" err="tokenreviews.authentication.k8s.io is forbidden`,
		},
		{
			name: "SubjectAccessReviews forbidden", cfg: f.tokenReviewer, timeout: DefaultKubeAuthOptions().Timeout,
			want:          "authentication unavailable: Kubernetes SubjectAccessReview failed",
			wantLog:       `msg="Kubernetes SubjectAccessReview failed" user=` + f.users[kubeReader] + ` err="role `,
			accessReviews: true,
		},
		{
			name: "API server does not answer", cfg: &rest.Config{Host: silent.URL}, timeout: 200 * time.Millisecond,
			want:    "authentication unavailable: Kubernetes TokenReview timed out after 200ms",
			wantLog: `msg="Kubernetes TokenReview failed" err=`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				counts reviewCounter
				logs   syncBuffer
			)
			ka := f.authenticator(t, tt.cfg, counts.wrap, func(o *KubeAuthOptions) {
				o.Timeout, o.Logger = tt.timeout, slog.New(slog.NewTextHandler(&logs, nil))
			})
			ts := startServer(t, func(o *Options) { o.Kube = ka })
			conn := ts.dial(t, nil)
			for i := range 2 {
				// The call's own deadline is far beyond the review's: the review must give up first.
				ctx, cancel := context.WithTimeout(withToken(t.Context(), f.tokens[kubeReader]), time.Minute)
				_, err := rightsizerv1.NewSummaryServiceClient(conn).GetSummary(ctx, &rightsizerv1.GetSummaryRequest{})
				cancel()
				require.Equal(t, codes.Unavailable, status.Code(err), err)
				require.Contains(t, status.Convert(err).Message(), tt.want)
				require.EqualValues(t, i+1, counts.tokenReviews.Load(), "failures must not be cached")
			}
			code, body := ts.get(t, "/v1/summary", f.tokens[kubeReader], nil)
			require.Equal(t, http.StatusServiceUnavailable, code, body)
			// Three calls; the first SubjectAccessReview to fail cancels those of the
			// call's other roles that have not been sent yet.
			if n := counts.accessReviews.Load(); tt.accessReviews {
				require.True(t, n >= 3 && n <= 3*int64(len(kubeRoleAttributes)), "%d SubjectAccessReviews", n)
			} else {
				require.Zero(t, n)
			}
			log := logs.String()
			require.Contains(t, log, tt.wantLog)
			require.NotContains(t, log, f.tokens[kubeReader])
		})
	}
}

// TestKubeAuthWithoutReview checks the cases decided before any request to the API server.
func TestKubeAuthWithoutReview(t *testing.T) {
	t.Parallel()
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request to the API server: %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(never.Close)
	ka, err := NewKubeAuthenticator(kubeClient(t, &rest.Config{Host: never.URL}, nil), DefaultKubeAuthOptions())
	require.NoError(t, err)

	tests := []struct {
		name    string
		md      metadata.MD
		certCN  string
		wantErr string
	}{
		{name: "no credential", wantErr: "unauthenticated: no credential"},
		{name: "client certificates are for the tokens file", certCN: "node-agent", wantErr: "unauthenticated: unknown client certificate"},
		{name: "not a bearer token", md: metadata.Pairs("authorization", "Basic s3cr-0123456789"), wantErr: "unauthenticated: authorization is not a bearer token"},
		{name: "two tokens", md: metadata.Pairs("authorization", "Bearer s3cr-a", "authorization", "Bearer s3cr-b"), wantErr: "unauthenticated: more than one authorization value"},
		{name: "empty token", md: metadata.Pairs("authorization", "Bearer "), wantErr: "unauthenticated: empty bearer token"},
		{name: "oversized token", md: metadata.Pairs("authorization", "Bearer s3cr"+strings.Repeat("x", maxKubeTokenBytes)), wantErr: "unauthenticated: bearer token is longer than 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ka.AuthenticateCall(t.Context(), tt.md, tt.certCN)
			require.ErrorIs(t, err, ErrUnauthenticated)
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestKubeAuthOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*KubeAuthOptions)
		wantErr []string
	}{
		{name: "defaults", change: func(*KubeAuthOptions) {}},
		{name: "no audiences, no caching", change: func(o *KubeAuthOptions) { o.Audiences, o.CacheTTL, o.NegativeCacheTTL = nil, 0, 0 }},
		{name: "namespace", change: func(o *KubeAuthOptions) { o.Namespace = "rightsizer-system" }},
		{name: "every problem at once", change: func(o *KubeAuthOptions) {
			o.Audiences = []string{"rightsizer", ""}
			o.Namespace = "Not_A_Namespace"
			o.CacheTTL, o.NegativeCacheTTL = -time.Second, 0
			o.CacheSize, o.Timeout = 0, 0
		}, wantErr: []string{
			"audience 1 is empty",
			`namespace "Not_A_Namespace": a lowercase RFC 1123 label`,
			"cache TTLs -1s and 0s must not be negative",
			"cache size 0 must be positive",
			"timeout 0s must be positive",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := DefaultKubeAuthOptions()
			tt.change(&o)
			err := o.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tt.wantErr))
		})
	}
	_, err := NewKubeAuthenticator(nil, DefaultKubeAuthOptions())
	require.ErrorContains(t, err, "no Kubernetes client")
}
