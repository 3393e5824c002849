package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// answerBuffer holds an answer to an authenticated peer until it is
// signed: headers, status and body.
type answerBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *answerBuffer) Header() http.Header { return b.header }

func (b *answerBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *answerBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// signedPeerAnswer runs answer, the handling of a node-to-node request r
// already authenticated as region's, into a buffer, and sends what it
// wrote with the signature of signer (redeem.PeerAnswerHeader) over the
// status and body, in reply to r's node assertion. An answer that cannot
// be signed is sent as 503 temporarily_unavailable, unsigned.
func (s *Server) signedPeerAnswer(w http.ResponseWriter, r *http.Request, signer redeem.PeerAnswerSigner, region string, answer func(http.ResponseWriter)) {
	b := &answerBuffer{header: http.Header{}}
	answer(b)
	if b.status == 0 {
		b.status = http.StatusOK
	}
	sig, err := signer.SignAnswer(r, region, b.status, b.body.Bytes())
	if err != nil {
		s.log.ErrorContext(r.Context(), "peer answer not signed", "request_id", requestID(r.Context()), "cause", err)
		writeJSONStatus(w, http.StatusServiceUnavailable, errorBody{Error: "temporarily_unavailable", Description: "the answer could not be signed"})
		return
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set(redeem.PeerAnswerHeader, sig)
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
