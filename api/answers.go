package api

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// writeVerifyStatus sends r as writeJSONStatus does (the same bytes),
// encoded without reflection for a single credential's answer (no
// presentation, listed credentials or Data Integrity proofs: those go
// through writeJSONStatus).
func writeVerifyStatus(w http.ResponseWriter, status int, r *verifyResponse) {
	if len(r.Credentials) > 0 || len(r.Presentation) > 0 || len(r.Proofs) > 0 {
		writeJSONStatus(w, status, r)
		return
	}
	writeAppended(w, status, r, func(b []byte) ([]byte, error) { return appendVerifyResponse(b, r) })
}

// appendVerifyResponse encodes r's members in verifyResponse's order,
// leaving out those tagged omitempty when empty, as encoding/json does;
// the credential is r.CredentialJSON when set.
func appendVerifyResponse(b []byte, r *verifyResponse) ([]byte, error) {
	b = append(b, `{"verified":`...)
	b = strconv.AppendBool(b, r.Verified)
	// member appends a member's name (no string built for it: a
	// concatenation with a variable is one each time).
	member := func(name string) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
	}
	str := func(name, v string) {
		if v != "" {
			member(name)
			b = strictjson.AppendString(b, v)
		}
	}
	str("format", r.Format)
	str("issuer", r.Issuer)
	str("holder", r.Holder)
	if len(r.Credential) > 0 {
		b = append(b, `,"credential":`...)
		if r.CredentialJSON != nil {
			b = append(b, r.CredentialJSON...)
		} else {
			var err error
			if b, err = strictjson.Append(b, r.Credential); err != nil {
				return nil, err
			}
		}
	}
	if len(r.Checks) > 0 {
		b = append(b, `,"checks":[`...)
		for i, c := range r.Checks {
			if i > 0 {
				b = append(b, ',')
			}
			b = strictjson.AppendString(b, c)
		}
		b = append(b, ']')
	}
	problems := func(name string, ps []verifyProblem) {
		member(name)
		if ps == nil {
			b = append(b, "null"...)
			return
		}
		b = append(b, '[')
		for i, p := range ps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = strictjson.AppendString(b, p.Code)
			b = append(b, `,"message":`...)
			b = strictjson.AppendString(b, p.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	problems("warnings", r.Warnings)
	problems("errors", r.Errors)
	if len(r.RelatedResources) > 0 {
		b = append(b, `,"relatedResources":[`...)
		for i, o := range r.RelatedResources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strictjson.AppendString(b, o.ID)
			b = append(b, `,"status":`...)
			b = strictjson.AppendString(b, o.Status)
			if o.Fetched {
				b = append(b, `,"fetched":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// writeRedemption sends red as writeJSON does (the same bytes), encoded
// without reflection: the answer to every QR code verification.
func writeRedemption(w http.ResponseWriter, red *redeem.Redemption) {
	writeAppended(w, http.StatusOK, red, func(b []byte) ([]byte, error) { return appendRedemption(b, red), nil })
}

// appendRedemption encodes red's members in redeem.Redemption's order,
// leaving out those tagged omitempty when empty, as encoding/json does.
func appendRedemption(b []byte, red *redeem.Redemption) []byte {
	b = append(b, `{"pairwise_id":`...)
	b = strictjson.AppendString(b, red.PairwiseID)
	b = append(b, `,"assurance_level":`...)
	b = strconv.AppendInt(b, int64(red.Assurance), 10)
	b = append(b, `,"region":`...)
	b = strictjson.AppendString(b, red.Region)
	if len(red.Claims) > 0 {
		b = append(b, `,"claims":{`...)
		for i, k := range slices.Sorted(maps.Keys(red.Claims)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strictjson.AppendString(b, k)
			b = append(b, ':')
			b = strictjson.AppendString(b, red.Claims[k])
		}
		b = append(b, '}')
	}
	if red.Act != nil {
		b = append(b, `,"act":{"pairwise_id":`...)
		b = strictjson.AppendString(b, red.Act.PairwiseID)
		b = append(b, `,"relationship":`...)
		b = strictjson.AppendString(b, red.Act.Relationship)
		b = append(b, '}')
	}
	if red.Action != "" {
		b = append(b, `,"action":`...)
		b = strictjson.AppendString(b, red.Action)
	}
	return append(b, '}')
}

// writeIntrospection sends res as writeJSON does (the same bytes),
// encoded without reflection: the answer to every token introspection.
// appendIntrospection cannot fail, so writeAppended needs no value to
// fall back on (passing res would move it to the heap).
func writeIntrospection(w http.ResponseWriter, res *auth.Introspection) {
	writeAppended(w, http.StatusOK, nil, func(b []byte) ([]byte, error) { return appendIntrospection(b, res), nil })
}

// appendIntrospection encodes res's members in auth.Introspection's
// order, leaving out those tagged omitempty when empty, as encoding/json
// does. Each member's key is written with the comma before it.
func appendIntrospection(b []byte, res *auth.Introspection) []byte {
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, res.Active)
	str := func(key, v string) {
		if v != "" {
			b = append(b, key...)
			b = strictjson.AppendString(b, v)
		}
	}
	num := func(key string, v int64) {
		if v != 0 {
			b = append(b, key...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str(`,"scope":`, res.Scope)
	str(`,"client_id":`, res.ClientID)
	str(`,"token_type":`, res.TokenType)
	num(`,"exp":`, res.Exp)
	num(`,"iat":`, res.Iat)
	str(`,"sub":`, res.Sub)
	str(`,"aud":`, res.Aud)
	str(`,"iss":`, res.Iss)
	str(`,"jti":`, res.Jti)
	return append(b, '}')
}
