// Package tools pins the developer tools that the Makefile builds with
// `go build` from this module (its go.mod `tool` directives), so that
// their dependencies stay out of the product's go.mod.
package tools
