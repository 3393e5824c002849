package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// primitives are the costs of the bare cryptographic operations, in
// microseconds on one goroutine, measured in the same run as the load.
type primitives struct {
	SM2SignMicros   float64 `json:"sm2_sign_us"`
	SM2VerifyMicros float64 `json:"sm2_verify_us"`
	// SM3BlockMicros is SM3 per 64-byte block, from hashing 16 KiB.
	SM3BlockMicros float64 `json:"sm3_block_us"`
	// ES256VerifyMicros is one ECDSA P-256 verification (SHA-256 of a
	// token-sized message included): the wallet's proofs and
	// presentations of OID4VCI and OID4VP.
	ES256VerifyMicros float64 `json:"es256_verify_us"`
}

// floorOps is the cryptography a route cannot do without, counted in
// primitives; anything else the node spends per request is overhead.
type floorOps struct {
	Signs, Verifies, SM3Blocks int
	// ES256Verifies are ECDSA P-256 verifications.
	ES256Verifies int
	// Note says what the operations are.
	Note string
}

// micros is the floor's cost with the measured primitives.
func (f floorOps) micros(p primitives) float64 {
	return float64(f.Signs)*p.SM2SignMicros + float64(f.Verifies)*p.SM2VerifyMicros + float64(f.SM3Blocks)*p.SM3BlockMicros +
		float64(f.ES256Verifies)*p.ES256VerifyMicros
}

// String names the operations, e.g. "1 SM2 verify + 1 SM2 sign".
func (f floorOps) String() string {
	var parts []string
	if f.Verifies > 0 {
		parts = append(parts, fmt.Sprintf("%d SM2 verify", f.Verifies))
	}
	if f.Signs > 0 {
		parts = append(parts, fmt.Sprintf("%d SM2 sign", f.Signs))
	}
	if f.SM3Blocks > 0 {
		parts = append(parts, fmt.Sprintf("%d SM3 blocks", f.SM3Blocks))
	}
	if f.ES256Verifies > 0 {
		parts = append(parts, fmt.Sprintf("%d ES256 verify", f.ES256Verifies))
	}
	return strings.Join(parts, " + ")
}

// floorMessage is the length of the message the SM2 figures sign and
// verify.
const floorMessage = 400

// sm2Blocks is how many SM3 blocks an SM2 signature's digest of an n-byte
// message hashes: Z (32 bytes) and the message, padded.
func sm2Blocks(n int) int { return (32 + n + 9 + 63) / 64 }

// floorTimer times the primitives: keys, signatures and messages made
// once, so a route's floor can be timed again beside its window.
type floorTimer struct {
	key  *gm.PrivateKey
	pub  *gm.PublicKey
	msg  []byte
	sig  []byte
	list []byte
	ek   *ecdsa.PrivateKey
	esig []byte
}

// newFloorTimer makes the SM2 and ES256 keys and signatures the figures
// use: SM2 over a token-sized message (floorMessage), SM3 over 16 KiB.
func newFloorTimer() (*floorTimer, error) {
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	msg := bytes.Repeat([]byte("a"), floorMessage)
	sig, err := k.SignRaw(rand.Reader, msg)
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey()
	if err := pub.Verify(msg, sig); err != nil {
		return nil, fmt.Errorf("SM2: own signature: %w", err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(msg)
	esig, err := ecdsa.SignASN1(rand.Reader, ek, digest[:])
	if err != nil {
		return nil, err
	}
	return &floorTimer{key: k, pub: pub, msg: msg, sig: sig, list: make([]byte, 16<<10), ek: ek, esig: esig}, nil
}

// all times every primitive.
func (t *floorTimer) all() primitives {
	return t.measure(floorOps{Signs: 1, Verifies: 1, SM3Blocks: 1, ES256Verifies: 1})
}

// measure times the primitives f counts on one thread, each the best of
// five rounds (see bestOf); the others are left 0.
func (t *floorTimer) measure(f floorOps) primitives { return t.measureOn(f, 1) }

// measureOn times the primitives f counts on threads OS threads at once
// (see bestOf): with every CPU busy, as the node's are under load, an
// operation may cost more than on one thread of an idle machine.
func (t *floorTimer) measureOn(f floorOps, threads int) primitives {
	var p primitives
	if f.ES256Verifies > 0 {
		p.ES256VerifyMicros = bestOf(threads, func() {
			d := sha256.Sum256(t.msg)
			ecdsa.VerifyASN1(&t.ek.PublicKey, d[:], t.esig)
		})
	}
	if f.Signs > 0 {
		p.SM2SignMicros = bestOf(threads, func() { t.key.SignRaw(rand.Reader, t.msg) })
	}
	if f.Verifies > 0 {
		p.SM2VerifyMicros = bestOf(threads, func() { t.pub.Verify(t.msg, t.sig) })
	}
	if f.SM3Blocks > 0 {
		p.SM3BlockMicros = bestOf(threads, func() { gm.SM3(t.list) }) / float64(len(t.list)/64)
	}
	return p
}

// bestOf returns the lowest mean cost of f, in microseconds, over five
// rounds of 100 ms in which threads goroutines, each on its own OS
// thread, call f at once. The cost is the threads' CPU time where the
// system reports it (Linux), like the node's figure it is compared with,
// so time a thread spent waiting for a CPU on a shared machine does not
// count; elsewhere it is wall time.
func bestOf(threads int, f func()) float64 {
	type tally struct {
		n    int
		cost time.Duration
	}
	best := 0.0
	for range 5 {
		start := make(chan struct{})
		tallies := make(chan tally, threads)
		for range threads {
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-start
				n, begin := 0, time.Now()
				cpu0, ok := threadCPU()
				for time.Since(begin) < 100*time.Millisecond {
					f()
					n++
				}
				cost := time.Since(begin)
				if cpu1, ok1 := threadCPU(); ok && ok1 {
					cost = cpu1 - cpu0
				}
				tallies <- tally{n, cost}
			}()
		}
		close(start)
		var sum tally
		for range threads {
			t := <-tallies
			sum.n += t.n
			sum.cost += t.cost
		}
		if us := float64(sum.cost.Nanoseconds()) / 1e3 / float64(sum.n); best == 0 || us < best {
			best = us
		}
	}
	return best
}
