// Package qrtest holds helpers for tests of QR codes that need to reach
// below the wire format: they forge what a hostile holder or verifier
// could send. Tests only; nothing in the node imports it.
package qrtest

import (
	"errors"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/qrcode"
)

// ReorderOuter re-encodes an offline code's outer CBOR map with its keys
// in reverse order: the same content, another text (the device signature
// does not cover the outer map), which every decoder must refuse as
// non-canonical.
func ReorderOuter(code string) (string, error) {
	i := strings.IndexByte(code, ':')
	if i < 0 {
		return "", errors.New("qrtest: no kind prefix")
	}
	raw, err := qrcode.DecodeBase45(code[i+1:])
	if err != nil {
		return "", err
	}
	var m map[int]cbor.RawMessage
	if err := cbor.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	b := []byte{raw[0]}
	for k := 9; k > 0; k-- {
		if v, ok := m[k]; ok {
			b = append(append(b, byte(k)), v...)
		}
	}
	return code[:i+1] + qrcode.EncodeBase45(b), nil
}
