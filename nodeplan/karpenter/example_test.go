package karpenter_test

import (
	"fmt"
	"log"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/karpenter"
)

// Three on-demand m7i.xlarge nodes give one general pool whose limits hold
// them and one more (20 % headroom, but at least one node).
func ExampleNodePools() {
	m7i := cluster.NodeType{
		Name:         "m7i.xlarge",
		CapacityType: "on-demand",
		Labels: map[string]string{
			"node.kubernetes.io/instance-type":      "m7i.xlarge",
			"karpenter.sh/capacity-type":            "on-demand",
			"kubernetes.io/arch":                    "amd64",
			"karpenter.k8s.aws/instance-category":   "m",
			"karpenter.k8s.aws/instance-family":     "m7i",
			"karpenter.k8s.aws/instance-generation": "7",
			"karpenter.k8s.aws/instance-size":       "xlarge",
			"karpenter.k8s.aws/instance-cpu":        "4",
			"karpenter.k8s.aws/instance-memory":     "16384",
		},
	}
	pools, err := karpenter.NodePools([]karpenter.Use{{Type: m7i, Count: 3}}, karpenter.Options{})
	if err != nil {
		log.Fatal(err)
	}
	y, err := karpenter.Marshal(pools)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(y))
	// Output:
	// apiVersion: karpenter.sh/v1
	// kind: NodePool
	// metadata:
	//   annotations:
	//     rightsizer.io/planned-nodes: m7i.xlarge=3
	//   labels:
	//     app.kubernetes.io/managed-by: rightsizer
	//   name: general
	// spec:
	//   disruption:
	//     budgets:
	//     - nodes: 10%
	//     consolidateAfter: 1m
	//     consolidationPolicy: WhenEmptyOrUnderutilized
	//   limits:
	//     cpu: "16"
	//     memory: 64Gi
	//   template:
	//     spec:
	//       expireAfter: 720h
	//       nodeClassRef:
	//         group: karpenter.k8s.aws
	//         kind: EC2NodeClass
	//         name: default
	//       requirements:
	//       - key: karpenter.sh/capacity-type
	//         operator: In
	//         values:
	//         - on-demand
	//       - key: kubernetes.io/arch
	//         operator: In
	//         values:
	//         - amd64
	//       - key: karpenter.k8s.aws/instance-category
	//         operator: In
	//         values:
	//         - m
	//       - key: karpenter.k8s.aws/instance-family
	//         operator: In
	//         values:
	//         - m7i
	//       - key: karpenter.k8s.aws/instance-generation
	//         operator: Gt
	//         values:
	//         - "6"
	//       - key: karpenter.k8s.aws/instance-size
	//         operator: In
	//         values:
	//         - xlarge
	//   weight: 10
}
