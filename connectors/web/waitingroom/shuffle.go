package waitingroom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
)

// shuffle is a keyed pseudo-random permutation of 1..size: the random rank of
// every pre-release ticket, derived from HMAC-SHA256 so that every replica
// computes the same rank for the same ticket and no per-visitor state exists.
// It is a balanced Feistel network over the smallest even-bit domain that
// holds size, with cycle walking back into 1..size; a Feistel network is a
// bijection, so no two tickets share a rank and none is skipped.
type shuffle struct {
	key  []byte
	size int64
	half uint   // bits per Feistel half
	mask uint64 // (1<<half)-1
}

const feistelRounds = 6

// newShuffle keys the permutation by the secret, the room and the release
// round, so each round shuffles differently and nobody can predict it.
func newShuffle(secret []byte, room string, releaseAt time.Time, preBase, size int64) shuffle {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("release-shuffle\x00" + room + "\x00" +
		strconv.FormatInt(releaseAt.UnixMicro(), 10) + "\x00" + strconv.FormatInt(preBase, 10)))
	half := uint(1)
	if size > 1 {
		need := uint(bits.Len64(uint64(size - 1)))
		half = (need + 1) / 2
		if half == 0 {
			half = 1
		}
	}
	return shuffle{key: m.Sum(nil), size: size, half: half, mask: 1<<half - 1}
}

// rank maps n in 1..size to its shuffled rank in 1..size.
func (s shuffle) rank(n int64) int64 {
	if s.size <= 1 || n < 1 || n > s.size {
		return n
	}
	x := uint64(n - 1)
	m := hmac.New(sha256.New, s.key)
	var buf [9]byte
	var sum [sha256.Size]byte
	for {
		l, r := x>>s.half, x&s.mask
		for i := range feistelRounds {
			buf[0] = byte(i)
			binary.BigEndian.PutUint64(buf[1:], r)
			m.Reset()
			m.Write(buf[:])
			f := binary.BigEndian.Uint64(m.Sum(sum[:0])[:8]) & s.mask
			l, r = r, l^f
		}
		x = l<<s.half | r
		if x < uint64(s.size) { // cycle walking: at most a few steps, domain < 4·size
			return int64(x) + 1
		}
	}
}
