package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// TextHandler is slog's TextHandler, with a shortcut for instrument's
// access line: the line is appended by hand to a pooled buffer, the same
// bytes slog writes for the same record (FuzzAccessLine), and written to
// the same writer under the same lock, without slog's generic formatting
// (half the instructions GET /healthz's plumbing took). Build the node's text
// loggers with NewTextHandler; WithAttrs keeps the shortcut (the node's
// access logger carries its region). With any other handler, including
// what WithGroup returns, the line goes through slog.
type TextHandler struct {
	*slog.TextHandler
	w *lockedWriter
	// direct: no ReplaceAttr and no source, so slog writes the record as
	// it is.
	direct bool
	// with is the text slog writes for the WithAttrs attributes, each
	// after a space, between the message and the record's attributes.
	with []byte
}

// NewTextHandler returns a handler writing what slog.NewTextHandler(w,
// opts) writes.
func NewTextHandler(w io.Writer, opts *slog.HandlerOptions) *TextHandler {
	lw := &lockedWriter{w: w}
	return &TextHandler{TextHandler: slog.NewTextHandler(lw, opts), w: lw, direct: opts == nil || opts.ReplaceAttr == nil && !opts.AddSource}
}

// WithAttrs returns a TextHandler writing as slog's WithAttrs does.
func (h *TextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	// slog resolves each LogValuer once, here; withText would resolve it
	// again, and a value that changes (a counter, a clock) would differ
	// between the access line and slog's lines.
	as = resolveAttrs(as)
	return &TextHandler{TextHandler: h.TextHandler.WithAttrs(as).(*slog.TextHandler), w: h.w, direct: h.direct,
		with: append(slices.Clone(h.with), withText(as)...)}
}

// resolveAttrs returns as with every value resolved (slog.Value.Resolve),
// in groups too, as slog's handlers resolve them.
func resolveAttrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		a.Value = a.Value.Resolve()
		if a.Value.Kind() == slog.KindGroup {
			a.Value = slog.GroupValue(resolveAttrs(a.Value.Group())...)
		}
		out[i] = a
	}
	return out
}

// withText is the text slog's TextHandler writes for as, taken from slog
// itself: the line of a record without time, attributes or message, less
// that record's own text.
func withText(as []slog.Attr) []byte {
	const bare = `level=INFO msg=""`
	var b bytes.Buffer
	slog.NewTextHandler(&b, nil).WithAttrs(as).Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0))
	return bytes.TrimSuffix(bytes.TrimPrefix(b.Bytes(), []byte(bare)), []byte("\n"))
}

// lockedWriter serializes the writes of slog and of the shortcut, as
// slog's lock alone does for slog's.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p whole under the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// accessRecord is instrument's access line of one request: the route
// pattern, never the query string or headers, which may carry tokens.
type accessRecord struct {
	time    time.Time
	id      string // a token (isToken) of 1 to 64 bytes: never quoted
	method  string // metricMethod's: never quoted
	route   *accessRoute
	status  int
	elapsed time.Duration
	remote  string
	// client is the address X-Forwarded-For of a trusted proxy gave when
	// it is not the TCP peer, written as rate limits count it
	// (appendAddressKey); else invalid and not written.
	client netip.Addr
}

// accessRoute is a route pattern and its value in a text line, quoted
// once when the route is registered.
type accessRoute struct {
	pattern string
	text    []byte
}

// newAccessRoute quotes pattern for the line once.
func newAccessRoute(pattern string) *accessRoute {
	return &accessRoute{pattern: pattern, text: appendTextString(nil, pattern)}
}

// logAccess writes a's line to h when h is enabled at info level.
func logAccess(ctx context.Context, h slog.Handler, a *accessRecord) {
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	if t, ok := h.(*TextHandler); ok && t.direct {
		bp := docBufs.Get().(*[]byte)
		*bp = a.appendText((*bp)[:0], t.with)
		t.w.Write(*bp)
		docBufs.Put(bp)
		return
	}
	// The record goes to the handler directly: Logger.LogAttrs would take
	// the caller's PC (runtime.Callers), which no handler of the access
	// log prints.
	rec := slog.NewRecord(a.time, slog.LevelInfo, "http", 0)
	rec.AddAttrs(slog.String("request_id", a.id), slog.String("method", a.method), slog.String("route", a.route.pattern),
		slog.Int("status", a.status), slog.Duration("duration", a.elapsed), slog.String("remote", a.remote))
	if a.client.IsValid() {
		var buf [len("ffff:ffff:ffff:ffff::/64")]byte
		rec.AddAttrs(slog.String("client", string(appendAddressKey(buf[:0], a.client))))
	}
	h.Handle(ctx, rec)
}

// appendText appends the line slog's TextHandler writes for a's record.
func (a *accessRecord) appendText(b, with []byte) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, a.time)
	b = append(b, " level=INFO msg=http"...)
	b = append(b, with...)
	b = append(b, " request_id="...)
	b = append(b, a.id...)
	b = append(b, " method="...)
	b = append(b, a.method...)
	b = append(b, " route="...)
	b = append(b, a.route.text...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(a.status), 10)
	b = append(b, " duration="...)
	b = append(b, a.elapsed.String()...)
	b = append(b, " remote="...)
	b = appendTextString(b, a.remote)
	if a.client.IsValid() {
		// An address or prefix needs no quoting.
		b = appendAddressKey(append(b, " client="...), a.client)
	}
	return append(b, '\n')
}

// appendRFC3339Millis appends t as log/slog's text handler does: RFC
// 3339 with exactly three digits of fraction. The text of t's second is
// kept (lastSecond) for the lines of the same second and location.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	sec, loc := t.Unix(), t.Location()
	s := lastSecond.Load()
	if s == nil || s.sec != sec || s.loc != loc {
		if s = newSecondText(t); s == nil {
			// Not a clock's time: no line has one. slog garbles such years
			// (it cuts the fraction at a fixed offset); this is RFC 3339's form.
			return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		}
		lastSecond.Store(s)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, s.clock[:]...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.zone...)
}

// secondText is the text of one second in one location: the date and
// clock ("2006-01-02T15:04:05") and the zone ("Z", "+08:00"), which are
// functions of the two.
type secondText struct {
	sec   int64
	loc   *time.Location
	clock [19]byte
	zone  string
}

// lastSecond is the second of the latest access line.
var lastSecond atomic.Pointer[secondText]

// newSecondText returns t's second, or nil for a year outside 0 to 9999
// or a zone of 100 hours or more.
func newSecondText(t time.Time) *secondText {
	year, month, day := t.Date()
	_, offset := t.Zone()
	zone, sign := offset/60, byte('+') // whole minutes, as time.RFC3339
	if zone < 0 {
		zone, sign = -zone, '-'
	}
	if year < 0 || year > 9999 || zone >= 100*60 {
		return nil
	}
	hour, min, sec := t.Clock()
	s := &secondText{sec: t.Unix(), loc: t.Location(), zone: "Z"}
	b := append(make([]byte, 0, len(s.clock)), byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append(b, byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T')
	b = append(b, byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':')
	copy(s.clock[:], append(b, byte('0'+sec/10), byte('0'+sec%10)))
	if offset != 0 {
		s.zone = string([]byte{sign, byte('0' + zone/600), byte('0' + zone/60%10), ':', byte('0' + zone%60/10), byte('0' + zone%10)})
	}
	return s
}

// appendTextString appends s as slog's TextHandler writes a string value:
// as it is, or quoted by strconv when it is empty or holds a space, '=',
// '"', a control character, or a rune that is invalid, U+FFFD, a space
// or unprintable.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting reports whether slog's TextHandler quotes s.
func needsQuoting(s string) bool {
	i := 0
	for i < len(s) && textSafe[s[i]] {
		i++
	}
	if len(s) == 0 || i < len(s) && s[i] < utf8.RuneSelf {
		return true
	}
	for i < len(s) {
		if textSafe[s[i]] {
			i++
			continue
		}
		if s[i] < utf8.RuneSelf {
			return true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// textSafe holds the ASCII bytes that leave a string unquoted: printable
// (DEL included, as slog's) but for space, '=' and '"'.
var textSafe = func() (t [256]bool) {
	for c := '!'; c < utf8.RuneSelf; c++ {
		t[c] = c != '=' && c != '"'
	}
	return t
}()
