package replay

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvData names the environment variable that Locate reads: a folder that
// holds the datasets (bitbrains-rnd/, alibaba-genai-2026/, …).
const EnvData = "RIGHTSIZER_DATA"

// Locate resolves a dataset name such as "bitbrains-rnd/2013-7" to a
// folder. It returns the first of these that is a directory:
//  1. name itself (relative to the working directory if not absolute);
//  2. $RIGHTSIZER_DATA/name, when the variable is set;
//  3. for each ancestor A of the working directory, from the working
//     directory up to the root: A/shared/data/name, then
//     A/../shared/data/name.
//
// The error wraps fs.ErrNotExist and lists every path tried.
func Locate(name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		wd = "" // still try name and $RIGHTSIZER_DATA
	}
	return locate(name, os.Getenv(EnvData), wd)
}

// locate is Locate with its environment passed in.
func locate(name, env, wd string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("locate dataset: %w: empty name", fs.ErrNotExist)
	}
	var tried []string
	seen := map[string]bool{}
	found := func(p string) bool {
		p = filepath.Clean(p)
		if seen[p] {
			return false
		}
		seen[p] = true
		tried = append(tried, p)
		fi, err := os.Stat(p)
		return err == nil && fi.IsDir()
	}
	if found(name) {
		return name, nil
	}
	if env != "" {
		if p := filepath.Join(env, name); found(p) {
			return p, nil
		}
	}
	if wd != "" {
		for a := filepath.Clean(wd); ; {
			for _, p := range [...]string{
				filepath.Join(a, "shared", "data", name),
				filepath.Join(a, "..", "shared", "data", name),
			} {
				if found(p) {
					return p, nil
				}
			}
			parent := filepath.Dir(a)
			if parent == a {
				break
			}
			a = parent
		}
	}
	return "", fmt.Errorf("locate dataset %q: %w; set %s or run below a folder with shared/data; tried %s",
		name, fs.ErrNotExist, EnvData, strings.Join(tried, ", "))
}
