// Package namespaces checks the namespace scope that discovery and every
// usage source take: an include list (empty: every namespace) and an
// exclude list. It is light on purpose, so that the sources and the node
// agent need not import package kube.
package namespaces

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Validate reports every name that is not a namespace name and every
// namespace both included and excluded.
func Validate(include, exclude []string) []error {
	var errs []error
	for _, ns := range slices.Concat(include, exclude) {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: %s", ns, msgs[0]))
		}
	}
	for _, ns := range include {
		if slices.Contains(exclude, ns) {
			errs = append(errs, fmt.Errorf("namespace %q is both included and excluded", ns))
		}
	}
	return errs
}
