package karpenter

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Marshal writes the pools as one YAML document each, in the order given
// (NodePools returns them sorted by name), separated by "---" lines, with
// each object's keys sorted: the same pools always give the same bytes,
// ready for kubectl apply -f. No pools give no bytes.
func Marshal(pools []NodePool) ([]byte, error) {
	var b bytes.Buffer
	for i, p := range pools {
		y, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal node pool %q: %w", p.Metadata.Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
