package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKeyDerivation(t *testing.T) {
	k, err := NewKeyer("trustid:310000:", nil)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c ...
	const want = "trustid:310000:tok:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qc"
	if got := k.Key(NamespaceToken, "abc"); got != want {
		t.Fatalf("key = %q, want %q", got, want)
	}

	sk, err := NewKeyer("p:", []byte("node secret"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte("node secret"))
	mac.Write([]byte("abc"))
	wantMAC := "p:kv:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))[:32]
	if got := sk.Key(NamespaceKV, "abc"); got != wantMAC {
		t.Fatalf("keyed key = %q, want %q", got, wantMAC)
	}
	if strings.Contains(sk.Key(NamespaceKV, "abc"), "abc") {
		t.Fatal("stored key contains the caller key")
	}
}

// TestKeyConcurrent derives keyed keys from many goroutines at once (the
// HMAC states are pooled): each is the HMAC of its own key.
func TestKeyConcurrent(t *testing.T) {
	secret := []byte("node secret")
	k, err := NewKeyer("p:", secret)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := strconv.Itoa(g) + "/" + strconv.Itoa(i)
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(key))
				want := "p:tok:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))[:32]
				if got := k.Key(NamespaceToken, key); got != want {
					t.Errorf("key %q = %q, want %q", key, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkKeyHMAC(b *testing.B) {
	k, err := NewKeyer("trustid:310000:", []byte("node secret"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k.Key(NamespaceKV, "login-session:0123456789abcdef0123456789abcdef0123456789a")
	}
}

func TestNewGCRA(t *testing.T) {
	for _, c := range []struct {
		limit          int
		window         time.Duration
		interval, span int64
	}{
		{50, 80 * time.Millisecond, 1600, 80000},
		{3, time.Second, 333334, 1000002},
		{1000, time.Millisecond, 1, 1000},
		{999, time.Millisecond, 2, 1998},
	} {
		g, err := NewGCRA(c.limit, c.window)
		if err != nil {
			t.Fatal(err)
		}
		if g.Interval != c.interval || g.Span != c.span {
			t.Errorf("NewGCRA(%d, %v) = %+v, want interval %d span %d", c.limit, c.window, g, c.interval, c.span)
		}
		// Exactly limit requests fit in a burst.
		now, tat, n := int64(1_700_000_000_000_000), int64(0), 0
		for {
			d, next := g.Decide(now, tat)
			if !d.Allowed {
				break
			}
			tat = next
			n++
		}
		if n != c.limit {
			t.Errorf("limit %d window %v: burst of %d", c.limit, c.window, n)
		}
	}
}
