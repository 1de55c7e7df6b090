package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"
)

// KubeAuthGroup is the API group of the resource attributes that KubeAuthenticator asks
// SubjectAccessReviews about. Nothing serves this group: it exists only in RBAC rules.
const KubeAuthGroup = "rightsizer.io"

// kubeRoleAttributes maps each role to the resource attributes that grant it, in KubeAuthGroup.
// Admin asks for verb "*" on resource "*", which RBAC grants only through a rule with
// verbs ["*"] and resources ["*"] in the group (or cluster-admin), never by listing verbs.
var kubeRoleAttributes = [...]struct {
	role           Role
	verb, resource string
}{
	{RoleRead, "get", "recommendations"},
	{RoleIngest, "create", "usage"},
	{RoleAdmin, "*", "*"},
}

// maxKubeTokenBytes bounds a token sent for review: bound ServiceAccount tokens are about
// 1 KiB and OIDC tokens a few; anything larger is refused without costing the API server a call.
const maxKubeTokenBytes = 16 << 10

// KubeAuthOptions configure a KubeAuthenticator. Start from DefaultKubeAuthOptions.
type KubeAuthOptions struct {
	// Audiences the token must be valid for (TokenReview spec.audiences); at least one must
	// match. Default ["rightsizer"]: agents mount a projected ServiceAccount token with that
	// audience, so a token minted for rightsizer is useless against the API server, and a pod's
	// default API token is useless against rightsizer. Empty accepts tokens for the API server's
	// own audiences, which every pod mounts by default: not recommended.
	Audiences []string
	// Namespace is where SubjectAccessReviews ask: a RoleBinding in it, or any
	// ClusterRoleBinding, grants a role. Empty asks at cluster scope, where only
	// ClusterRoleBindings grant. Usually the namespace rightsizer runs in.
	Namespace string
	// CacheTTL is how long an accepted token's identity and roles are reused without asking
	// the API server again: a deleted ServiceAccount, an expired token or a removed binding
	// keeps its access for up to this long. Default 30 s; 0 disables caching.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long a rejected token, or an accepted one with no role, is
	// remembered, so that a misconfigured client retrying in a loop costs the API server one
	// review per NegativeCacheTTL; a binding created meanwhile applies after it. Default 5 s;
	// 0 disables it.
	NegativeCacheTTL time.Duration
	// CacheSize bounds the cached tokens (one entry is about 200 bytes plus the user name);
	// the least recently used is evicted first. Default 4096.
	CacheSize int
	// Timeout bounds one review: the TokenReview and the SubjectAccessReviews after it.
	// Default 5 s.
	Timeout time.Duration
	// Logger; nil discards. Tokens are never logged.
	Logger *slog.Logger
	// Registerer receives the authenticator's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Clock times cache entries; nil is the real clock.
	Clock clock.PassiveClock
}

// DefaultKubeAuthOptions returns the defaults described on KubeAuthOptions.
func DefaultKubeAuthOptions() KubeAuthOptions {
	return KubeAuthOptions{
		Audiences:        []string{"rightsizer"},
		CacheTTL:         30 * time.Second,
		NegativeCacheTTL: 5 * time.Second,
		CacheSize:        4096,
		Timeout:          5 * time.Second,
	}
}

// Validate reports every problem at once.
func (o *KubeAuthOptions) Validate() error {
	var errs []error
	for i, a := range o.Audiences {
		if a == "" {
			errs = append(errs, fmt.Errorf("audience %d is empty", i))
		}
	}
	if o.Namespace != "" {
		if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
		}
	}
	if o.CacheTTL < 0 || o.NegativeCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("cache TTLs %v and %v must not be negative", o.CacheTTL, o.NegativeCacheTTL))
	}
	if o.CacheSize <= 0 {
		errs = append(errs, fmt.Errorf("cache size %d must be positive", o.CacheSize))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %v must be positive", o.Timeout))
	}
	return errors.Join(errs...)
}

// KubeAuthenticator authenticates callers by the Kubernetes bearer tokens they present
// (typically ServiceAccount tokens) and gives them roles by Kubernetes RBAC:
//
//   - A TokenReview (authentication.k8s.io/v1) with Options.Audiences names the user.
//   - Three SubjectAccessReviews (authorization.k8s.io/v1), made at once, ask whether that
//     user, with its groups, may perform in Options.Namespace, in API group "rightsizer.io":
//     read: verb "get" on resource "recommendations"; ingest: verb "create" on resource
//     "usage"; admin: verb "*" on resource "*".
//
// An operator grants roles with plain RBAC, for example:
//
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: ClusterRole
//	metadata: {name: rightsizer-read}
//	rules:
//	  - apiGroups: [rightsizer.io]
//	    resources: [recommendations]
//	    verbs: [get, list, watch]
//	---
//	kind: ClusterRole
//	metadata: {name: rightsizer-ingest}
//	rules:
//	  - {apiGroups: [rightsizer.io], resources: [usage], verbs: [create]}
//	---
//	kind: ClusterRole
//	metadata: {name: rightsizer-admin}
//	rules:
//	  - {apiGroups: [rightsizer.io], resources: ["*"], verbs: ["*"]}
//
// bound to ServiceAccounts by a RoleBinding in Options.Namespace or by a ClusterRoleBinding.
// rightsizer's own ServiceAccount needs the built-in ClusterRole system:auth-delegator (create
// on tokenreviews and subjectaccessreviews).
//
// Results are cached by the SHA-256 digest of the token, never the token: accepted tokens for
// Options.CacheTTL, rejected ones and ones with no role for Options.NegativeCacheTTL, at most
// Options.CacheSize of them. Concurrent calls with the same uncached token share one review.
// So a new token costs one TokenReview and three SubjectAccessReviews per TTL; the
// clientset's own rate limit (rest.Config QPS and Burst) bounds the total, and a flood of
// distinct bad tokens waits on it rather than overloading the API server.
//
// A KubeAuthenticator is safe for concurrent use; it starts no goroutines of its own beyond
// the reviews in flight, each bounded by Options.Timeout.
type KubeAuthenticator struct {
	opts          KubeAuthOptions
	tokenReviews  authenticationv1client.TokenReviewInterface
	accessReviews authorizationv1client.SubjectAccessReviewInterface
	log           *slog.Logger
	clock         clock.PassiveClock
	metrics       *kubeAuthMetrics
	// cache maps a token's SHA-256 digest to a kubeAuthResult; it locks itself.
	cache *lru.Cache
	// inflight merges concurrent reviews of one token, keyed by its digest.
	inflight singleflight.Group
}

// kubeAuthResult is a cached review: an identity, or err wrapping ErrUnauthenticated.
type kubeAuthResult struct {
	id      Identity
	err     error
	expires time.Time
}

// kubeAuthMetrics count the API server requests and cache lookups of a KubeAuthenticator.
type kubeAuthMetrics struct {
	requests     *prometheus.CounterVec // review: token|access; result: ok|error
	lookups      *prometheus.CounterVec // result: hit|miss
	hits, misses prometheus.Counter     // lookups' two series, resolved once
}

func newKubeAuthMetrics(reg prometheus.Registerer) *kubeAuthMetrics {
	m := &kubeAuthMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rightsizer_api_kube_auth_requests_total",
			Help: "Requests to the Kubernetes API server to check callers, by review (token: TokenReview, access: SubjectAccessReview) and result (ok, error).",
		}, []string{"review", "result"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rightsizer_api_kube_auth_cache_lookups_total",
			Help: "Lookups of bearer tokens in the Kubernetes auth cache, by result (hit, miss).",
		}, []string{"result"}),
	}
	for _, review := range []string{"token", "access"} {
		for _, result := range []string{"ok", "error"} {
			m.requests.WithLabelValues(review, result)
		}
	}
	m.hits, m.misses = m.lookups.WithLabelValues("hit"), m.lookups.WithLabelValues("miss")
	if reg != nil {
		reg.MustRegister(m.requests, m.lookups)
	}
	return m
}

func (m *kubeAuthMetrics) request(review string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.requests.WithLabelValues(review, result).Inc()
}

// NewKubeAuthenticator validates o and returns an authenticator that reviews tokens through
// client, whose credentials need create on tokenreviews and subjectaccessreviews (the
// ClusterRole system:auth-delegator).
func NewKubeAuthenticator(client kubernetes.Interface, o KubeAuthOptions) (*KubeAuthenticator, error) {
	errs := []error{o.Validate()}
	if client == nil {
		errs = append(errs, errors.New("no Kubernetes client"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kube auth options: %w", err)
	}
	o.Audiences = slices.Clone(o.Audiences)
	k := &KubeAuthenticator{
		opts:          o,
		tokenReviews:  client.AuthenticationV1().TokenReviews(),
		accessReviews: client.AuthorizationV1().SubjectAccessReviews(),
		log:           o.Logger,
		clock:         o.Clock,
		metrics:       newKubeAuthMetrics(o.Registerer),
		cache:         lru.New(o.CacheSize),
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if k.clock == nil {
		k.clock = clock.RealClock{}
	}
	return k, nil
}

// AuthenticateCall authenticates the bearer token in md with AuthenticateToken. A call with no
// token fails: client certificates are checked only by an Authenticator (Options.Auth).
func (k *KubeAuthenticator) AuthenticateCall(ctx context.Context, md metadata.MD, certCN string) (Identity, error) {
	token, ok, err := bearerToken(md)
	switch {
	case err != nil:
		return Identity{}, err
	case ok:
		return k.AuthenticateToken(ctx, token)
	case certCN != "":
		return Identity{}, errUnknownClientCert
	}
	return Identity{}, errNoCredential
}

// AuthenticateToken returns the identity of the Kubernetes user that token authenticates,
// with the roles RBAC grants it (possibly none), from the cache or from a review.
//
// Errors wrap ErrUnauthenticated when Kubernetes rejects the token, or ErrAuthUnavailable when
// the API server could not answer (unreachable, too slow, or forbidding rightsizer's reviews);
// the latter are not cached, and their cause is logged at warning level rather than returned.
// If ctx ends first, the error is ctx's, and the review goes on for the other callers waiting
// on it. Errors and logs never contain the token.
func (k *KubeAuthenticator) AuthenticateToken(ctx context.Context, token string) (Identity, error) {
	if len(token) > maxKubeTokenBytes {
		return Identity{}, fmt.Errorf("%w: bearer token is longer than %d bytes", ErrUnauthenticated, maxKubeTokenBytes)
	}
	key := sha256.Sum256([]byte(token))
	if r, ok := k.cached(key); ok {
		k.metrics.hits.Inc()
		return r.id, r.err
	}
	k.metrics.misses.Inc()
	// The review outlives a caller that gives up, since others may wait on it; Timeout bounds it.
	rctx := context.WithoutCancel(ctx)
	ch := k.inflight.DoChan(string(key[:]), func() (any, error) {
		// A review of this token may have ended between the lookup above and DoChan.
		if r, ok := k.cached(key); ok {
			return r, nil
		}
		r, err := k.review(rctx, token)
		if err != nil {
			return nil, err
		}
		if ttl := k.ttl(r); ttl > 0 {
			r.expires = k.clock.Now().Add(ttl)
			k.cache.Add(key, r)
		}
		return r, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Identity{}, res.Err
		}
		r := res.Val.(kubeAuthResult)
		return r.id, r.err
	case <-ctx.Done():
		return Identity{}, fmt.Errorf("wait for Kubernetes token review: %w", ctx.Err())
	}
}

// cached returns the unexpired result for the token with SHA-256 digest key.
func (k *KubeAuthenticator) cached(key [sha256.Size]byte) (kubeAuthResult, bool) {
	v, ok := k.cache.Get(key)
	if !ok {
		return kubeAuthResult{}, false
	}
	r := v.(kubeAuthResult)
	return r, k.clock.Now().Before(r.expires)
}

// ttl is how long r may be reused.
func (k *KubeAuthenticator) ttl(r kubeAuthResult) time.Duration {
	if r.err != nil || r.id.Roles == 0 {
		return k.opts.NegativeCacheTTL
	}
	return k.opts.CacheTTL
}

// review asks the API server who token belongs to, then what RBAC lets that user do.
func (k *KubeAuthenticator) review(ctx context.Context, token string) (kubeAuthResult, error) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.Timeout)
	defer cancel()
	tr, err := k.tokenReviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: k.opts.Audiences},
	}, metav1.CreateOptions{})
	k.metrics.request("token", err)
	if err != nil {
		k.log.WarnContext(ctx, "Kubernetes TokenReview failed", "err", redact(err, token))
		return kubeAuthResult{}, k.unavailable("TokenReview", err)
	}
	st := tr.Status
	if !st.Authenticated {
		k.log.DebugContext(ctx, "Kubernetes rejected a bearer token", "reason", strings.ReplaceAll(st.Error, token, "[token]"))
		return kubeAuthResult{err: fmt.Errorf("%w: Kubernetes rejected the token", ErrUnauthenticated)}, nil
	}
	// The API server checks the audiences itself; check them again, as its own webhook token
	// authenticator does, in case an authenticator behind it ignored them.
	if len(k.opts.Audiences) > 0 && !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(k.opts.Audiences, a) }) {
		return kubeAuthResult{err: fmt.Errorf("%w: token is not for audience %s", ErrUnauthenticated, strings.Join(k.opts.Audiences, " or "))}, nil
	}
	if st.User.Username == "" {
		return kubeAuthResult{err: fmt.Errorf("%w: Kubernetes returned no user name", ErrUnauthenticated)}, nil
	}
	roles, err := k.roles(ctx, st.User)
	if err != nil {
		k.log.WarnContext(ctx, "Kubernetes SubjectAccessReview failed", "user", st.User.Username, "err", err)
		return kubeAuthResult{}, k.unavailable("SubjectAccessReview", err)
	}
	return kubeAuthResult{id: Identity{Name: st.User.Username, Roles: roles}}, nil
}

// roles asks one SubjectAccessReview per role, all at once; any failure fails the lot, since
// a partial answer could deny a role the user holds.
func (k *KubeAuthenticator) roles(ctx context.Context, u authenticationv1.UserInfo) (Roles, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for key, v := range u.Extra {
		extra[key] = authorizationv1.ExtraValue(v)
	}
	var allowed [len(kubeRoleAttributes)]bool
	g, gctx := errgroup.WithContext(ctx)
	for i, a := range kubeRoleAttributes {
		// Each goroutine writes only allowed[i]; u and extra are only read.
		g.Go(func() error {
			sar, err := k.accessReviews.Create(gctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: k.opts.Namespace, Verb: a.verb, Group: KubeAuthGroup, Resource: a.resource,
					},
					User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra,
				},
			}, metav1.CreateOptions{})
			k.metrics.request("access", err)
			if err != nil {
				return fmt.Errorf("role %s: %w", a.role, err)
			}
			allowed[i] = sar.Status.Allowed && !sar.Status.Denied
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	var roles Roles
	for i, a := range kubeRoleAttributes {
		if allowed[i] {
			roles |= RolesOf(a.role)
		}
	}
	return roles, nil
}

// unavailable is the error a caller gets when a review request failed. It says which review
// and whether it timed out, but not the API server's error (logged instead), which would tell
// a caller that is not yet authenticated the API server's address and rightsizer's user name.
func (k *KubeAuthenticator) unavailable(review string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: Kubernetes %s timed out after %v", ErrAuthUnavailable, review, k.opts.Timeout)
	}
	return fmt.Errorf("%w: Kubernetes %s failed", ErrAuthUnavailable, review)
}

// redact removes token from err's text, in case a server or transport ever echoes it.
func redact(err error, token string) error {
	if !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "[token]"))
}
