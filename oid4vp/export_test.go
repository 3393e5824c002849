package oid4vp

import "github.com/trustid-cn/trustid/gm"

// SealRecord and OpenRecord are the store's form of a transaction's
// record (purpose "tx") or result ("result") under its ID, for the tests.
func (v *Verifier) SealRecord(purpose, id string, plain []byte) ([]byte, error) {
	return gm.Seal(v.cfg.Rand, sealKey(purpose, id), plain, []byte(purpose))
}

func OpenRecord(purpose, id string, sealed []byte) ([]byte, error) {
	return gm.Open(sealKey(purpose, id), sealed, []byte(purpose))
}
