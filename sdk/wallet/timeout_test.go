package wallet

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestSetTimeoutBounded: SetTimeout takes 1 to MaxTimeout seconds. Zero,
// a negative value or one whose duration overflows (past about 292
// years) is ErrInvalidArgument and keeps the timeout; before, each gave
// the wallet's HTTP client no timeout at all (http.Client: zero or less
// is none), so a server that never answered held the app's call for
// ever.
func TestSetTimeoutBounded(t *testing.T) {
	w, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetTimeout(MaxTimeout); err != nil || w.client.Timeout != time.Hour {
		t.Fatalf("SetTimeout(MaxTimeout) = %v, timeout %v", err, w.client.Timeout)
	}
	if err := w.SetTimeout(1); err != nil || w.client.Timeout != time.Second {
		t.Fatalf("SetTimeout(1) = %v, timeout %v", err, w.client.Timeout)
	}
	for _, s := range []int64{0, -1, MaxTimeout + 1, math.MaxInt64/int64(time.Second) + 1, math.MinInt64} {
		if err := w.SetTimeout(s); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetTimeout(%d) = %v, want ErrInvalidArgument", s, err)
		}
		if w.client.Timeout != time.Second {
			t.Errorf("after SetTimeout(%d) the timeout is %v, want the 1 s set before", s, w.client.Timeout)
		}
	}
}
