package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A stored value (in the records bucket and in the meta bucket) is
//
//	crc32c (4 bytes, little endian) | payload
//
// where the CRC-32C covers uvarint(len(key)) | key | payload. The key length
// is part of the sum so that damage which moves the boundary between key and
// value inside a bbolt leaf element is caught too.
const crcSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShortRecord = errors.New("stored value shorter than its checksum")
	errNestedValue = errors.New("nested bucket where a value belongs")
)

// recordCRC returns the CRC-32C of uvarint(len(key)) | key | payload.
func recordCRC(key, payload []byte) uint32 {
	var n [binary.MaxVarintLen64]byte
	c := crc32.Update(0, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(key)))])
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, payload)
}

// encodeRecord writes the stored form of key and payload into dst, which
// must be exactly crcSize+len(payload) bytes long.
func encodeRecord(dst, key, payload []byte) {
	copy(dst[crcSize:], payload)
	binary.LittleEndian.PutUint32(dst, recordCRC(key, payload))
}

// decodeRecord checks a stored value and returns its payload, which aliases
// stored.
func decodeRecord(key, stored []byte) ([]byte, error) {
	if stored == nil {
		return nil, errNestedValue
	}
	if len(stored) < crcSize {
		return nil, errShortRecord
	}
	payload := stored[crcSize:]
	want := binary.LittleEndian.Uint32(stored)
	if got := recordCRC(key, payload); got != want {
		return nil, fmt.Errorf("checksum mismatch: stored %08x, computed %08x", want, got)
	}
	return payload, nil
}
