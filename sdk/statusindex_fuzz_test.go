package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// answerFunc is an http.RoundTripper answering from a function.
type answerFunc func(*http.Request) (int, string)

func (f answerFunc) RoundTrip(r *http.Request) (*http.Response, error) {
	code, body := f(r)
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

// FuzzQRStatusIndex: whatever a node's status list index (GET /status)
// holds, the list QRStatus then fetches for a code's list number n is a
// list ID (16 lowercase hex digits) whose first 8 digits are n, the only
// one of the index with that number; else the status is unavailable. So
// it is at the second lookup too, answered from the cached index (two
// lists sharing n are marked there, and the mark is no list ID).
func FuzzQRStatusIndex(f *testing.F) {
	f.Add(`{"lists":["00000001aaaaaaaa","0000000200000000"]}`, uint32(1))
	f.Add(`{"lists":["00000001aaaaaaaa","00000001bbbbbbbb"]}`, uint32(1))
	f.Add(`{"lists":["1zzzzzzzzzzzzzzz","0000000 xxxxxxxx"]}`, uint32(1))
	f.Add(`{"lists":["ffffffff00000000"]}`, uint32(0xffffffff))
	f.Add(`{"lists":"x"}`, uint32(0))
	f.Fuzz(func(t *testing.T, index string, n uint32) {
		const base = "https://sh.trustid.example"
		var fetched []string
		client := &http.Client{Transport: answerFunc(func(r *http.Request) (int, string) {
			if r.URL.Path == "/status" {
				return http.StatusOK, index
			}
			fetched = append(fetched, strings.TrimPrefix(r.URL.EscapedPath(), "/status/"))
			return http.StatusNotFound, `{"error":"not_found"}`
		})}
		q := &sdk.QRStatus{Nodes: &sdk.Nodes{Bases: []string{base}, Algorithms: []string{gm.AlgSM2}, Client: client},
			Regions: map[string]string{"310000": base}}
		for range 2 {
			_, err := q.Status(context.Background(), qrcode.StatusRef{Region: 310000, List: n, Index: 1})
			if !errors.Is(err, qrcode.ErrStatusUnavailable) {
				t.Fatalf("status of a list the node does not serve: %v", err)
			}
		}
		var doc struct {
			Lists []string `json:"lists"`
		}
		json.Unmarshal([]byte(index), &doc)
		for _, id := range fetched {
			num, perr := strconv.ParseUint(id[:min(len(id), 8)], 16, 32)
			same := 0
			for _, l := range doc.Lists {
				if status.ValidListID(l) && l[:8] == id[:min(len(id), 8)] {
					same++
				}
			}
			if !status.ValidListID(id) || perr != nil || uint32(num) != n || same != 1 {
				t.Fatalf("list %d of index %s: fetched %q", n, index, id)
			}
		}
	})
}
