package podfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzRead feeds Read arbitrary input: it must return a pod list whose
// every pod validates, with unique names and matching Current and
// Recommended, or an error; never panic, and the same answer twice.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"compact.yaml", "kubectl-pods.yaml", "kubectl-pods.json", "deployment.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"pods: []\n",
		"pods:\n- {name: a, replicas: 3, requests: {cpu: 1e400, memory: .nan}}\n",
		"pods:\n- {name: a, gpu: {count: 1, milli: 500}}\n",
		"pods:\n- {name: a, requests: {nvidia.com/gpu: 0.5}, nodeSelector: {k: v}, tolerations: [{operator: Exists}]}\n",
		"{\"pods\": [{\"name\": \"a\",}]}",
		"[1, 2]",
		"--- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Pod, metadata: {name: p}}]}\n...\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2, template: {spec: {initContainers: [{name: s, restartPolicy: Always, resources: {limits: {cpu: 1}}}], containers: [{name: c}]}}}\n",
		"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {parallelism: 2, template: {spec: {containers: [{name: c}]}}}\nstatus: {conditions: [{type: Failed, status: 'True'}]}\n",
		"a: &x [*x, *x]\nb: [*x, *x]\n",
	} {
		f.Add([]byte(s))
	}
	lim := limits{inputBytes: 1 << 16, pods: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := read(bytes.NewReader(data), lim)
		again, err2 := read(bytes.NewReader(data), lim)
		if err != nil {
			require.Nil(t, got)
			require.NotEmpty(t, err.Error())
			require.EqualError(t, err2, err.Error())
			return
		}
		require.NoError(t, err2)
		require.Equal(t, got, again)
		checkFile(t, got, lim.pods)
	})
}
