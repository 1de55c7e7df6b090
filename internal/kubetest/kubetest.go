// Package kubetest starts a real kube-apiserver and etcd for integration
// tests, with the CustomResourceDefinitions of VPA, KEDA and Karpenter
// installed from those projects' own Go modules.
//
// The binaries come from `make envtest` (hack/envtest), which builds them
// from the Go module proxy into bin/envtest and points KUBEBUILDER_ASSETS
// there. Without the binaries a test skips, unless RIGHTSIZER_REQUIRE_KUBE
// is set, as `make test` and CI set it, in which case it fails: the
// integration tests must never pass by not running.
package kubetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	// Keeps Karpenter in go.mod, so that `go list -m` finds its CRDs at the
	// version the product links (nodeplan renders its NodePools).
	_ "sigs.k8s.io/karpenter/pkg/apis"
)

// crdSources names, per Go module, the CRD files that module ships, relative
// to the module's root.
var crdSources = []struct {
	module string
	files  []string
}{
	{"k8s.io/autoscaler/vertical-pod-autoscaler", []string{"deploy/vpa-v1-crd-gen.yaml"}},
	{"github.com/kedacore/keda/v2", []string{
		"config/crd/bases/keda.sh_scaledobjects.yaml",
		"config/crd/bases/keda.sh_scaledjobs.yaml",
		"config/crd/bases/keda.sh_triggerauthentications.yaml",
		"config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
	}},
	{"sigs.k8s.io/karpenter", []string{
		"pkg/apis/crds/karpenter.sh_nodepools.yaml",
		"pkg/apis/crds/karpenter.sh_nodeclaims.yaml",
	}},
}

// CRDPaths returns the CRD files of VPA, KEDA and Karpenter in the module
// cache, at the versions in go.mod, found through `go list -m -json`.
func CRDPaths() ([]string, error) {
	mods := make([]string, len(crdSources))
	for i, s := range crdSources {
		mods[i] = s.module
	}
	cmd := exec.Command("go", append([]string{"list", "-m", "-json"}, mods...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m -json: %w: %s", err, stderr.Bytes())
	}
	dirs := map[string]string{}
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("go list -m -json: %w", err)
		}
		dirs[m.Path] = m.Dir
	}
	var paths []string
	for _, s := range crdSources {
		dir := dirs[s.module]
		if dir == "" {
			return nil, fmt.Errorf("module %s is not downloaded: run go mod download", s.module)
		}
		for _, f := range s.files {
			paths = append(paths, filepath.Join(dir, f))
		}
	}
	return paths, nil
}

// Cluster is a running test API server.
type Cluster struct {
	env *envtest.Environment
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
}

// AddUser provisions a user authenticated by a client certificate, in the
// given groups, and returns a config that acts as that user: RBAC applies.
func (c *Cluster) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, c.Config)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

var errNoBinaries = errors.New("no kube-apiserver and etcd: run make envtest, or go test through make test")

// Start starts an API server and etcd with the anchors' CRDs installed. The
// caller stops it with Stop. Start returns errNoBinaries when the binaries
// are missing and the environment does not require them.
func Start() (*Cluster, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("RIGHTSIZER_REQUIRE_KUBE") != "" {
			return nil, errors.New("RIGHTSIZER_REQUIRE_KUBE is set but KUBEBUILDER_ASSETS is not: run make envtest")
		}
		return nil, errNoBinaries
	}
	paths, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start test API server: %w", err)
	}
	return &Cluster{env: env, Config: cfg}, nil
}

// KubeconfigFile writes a kubeconfig for the cluster admin into a
// temporary file of t's and returns its path, for commands that take
// --kubeconfig.
func (c *Cluster) KubeconfigFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, c.env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Stop stops the API server and etcd and removes their files.
func (c *Cluster) Stop() error { return c.env.Stop() }

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared returns one cluster per test binary, started on first use; Main
// stops it. Tests that share it use namespaces of their own. It skips the
// test when the binaries are missing and not required.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if errors.Is(sharedErr, errNoBinaries) {
		t.Skip(sharedErr)
	}
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// Wrap lets goleak.VerifyTestMain run the tests through Main, so that the
// shared cluster (and its clients' connections) is gone before goleak
// looks for goroutines left behind:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }
func Wrap(m *testing.M) interface{ Run() int } { return runner{m} }

type runner struct{ m *testing.M }

func (r runner) Run() int { return Main(r.m) }

// Main runs the package's tests and then stops the shared cluster, if one
// was started. Use it from TestMain: os.Exit(kubetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test API server:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
