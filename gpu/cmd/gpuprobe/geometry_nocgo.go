//go:build !cgo

package main

import (
	"errors"
	"io"
)

func printGeometry(io.Writer, string) error { return errors.New("built without cgo") }
