package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// decodeBody reads one JSON object of at most max bytes from the request
// body into dst with strictjson.Decode: member names exactly as
// documented, none unknown or repeated (names that differ only in case
// count as repeated), nothing after the object. A body labelled with
// another media type is refused unread (jsonMediaType). bad makes the
// route's 400 error; shape completes its message ("with the documented
// fields"). Messages never quote the body, which may hold a PIN or an ID
// number.
func decodeBody(r *http.Request, max int, dst any, bad func(format string, args ...any) error, shape string) error {
	if err := jsonMediaType(r); err != nil {
		return err
	}
	bp := bodyBufs.Get().(*[]byte)
	err := decodeBodyIn(bp, r, max, dst, bad, shape)
	if cap(*bp) <= maxPooledBody {
		bodyBufs.Put(bp)
	}
	return err
}

// jsonMediaType refuses a request whose Content-Type is not
// application/json (type and subtype in any case, with any parameters:
// RFC 9110 §8.3.1) with 415 unsupported_media_type naming the type the
// route takes (§15.5.16). A request without Content-Type passes: its body
// is read as JSON (§8.3 lets the recipient examine the data). A body
// with a Content-Encoding, which no route decodes, is refused alike
// (§15.5.16; writeError adds Accept-Encoding: identity, §12.5.3).
func jsonMediaType(r *http.Request) error {
	if contentCoded(r) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedContentType, Message: "the body must be sent without Content-Encoding"}
	}
	ct := headerValue(r.Header, "Content-Type")
	// The usual spelling first: strings.EqualFold takes ~200 instructions
	// for it.
	if ct == "" || ct == "application/json" || strings.EqualFold(ct, "application/json") {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedContentType, Message: "the body must be application/json"}
}

// mergePatchType is the media type of a JSON Merge Patch (RFC 7396 §4),
// the one patch format every PATCH route takes: the resources PATCH
// changes send it as Accept-Patch (RFC 5789 §3.1).
const mergePatchType = "application/merge-patch+json"

// mergePatchMediaType accepts a body sent as a JSON Merge Patch: 415
// for any other Content-Type, or none (a patch says what it is).
func mergePatchMediaType(r *http.Request) error {
	if contentCoded(r) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedContentType, Message: "the body must be sent without Content-Encoding"}
	}
	if mt, _, err := mime.ParseMediaType(headerValue(r.Header, "Content-Type")); err == nil && mt == mergePatchType {
		return nil
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedContentType, Message: "the body must be " + mergePatchType + " (RFC 7396)"}
}

// contentCoded reports whether r's body is sent with a Content-Encoding,
// which no route decodes: read as it is, it would be garbled.
func contentCoded(r *http.Request) bool { return len(r.Header["Content-Encoding"]) > 0 }

// decodeBodyIn is decodeBody reading into *bp's memory, left in *bp
// (emptied) for the next body.
func decodeBodyIn(bp *[]byte, r *http.Request, max int, dst any, bad func(format string, args ...any) error, shape string) error {
	data, err := readInto(*bp, io.LimitReader(r.Body, int64(max)+1), r.ContentLength, max)
	*bp = data[:0]
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large", Err: err}
		}
		return bad("cannot read the body")
	}
	if len(data) > max {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("body over %d bytes", max)}
	}
	if err := strictjson.Decode(data, dst, max); err != nil {
		return bad("body must be one JSON object %s: %s", shape, bodyProblem(err))
	}
	return nil
}

// readAll is io.ReadAll with a first buffer of the request's declared
// length (when it is within max and readAllFirst), so a body is read
// without growing through io.ReadAll's 512-byte start.
func readAll(r io.Reader, declared int64, max int) ([]byte, error) {
	return readInto(nil, r, declared, max)
}

// readInto is readAll reading into b's memory when it has room for the
// first buffer.
func readInto(b []byte, r io.Reader, declared int64, max int) ([]byte, error) {
	size := 512
	if declared > 0 && declared <= int64(min(max, readAllFirst)) {
		size = int(declared) + 1 // room for the read that meets EOF
	}
	if cap(b) < size {
		b = make([]byte, 0, size)
	}
	b = b[:0]
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// bodyBufs holds decodeBody's read buffers, up to maxPooledBody bytes:
// nothing strictjson.Decode fills shares memory with the bytes it decodes
// (FuzzDecodeDirect checks it; the two-pass path copies too, and a type
// that decodes itself must copy what it keeps, as encoding/json requires),
// so a buffer serves the next body once one is decoded.
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

// readAllFirst bounds readAll's first buffer. Content-Length is the
// client's word: a client that declares 1 MiB and sends nothing must not
// hold 1 MiB of the node's memory per connection until the read timeout;
// past this, the buffer grows only as bytes arrive.
const readAllFirst = 16 << 10

// bodyProblem says what strictjson refused, without the body's content
// (a refused member's name, quoted and truncated, but no value).
func bodyProblem(err error) string {
	var ke *strictjson.KeyError
	switch {
	case errors.As(err, &ke) && errors.Is(ke, strictjson.ErrFieldCase):
		return fmt.Sprintf("member %s differs in case from the documented name %s", quoteKey(ke.Key), quoteKey(ke.Want))
	case errors.As(err, &ke):
		return fmt.Sprintf("member %s is not documented", quoteKey(ke.Key))
	case errors.Is(err, strictjson.ErrDuplicateKey):
		return "a member is repeated (names that differ only in case count as repeated)"
	case errors.Is(err, strictjson.ErrFieldCase):
		return "a member name differs in case from the documented name"
	case errors.Is(err, strictjson.ErrUnknownField):
		return "a member is not documented"
	case errors.Is(err, strictjson.ErrType):
		return "a member has the wrong type or value"
	case errors.Is(err, strictjson.ErrTrailingData):
		return "data after the object"
	case errors.Is(err, strictjson.ErrSurrogate):
		return "a string escapes an unpaired UTF-16 surrogate"
	case errors.Is(err, strictjson.ErrTooDeep):
		return "nested too deeply"
	}
	return "malformed JSON"
}

// quoteKey quotes a member name for a message: Go syntax, printable
// ASCII only (control, format and non-ASCII characters escaped).
func quoteKey(k string) string { return strconv.QuoteToASCII(k) }

// invalidRequest is the plain 400 invalid_request error.
func invalidRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}
