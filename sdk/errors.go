package sdk

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
)

// NodeError is an error answer of a node: its HTTP status, the stable
// machine-readable code and the message safe to show. It unwraps to the
// qrcode sentinel of the code when there is one (qrcode.ErrCodeUsed for
// "qr_code_used", ...), so callers test errors.Is(err, qrcode.ErrCodeUsed).
type NodeError struct {
	Status      int
	Code        string
	Description string
	// RetryAfter is how long the node asks the caller to wait before it
	// tries again (its Retry-After header, RFC 9110 §10.2.3: a 429
	// rate_limited answer, a 503 temporarily_unavailable), zero when it
	// names none.
	RetryAfter time.Duration
}

func (e *NodeError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("sdk: node answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("sdk: node answered HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// Unwrap returns the qrcode sentinel of the code, if any.
func (e *NodeError) Unwrap() error { return qrcode.ErrorFromCode(e.Code) }

// nodeError reads a node's error answer resp, whose body is body.
func nodeError(resp *http.Response, body []byte) error {
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &b) // a body that is not ours leaves the code empty
	return &NodeError{Status: resp.StatusCode, Code: b.Error, Description: b.Description, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// retryAfter reads a Retry-After value in delay-seconds; an HTTP date, or
// anything else, is zero (a node sends seconds).
func retryAfter(v string) time.Duration {
	secs, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return time.Duration(secs) * time.Second
}
