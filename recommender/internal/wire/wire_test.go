package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

var errBad = errors.New("bad input")

func TestReader(t *testing.T) {
	t.Parallel()
	var b []byte
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(2.5))
	b = append(b, 7, 'x', 'y')
	r := NewReader(b, errBad)
	require.Equal(t, uint64(300), r.Uvarint("a"))
	require.Equal(t, int64(-5), r.Varint("b"))
	require.Equal(t, 2.5, r.Float64("c"))
	require.Equal(t, byte(7), r.Byte("d"))
	require.Equal(t, []byte("xy"), r.Bytes(2, "e"))
	require.NoError(t, r.Err())
	require.Empty(t, r.Rest())

	// Every read past the end fails with the caller's sentinel, and the
	// first failure is the one reported.
	for _, read := range []func(*Reader){
		func(r *Reader) { r.Uvarint("u") }, func(r *Reader) { r.Varint("v") }, func(r *Reader) { r.Float64("f") },
		func(r *Reader) { r.Byte("b") }, func(r *Reader) { r.Bytes(3, "s") },
	} {
		r := NewReader(nil, errBad)
		read(r)
		r.Byte("later")
		require.ErrorIs(t, r.Err(), errBad)
		require.NotContains(t, r.Err().Error(), "later")
	}
}
