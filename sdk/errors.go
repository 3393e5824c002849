package sdk

import (
	"encoding/json"
	"fmt"
	"net/http"

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
}

func (e *NodeError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("sdk: node answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("sdk: node answered HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// Unwrap returns the qrcode sentinel of the code, if any.
func (e *NodeError) Unwrap() error { return qrcode.ErrorFromCode(e.Code) }

func nodeError(_ *http.Request, status int, body []byte) error {
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &b) // a body that is not ours leaves the code empty
	return &NodeError{Status: status, Code: b.Error, Description: b.Description}
}
