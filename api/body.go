package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// decodeBody reads one JSON object of at most max bytes from the request
// body into dst with strictjson.Decode: member names exactly as
// documented, none unknown or repeated (names that differ only in case
// count as repeated), nothing after the object. bad makes the route's 400
// error; shape completes its message ("with the documented fields").
// Messages never quote the body, which may hold a PIN or an ID number.
func decodeBody(r *http.Request, max int, dst any, bad func(format string, args ...any) error, shape string) error {
	data, err := readBody(r, max, bad)
	if err != nil {
		return err
	}
	if err := strictjson.Decode(data, dst, max); err != nil {
		return bad("body must be one JSON object %s: %s", shape, bodyProblem(err))
	}
	return nil
}

// readBody reads a body of at most max bytes.
func readBody(r *http.Request, max int, bad func(format string, args ...any) error) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large", Err: err}
		}
		return nil, bad("cannot read the body")
	}
	if len(data) > max {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("body over %d bytes", max)}
	}
	return data, nil
}

// decodeBodyWithObject is decodeBody for a dst whose member named
// member is a JSON object wanted as a map: the body is parsed once
// (strictjson.Object), member's value is returned from that parse (nil
// if absent; a value that is not an object is an error matching
// credentials.ErrMalformed), and the other members are decoded into dst
// and checked as decodeBody checks them, with the same errors.
func decodeBodyWithObject(r *http.Request, max int, member string, dst any, bad func(format string, args ...any) error, shape string) (map[string]any, error) {
	data, err := readBody(r, max, bad)
	if err != nil {
		return nil, err
	}
	top, err := strictjson.Object(data, max)
	if err != nil {
		// Not an object (or not JSON): decodeBody's answer, whatever it is
		// (a JSON null decodes to nothing).
		if err := strictjson.Decode(data, dst, max); err != nil {
			return nil, bad("body must be one JSON object %s: %s", shape, bodyProblem(err))
		}
		return nil, nil
	}
	val, has := top[member]
	if has {
		delete(top, member)
	}
	rest, err := strictjson.Marshal(top)
	if err == nil {
		err = strictjson.Decode(rest, dst, max+len(rest))
	}
	if err != nil {
		return nil, bad("body must be one JSON object %s: %s", shape, bodyProblem(err))
	}
	if !has {
		return nil, nil
	}
	obj, ok := val.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %w: want an object", vc.ErrMalformed, strictjson.ErrSyntax)
	}
	return obj, nil
}

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
