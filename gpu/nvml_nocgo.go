//go:build !cgo

package gpu

import "fmt"

// newNVML is the no-cgo build's: go-nvml needs cgo, so a pure-Go binary
// (cmd/rightsizer) has no GPU collector. Only cmd/rightsizer-agent links
// NVML.
func newNVML(Options) (Collector, error) {
	return noGPU{}, fmt.Errorf("%w: built without cgo", ErrNoGPU)
}
