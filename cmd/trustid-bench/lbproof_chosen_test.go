package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// chosenIssueBody is issueBody with the credential ID chosen by the
// request.
func chosenIssueBody(id string) []byte {
	return bytes.Replace(issueBody, []byte(`"type":`), []byte(`"id":`+strconv.Quote(id)+`,"type":`), 1)
}

func randomURN() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// issueChosen issues a credential with the ID id chosen by the request.
func issueChosen(c *conn, token, id string) (credential, error) {
	out, err := c.do("POST", "/credentials/issue", token, ctJSON, chosenIssueBody(id), 201)
	if err != nil {
		return credential{}, err
	}
	var resp struct {
		VerifiableCredential json.RawMessage `json:"verifiableCredential"`
		CredentialID         string          `json:"credentialId"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.CredentialID != id || resp.VerifiableCredential == nil {
		return credential{}, fmt.Errorf("issue response: %.200s", out)
	}
	return credential{id: id, envelope: resp.VerifiableCredential}, nil
}

// proveChosenIDs is issue 13's proof for credential IDs a request chose,
// on two of the proof's instances of region 310000 (own data directories,
// one keystore copy, one Redis, the native Fabric network), called by
// TestFabricLBProof before its load: a credential whose issue request
// chose its ID, issued on instance 1, is revoked through instance 2 right
// after the answer (the binding is on the chain before instance 1
// answers), and both instances serve the revocation; an ID issued on both
// at once is issued by exactly one (201), the other answering 409
// credential_id_taken; an ID nobody issued is 404 on both.
func proveChosenIDs(t *testing.T, insts []*node, b *bench) {
	t.Helper()
	token := b.token
	conns := []*conn{newConn(insts[0].base, &b.srcs, 1000), newConn(insts[1].base, &b.srcs, 1000)}
	defer conns[0].close()
	defer conns[1].close()
	issue := func(c *conn, id string, want int) ([]byte, error) {
		return c.do("POST", "/credentials/issue", token, ctJSON, chosenIssueBody(id), want)
	}

	// 1. Issued on instance 1, revoked through instance 2 at once.
	chosen := randomURN()
	start := time.Now()
	out, err := issue(conns[0], chosen, 201)
	if err != nil {
		t.Fatalf("issue with a chosen id: %v\n%s", err, insts[0].logTail())
	}
	t.Logf("issue with a chosen id on Fabric answered in %v", time.Since(start).Round(time.Millisecond))
	var resp struct {
		VerifiableCredential json.RawMessage `json:"verifiableCredential"`
		CredentialID         string          `json:"credentialId"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.CredentialID != chosen {
		t.Fatalf("issue response: %.300s", out)
	}
	es, err := statusEntries(resp.VerifiableCredential)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns[1].do("POST", "/v1/credentials/"+url.PathEscape(chosen)+"/status", token, ctJSON, []byte(`{"action":"revoke"}`), 200); err != nil {
		t.Fatalf("revoke through instance 2: %v\n%s", err, insts[1].logTail())
	}
	for _, e := range es {
		if e.Purpose != "revocation" {
			continue
		}
		u, _ := url.Parse(e.List)
		idx, _ := strconv.Atoi(e.Index)
		for i, n := range insts {
			deadline := time.Now().Add(30 * time.Second)
			for {
				enc, err := encodedList(n.base, u.Path)
				var bits *status.Bitstring
				if err == nil {
					bits, err = status.DecodeBitstring(enc, 0)
				}
				if err == nil && bits.Get(idx) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("instance %d does not serve the revocation of %s[%d]: %v", i+1, u.Path, idx, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}

	// 2. One id on both instances at once: exactly one issues it.
	for round := range 3 {
		id := randomURN()
		type answer struct {
			out []byte
			err error
		}
		answers := make(chan answer, 2)
		for _, c := range conns {
			go func() {
				out, err := issue(c, id, 201)
				answers <- answer{out, err}
			}()
		}
		won, taken := 0, 0
		for range 2 {
			a := <-answers
			var se *statusError
			switch {
			case a.err == nil:
				won++
			case errors.As(a.err, &se) && se.status == 409 && strings.Contains(se.body, `"credential_id_taken"`):
				taken++
			default:
				t.Fatalf("round %d: %v", round, a.err)
			}
		}
		if won != 1 || taken != 1 {
			t.Fatalf("round %d: %d issued, %d refused as taken", round, won, taken)
		}
	}

	// 3. An id nobody issued: 404 on both.
	for i, c := range conns {
		_, err := c.do("POST", "/v1/credentials/"+url.PathEscape(randomURN())+"/status", token, ctJSON, []byte(`{"action":"revoke"}`), 404)
		if err != nil {
			t.Fatalf("instance %d, an unknown id: %v", i+1, err)
		}
	}
}
