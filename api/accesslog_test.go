package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzAccessLine holds the access line TextHandler writes by hand to the
// line slog's TextHandler writes for the same record, for any values
// instrument gives (a request ID that is a token, metricMethod's method)
// and any others: strings needing quotes, empty, with control characters,
// invalid UTF-8, U+FFFD or Unicode spaces, any time of years 0 to 9999 (a
// clock's: slog garbles other years, TestAccessLineOddYears), any zone
// below 100 hours, status and duration.
func FuzzAccessLine(f *testing.F) {
	f.Add("0123456789abcdef", "GET", "GET /healthz", "192.0.2.1:1234", 200, int64(1234), int64(1764900000), int64(123456789), 8*3600, "310000")
	f.Add("", "", "", "", 0, int64(0), int64(0), int64(0), 0, "310000")
	f.Add("a=b", "other", `POST /x "y"`, "[::1]:80", -1, int64(-5), int64(-1), int64(-1), -3600, "a b")
	f.Add("\x00\x1f\x7f", "\\", "\xff\xfe", "\ufffd", 999, int64(1<<62), int64(253402300800), int64(999_999_999), 45*60+7, "")
	f.Add("é日本", "\u00a0", "\u200b", "a\tb\nc", 404, int64(999_999), int64(-62167219201), int64(1_000_000), -12*3600, "=\"\n")
	f.Fuzz(func(t *testing.T, id, method, route, remote string, status int, elapsed, unixSec, nano int64, zone int, with string) {
		const y0, y10000 = -62167219200, 253402300800 // 0000-01-01 and 10000-01-01 UTC
		const margin = 5 * 86400                      // a zone moves the date up to 100 hours
		unixSec = y0 + margin + (unixSec%(y10000-y0-2*margin)+(y10000-y0-2*margin))%(y10000-y0-2*margin)
		tm := time.Unix(unixSec, nano%1e9).In(time.FixedZone("z", zone%(100*3600)))
		if id == "" || len(id) > 64 || !isToken(id) {
			id = hex.EncodeToString([]byte(id[:min(len(id), 32)])) + "x"
		}
		a := &accessRecord{time: tm, id: id, method: metricMethod(method),
			route: newAccessRoute(route), status: status, elapsed: time.Duration(elapsed), remote: remote}
		var want, got bytes.Buffer
		logAccess(context.Background(), slog.NewTextHandler(&want, nil), a)
		logAccess(context.Background(), NewTextHandler(&got, nil), a)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("access line\n%q, slog's\n%q", got.Bytes(), want.Bytes())
		}
		// With attributes, as the node's access logger has its region.
		as := []slog.Attr{slog.String("region", with), slog.Int("n", status), slog.String(with, id)}
		want.Reset()
		got.Reset()
		logAccess(context.Background(), slog.NewTextHandler(&want, nil).WithAttrs(as[:1]).WithAttrs(as[1:]), a)
		h := NewTextHandler(&got, nil).WithAttrs(as[:1]).WithAttrs(as[1:])
		if _, ok := h.(*TextHandler); !ok {
			t.Fatalf("WithAttrs returned a %T", h)
		}
		logAccess(context.Background(), h, a)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("access line with attributes\n%q, slog's\n%q", got.Bytes(), want.Bytes())
		}
		// With a forwarded client address.
		var ip [16]byte
		copy(ip[:], id)
		if a.client = netip.AddrFrom16(ip).Unmap(); status%2 == 0 {
			a.client = netip.AddrFrom4([4]byte(ip[:4]))
		}
		want.Reset()
		got.Reset()
		logAccess(context.Background(), slog.NewTextHandler(&want, nil), a)
		logAccess(context.Background(), NewTextHandler(&got, nil), a)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("access line with a client\n%q, slog's\n%q", got.Bytes(), want.Bytes())
		}
	})
}

// TestAccessLogBehindBalancer: behind a trusted proxy the access line
// names, beside the TCP peer, the client address rate limits count (an
// IPv6 client by its /64, as counted); a request straight from a client,
// or from a proxy whose header names no one else, has no client field.
func TestAccessLogBehindBalancer(t *testing.T) {
	for _, c := range []struct{ peer, xff, want string }{
		{"10.0.0.5:40000", "203.0.113.7", " remote=10.0.0.5:40000 client=203.0.113.7\n"},
		{"10.0.0.5:40000", "2001:db8:1:2:3::4", " remote=10.0.0.5:40000 client=2001:db8:1:2::/64\n"},
		{"10.0.0.5:40000", "", " remote=10.0.0.5:40000\n"},
		{"10.0.0.5:40000", "10.0.0.5", " remote=10.0.0.5:40000\n"},
		{"198.51.100.1:40000", "203.0.113.7", " remote=198.51.100.1:40000\n"}, // not a trusted proxy
	} {
		var out bytes.Buffer
		s := New(Config{AccessLog: slog.New(NewTextHandler(&out, nil)), TrustedProxies: mustProxies(t, "10.0.0.5/32")})
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		s.Handler().ServeHTTP(httptest.NewRecorder(), r)
		if line := out.String(); !strings.HasSuffix(line, c.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: access line\n%s want it to end %q", c.peer, c.xff, line, c.want)
		}
	}
}

// TestAccessLineOddYears: a time no clock gives still makes a line, its
// time in RFC 3339's form.
func TestAccessLineOddYears(t *testing.T) {
	for tm, want := range map[time.Time]string{
		time.Date(10000, 1, 2, 3, 4, 5, 6_789_000, time.UTC):                                                         "10000-01-02T03:04:05.006Z",
		time.Date(-1, 1, 2, 3, 4, 5, 0, time.UTC):                                                                    "-0001-01-02T03:04:05.000Z",
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("far", 101*3600)).UTC().In(time.FixedZone("far", 101*3600)): "2026-01-02T03:04:05.000+101:00",
	} {
		if got := string(appendRFC3339Millis(nil, tm)); got != want {
			t.Errorf("%v: %q, want %q", tm, got, want)
		}
	}
}

// TestAccessLineLocalTime: in the local zone and in UTC too.
func TestAccessLineLocalTime(t *testing.T) {
	for _, tm := range []time.Time{time.Now(), time.Now().UTC(), time.Date(2026, 12, 5, 4, 0, 0, 999_999_999, time.Local)} {
		accessLineAt(t, tm)
	}
}

// accessLineAt checks that a healthz request's access line at tm is
// slog's.
func accessLineAt(t *testing.T, tm time.Time) {
	t.Helper()
	a := &accessRecord{time: tm, id: "id", method: "GET", route: newAccessRoute("GET /healthz"), status: 200, remote: "192.0.2.1:1"}
	var want, got bytes.Buffer
	logAccess(context.Background(), slog.NewTextHandler(&want, nil), a)
	logAccess(context.Background(), NewTextHandler(&got, nil), a)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("access line\n%q, slog's\n%q", got.Bytes(), want.Bytes())
	}
}

// TestAccessLineThroughServer: a request's access line is slog's for the
// same request but for its time and duration, and follows the handler's
// options: none at warn level, ReplaceAttr and With applied.
func TestAccessLineThroughServer(t *testing.T) {
	clock := regexp.MustCompile(`time=\S+ |duration=\S+ `)
	serve := func(h slog.Handler, out *bytes.Buffer) string {
		t.Helper()
		s := New(Config{AccessLog: slog.New(h)})
		r := httptest.NewRequest("GET", "/healthz?access_token=SECRET", nil)
		r.Header.Set("X-Request-Id", "req-1")
		s.Handler().ServeHTTP(httptest.NewRecorder(), r)
		return clock.ReplaceAllString(out.String(), "")
	}
	var want, got bytes.Buffer
	w := serve(slog.NewTextHandler(&want, nil), &want)
	if line := serve(NewTextHandler(&got, nil), &got); line != w || line != `level=INFO msg=http request_id=req-1 method=GET route="GET /healthz" status=200 remote=192.0.2.1:1234`+"\n" {
		t.Errorf("access line %q, slog's %q", line, w)
	}

	var b bytes.Buffer
	if line := serve(NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn}), &b); line != "" {
		t.Errorf("at warn level: %q", line)
	}
	drop := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "remote" {
			return slog.Attr{}
		}
		return a
	}
	b.Reset()
	if line := serve(NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: drop}), &b); strings.Contains(line, "remote=") || !strings.Contains(line, "status=200") {
		t.Errorf("ReplaceAttr dropping remote: %q", line)
	}
	b.Reset()
	if line := serve(NewTextHandler(&b, nil).WithAttrs([]slog.Attr{slog.String("node", "n1")}), &b); !strings.Contains(line, "msg=http node=n1 request_id=req-1") {
		t.Errorf("WithAttrs: %q", line)
	}
}

// TestAccessLineConcurrent: lines of concurrent requests and the lines
// slog writes through the same handler are whole (run with -race).
func TestAccessLineConcurrent(t *testing.T) {
	var b bytes.Buffer
	h := NewTextHandler(&b, nil)
	s := New(Config{Logger: slog.New(h)})
	s.handleFunc("GET /fail", func(http.ResponseWriter, *http.Request) error { return errTest })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fail", nil))
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	var access, failed int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "time=") && strings.Contains(l, " msg=http ") && strings.HasSuffix(l, " remote=192.0.2.1:1234"):
			access++
		case strings.HasPrefix(l, "time=") && strings.Contains(l, ` msg="request failed" `):
			failed++
		}
	}
	if access != 200 || failed != 200 || len(lines) != 400 {
		t.Errorf("%d access lines, %d error lines of %d", access, failed, len(lines))
	}
}

// countValue is a LogValuer whose value is how many times it was
// resolved.
type countValue struct{ n *int }

func (c countValue) LogValue() slog.Value { *c.n++; return slog.IntValue(*c.n) }

// TestAccessLineLogValuer: a LogValuer among the WithAttrs attributes is
// resolved once, as slog's handler resolves it, so the access line and
// slog's lines through the same handler show the same value.
func TestAccessLineLogValuer(t *testing.T) {
	a := &accessRecord{time: time.Now(), id: "id", method: "GET", route: newAccessRoute("GET /healthz"), status: 200, remote: "192.0.2.1:1"}
	var n int
	var b bytes.Buffer
	h := NewTextHandler(&b, nil).WithAttrs([]slog.Attr{slog.Any("c", countValue{&n}), slog.Group("g", slog.Any("d", countValue{&n}))})
	logAccess(context.Background(), h, a)
	slog.New(h).Info("other")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if n != 2 || len(lines) != 2 || !strings.Contains(lines[0], " msg=http c=1 g.d=2 request_id=id ") || !strings.Contains(lines[1], " msg=other c=1 g.d=2") {
		t.Errorf("resolved %d times, lines:\n%s", n, b.String())
	}
}

var errTest = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "test"}

// TestAccessLineSeconds: lines of one second share its text
// (lastSecond), and a line of another second or location has its own.
func TestAccessLineSeconds(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 7, 59, 59, 0, time.Local)
	for _, tm := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(999 * time.Millisecond), t0.Add(time.Second),
		t0.Add(time.Second).UTC(), t0.Add(time.Second).In(time.FixedZone("x", -90*60)), t0.Add(time.Second), t0} {
		accessLineAt(t, tm)
	}
}
