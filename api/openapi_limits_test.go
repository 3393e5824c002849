package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestPeerIntrospectTokenFitsTheBody: the longest token api/openapi.json
// allows in a node-to-node introspection fits the route's body limit
// (redeem.MaxPeerBody, 8 KiB, which the node assertion's body_sm3 covers)
// and one byte more does not: the document said 8192, which the body
// limit refused 413.
func TestPeerIntrospectTokenFitsTheBody(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					MaxLength int `json:"maxLength"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Components.Schemas["PeerIntrospectRequest"].Properties["token"].MaxLength
	body := func(n int) int {
		b, _ := json.Marshal(auth.PeerIntrospectRequest{Token: strings.Repeat("a", n)})
		return len(b)
	}
	if body(n) > redeem.MaxPeerBody || body(n+1) <= redeem.MaxPeerBody {
		t.Errorf("token maxLength %d: bodies of %d and %d bytes, want the limit %d between them", n, body(n), body(n+1), redeem.MaxPeerBody)
	}
}

// TestStaticImageSizeDocumented: the size bounds and default api/openapi.json
// gives POST /v1/qr/static are the renderer's.
func TestStaticImageSizeDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]struct {
							Minimum, Maximum int
							Default          any
						}
					}
				}
			} `json:"requestBody"`
		}
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	props := doc.Paths["/v1/qr/static"]["post"].RequestBody.Content["application/x-www-form-urlencoded"].Schema.Properties
	size := props["size"]
	if size.Minimum != qrcode.MinImageSize || size.Maximum != qrcode.MaxImageSize || size.Default != float64(qrcode.DefaultImageSize) || props["format"].Default != "png" {
		t.Errorf("documented size %d to %d (default %v), format default %v; the renderer's %d to %d (default %d), png",
			size.Minimum, size.Maximum, size.Default, props["format"].Default, qrcode.MinImageSize, qrcode.MaxImageSize, qrcode.DefaultImageSize)
	}
}
