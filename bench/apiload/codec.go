package apiload

import (
	"errors"
	"sync"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// frameCodec is gRPC's proto codec, except that it sends a *frame by
// copying its encoding into a pooled buffer and stamping its times, rather
// than marshalling a message, and reads a *pageScan by scanning rather than
// decoding. A frame's buffer goes back to the pool when the transport has
// written it, so its bytes are never changed while they are queued. Safe
// for concurrent use.
type frameCodec struct {
	proto encoding.CodecV2
	pool  mem.BufferPool
}

func newFrameCodec() frameCodec {
	return frameCodec{proto: encoding.GetCodecV2(protocodec.Name), pool: &reusePool{}}
}

// reusePool is a mem.BufferPool that, unlike gRPC's default, does not zero
// the buffers it hands out (the default clears a whole 1 MiB buffer for a
// 40 KB message): every user here overwrites the whole buffer. Safe for
// concurrent use.
type reusePool struct {
	p sync.Pool // of *[]byte
}

func (r *reusePool) Get(n int) *[]byte {
	if b, ok := r.p.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, n+n/4) // room for the next message's few more bytes
	return &b
}

func (r *reusePool) Put(b *[]byte) { r.p.Put(b) }

func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	fr, ok := v.(*frame)
	if !ok {
		return c.proto.Marshal(v)
	}
	buf := c.pool.Get(fr.size())
	fr.stamp(*buf)
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*pageScan)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return p.scan(buf.ReadOnlyData())
}

// Name is the proto codec's, so the server decodes frames as protobuf.
func (frameCodec) Name() string { return protocodec.Name }

var _ encoding.CodecV2 = frameCodec{}

// pageScan is a ListRecommendationsResponse read without decoding its
// recommendations: the wire format is checked and they are counted. It
// keeps the load generator's CPU, on a host it shares with the server, to
// a fraction of what decoding a page of 100 costs.
type pageScan struct {
	recommendations int
	totalSize       int32
	bytes           int
}

// Field numbers of ListRecommendationsResponse.
const (
	pageRecommendationsField = 1
	pageTotalSizeField       = 3
)

func (p *pageScan) scan(b []byte) error {
	*p = pageScan{bytes: len(b)}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == pageRecommendationsField && typ == protowire.BytesType:
			_, n = protowire.ConsumeBytes(b)
			p.recommendations++
		case num == pageTotalSizeField && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			p.totalSize = int32(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

var errEmptyPage = errors.New("empty page")
