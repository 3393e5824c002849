package login

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStateRepeatedOrTooLongNotEchoed: a state sent twice, or longer than
// maxStateLen (512) bytes, is refused with invalid_request sent back to
// the redirect URI without a state, since there is no one exact value to
// echo (RFC 6749 §4.1.2) that the session would keep; a state of exactly
// 512 bytes is taken.
func TestStateRepeatedOrTooLongNotEchoed(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	repeated := goodQuery()
	repeated["state"] = []string{"s1", "s2"}
	long := goodQuery()
	long.Set("state", strings.Repeat("s", maxStateLen+1))
	for name, q := range map[string]map[string][]string{"repeated": repeated, "513 bytes": long} {
		_, err := p.Authorize(ctx, q)
		var ae *AuthorizeError
		if !errors.As(err, &ae) || ae.Err.Code != CodeInvalidRequest || ae.RedirectURI != testRedirect || ae.State != "" {
			t.Errorf("state %s: %v (%+v), want invalid_request sent back without the state", name, err, ae)
		}
	}
	q := goodQuery()
	q.Set("state", strings.Repeat("s", maxStateLen))
	if _, err := p.Authorize(ctx, q); err != nil {
		t.Errorf("state of %d bytes: %v", maxStateLen, err)
	}
}
