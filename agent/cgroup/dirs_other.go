//go:build !linux

package cgroup

import "os"

// Control groups are Linux's; elsewhere the package builds, for tools and
// the parsers' tests, listing directories the portable, allocating way.
type dirLister struct{}

func (l *dirLister) list(dir string, fn func(name []byte)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			fn([]byte(e.Name()))
		}
	}
	return nil
}
