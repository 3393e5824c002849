package enrollment

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/qrcode"
)

// MaxDeviceKeys bounds the device keys (and so the copies) of one
// enrollment.
const MaxDeviceKeys = 16

// DeviceKeyProof is one device key of the batch form of enrollment and
// its proof of possession (a JWS by the key, as for device_proof).
type DeviceKeyProof struct {
	Key   *gm.JWK `json:"key"`
	Proof string  `json:"proof"`
}

// Copy is one copy of an enrollment: its own device key (cnf),
// subject handle, salts and status entries.
type Copy struct {
	// BindingCredential is the device-binding vc+jwt; QRBinding the
	// holder copy of the compact binding for QR codes (SM2 devices only).
	BindingCredential  *IssuedCredential `json:"binding_credential,omitempty"`
	QRBinding          []byte            `json:"qr_binding,omitempty"`
	IdentityCredential IssuedCredential  `json:"identity_credential"`
	// StaticCode is the copy's static printed code (Request.StaticCode;
	// the last copy, after one per device key): it carries the copy's
	// subject handle and its identity credential's Token Status List
	// entry, so revoking or suspending that credential (or the
	// enrollment) stops the code, and only the code.
	StaticCode *StaticCode `json:"static_code,omitempty"`
}

// StaticCode is a static printed code as enrollment returns it to the
// counter terminal for printing.
type StaticCode struct {
	// Code is the code's text ("TIDST1:…"): masked name and number,
	// document type, level, region, validity, status entry and, with a
	// PIN, the sealed PIN verifier; no raw number, name or PIN.
	Code string `json:"code"`
	// PNG is the code as a two-colour PNG, 8 pixels a module with the
	// quiet zone, error correction M; QRVersion its QR version.
	PNG       []byte `json:"png"`
	QRVersion int    `json:"qr_version"`
	// AssuranceLevel is the code's level (identity.AssessStatic).
	AssuranceLevel string `json:"assurance_level"`
	// PIN says whether a PIN verifier is sealed in the code (counter
	// logins with method pin).
	PIN       bool      `json:"pin"`
	ExpiresAt time.Time `json:"expires_at"`
}

// staticPNGModule is the size of a module of the printed code's PNG.
const staticPNGModule = 8

// StaticPINAAD is the AAD that binds a PIN verifier sealed into a static
// code to the code's subject handle (its own domain: a verifier sealed
// for a device binding does not open as a static code's, nor the
// reverse).
func StaticPINAAD(handle []byte) []byte {
	return append([]byte("TrustID/static-pin/v1\x00"), handle...)
}

// enrollDevice is a checked device key.
type enrollDevice struct {
	pub      crypto.PublicKey
	jwk      gm.JWK
	thumb    string
	proofKey string // the marker that spends its proof
	proofTTL time.Duration
}

// parseDevices checks the device keys of a request (device_key or
// device_keys) and their proofs, spending nothing.
func parseDevices(audience string, req *Request, now time.Time) ([]enrollDevice, error) {
	keys := req.DeviceKeys
	switch {
	case req.DeviceKey == nil && req.DeviceProof != "":
		return nil, badRequest("device_proof without device_key")
	case req.DeviceKey != nil && keys != nil:
		return nil, badRequest("give device_key or device_keys, not both")
	case keys != nil && (len(keys) == 0 || len(keys) > MaxDeviceKeys):
		return nil, badRequest("device_keys: 1 to %d keys", MaxDeviceKeys)
	case req.DeviceKey != nil:
		keys = []DeviceKeyProof{{Key: req.DeviceKey, Proof: req.DeviceProof}}
	}
	if req.StaticCode && len(keys) >= MaxDeviceKeys {
		return nil, badRequest("device_keys with static_code: 1 to %d keys (the printed code is a copy too)", MaxDeviceKeys-1)
	}
	if len(keys) == 0 && req.PIN != "" && !req.StaticCode {
		return nil, badRequest("a PIN needs a device key or static_code: it is sealed into the device binding or the static code")
	}
	out := make([]enrollDevice, 0, len(keys))
	for _, k := range keys {
		if k.Key == nil {
			return nil, badRequest("device_keys: each entry needs a key and a proof")
		}
		pub, err := k.Key.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		if alg, _ := gm.Alg(pub); alg != gm.AlgSM2 && alg != gm.AlgES256 {
			return nil, fmt.Errorf("%w: %s keys are not accepted", ErrDeviceKey, alg)
		}
		d := enrollDevice{pub: pub}
		if d.jwk, err = gm.NewJWK(pub, ""); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		d.jwk.Use, d.jwk.Alg = "", ""
		if d.thumb, err = d.jwk.Thumbprint(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		if slices.ContainsFunc(out, func(o enrollDevice) bool { return o.thumb == d.thumb }) {
			return nil, badRequest("device_keys: a key is given twice")
		}
		if d.proofKey, d.proofTTL, err = checkDeviceProof(audience, pub, d.thumb, k.Proof, now); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// checked is a checked request, ready to issue.
type checked struct {
	doc     identity.Document
	name    string
	level   identity.Level
	devices []enrollDevice       // one per device copy, the first copies; none for L1
	handles [][]byte             // one subject handle per copy
	sealed  []identity.SealedPIN // per copy; empty without a PIN
	static  identity.Level       // the static code's level; LevelNone: no static code
	// The static code's copy is the one after the device copies
	// (len(devices)): no device key, no binding credential.
	now time.Time
}

// copyLevel is the level copy i's identity credential carries: a device
// copy's is what the enrollment proved with the first device key (level);
// the static code's copy is keyless, a bearer credential no one can prove
// holding, so it carries L1 (document and name), whatever the devices
// beside it or the card itself (its code carries the card's level, which
// a counter checks in person with the card, the PIN or a face match).
func (en *checked) copyLevel(i int) identity.Level {
	if i >= len(en.devices) {
		return identity.L1
	}
	return en.level
}

// day rounds t down to its UTC day: the times of what enrollment issues
// are day-coarse, so copies issued together cannot be matched by time.
func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// issueCopies issues every copy of an enrollment: one per device key,
// then the static code's (when asked for). Copy i has its own
// device key (a device copy), subject handle, identity credential (own salts and Token
// Status List entry), binding credential (own status entries) and QR
// binding (own claim salts). A copy's identity and binding credentials
// are one group that shares its fate (issuer.Issuer.IssueGroup): revoking or
// suspending either changes both, and the QR binding references the
// identity credential's Token Status List entry, so it follows too.
// With Config.IDs the credential store mints the credential IDs and the
// enrollment ID carries every copy's entries (minted last); without,
// credential IDs are derived from a random enrollment ID
// (EnrollmentCredentialIDs). If any issuance fails, what was issued is
// revoked.
func (s *Service) issueCopies(ctx context.Context, client string, en checked) (*Response, error) {
	enrollmentID := ""
	if s.cfg.IDs == nil {
		var err error
		if enrollmentID, err = newEnrollmentID(); err != nil {
			return nil, err
		}
	}
	// credID is the ID a copy's credential of kind is issued with: none
	// (minted by the store) with IDs.
	credID := func(cred map[string]any, kind string, i int) {
		if s.cfg.IDs == nil {
			cred["id"] = enrollmentCredentialID(enrollmentID, kind, i)
		} else {
			delete(cred, "id")
		}
	}
	var groups [][]status.Ref // each copy's entries, for the minted enrollment ID
	from, until := day(en.now), day(en.now.Add(s.cfg.BindingTTL))
	// Nothing outlives the document: a passport's copies end with its day
	// of expiry (UTC); Enroll refused one that had expired.
	if e := en.doc.Expiry(); !e.IsZero() && e.Add(24*time.Hour).Before(until) {
		until = e.Add(24 * time.Hour)
	}
	resp := &Response{AssuranceLevel: en.level.String(), EnrollmentID: enrollmentID, ExpiresAt: until}
	for i, handle := range en.handles {
		subjectID := holder.SubjectURI(handle)
		idCred, err := vc.IdentityCredential(vc.IdentityClaims{
			Subject: subjectID, AssuranceLevel: int(en.copyLevel(i)), Region: s.cfg.Region, Name: en.name,
			BirthDate: en.doc.BirthDate().String(), Nationality: en.doc.ISONationality(), ValidFor: until.Sub(from),
		}, from)
		if err != nil {
			s.undo(ctx, resp)
			return nil, err
		}
		credID(idCred, "identity", i)
		items := []issuer.GroupItem{{Credential: idCred, Options: issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: client}}}
		var d *enrollDevice
		if i < len(en.devices) {
			d = &en.devices[i]
			items[0].Options.HolderKey = &d.jwk
			bcred := BindingCredential("", handle, d.jwk, en.sealed[i], en.level, s.cfg.Region, from, until)
			credID(bcred, "binding", i)
			items = append(items, issuer.GroupItem{Credential: bcred, Options: issuer.IssueOptions{Format: issuer.FormatVCJWT, Client: client}})
		}
		issued, err := s.cfg.Credentials.IssueGroup(ctx, items)
		if err != nil {
			s.undo(ctx, resp)
			return nil, err
		}
		ic := issued[0]
		c := Copy{IdentityCredential: IssuedCredential{ID: ic.ID, Format: ic.Format, Credential: ic.Token}}
		group := slices.Clone(ic.Status)
		if d != nil {
			bc := issued[1]
			c.BindingCredential = &IssuedCredential{ID: bc.ID, Format: bc.Format, Credential: bc.Token}
			group = append(group, bc.Status...)
		}
		groups = append(groups, group)
		resp.Copies = append(resp.Copies, c) // so that undo finds it
		if d != nil {
			if resp.Copies[i].QRBinding, err = s.qrBinding(handle, d.pub, en.level, idCred, from, until, ic.Status); err != nil {
				s.undo(ctx, resp)
				return nil, err
			}
		}
		if en.static.Valid() && i == len(en.devices) {
			if resp.Copies[i].StaticCode, err = s.staticCode(en, handle, en.sealed[i], from, until, ic.Status); err != nil {
				s.undo(ctx, resp)
				return nil, err
			}
		}
	}
	if s.cfg.IDs != nil {
		id, err := s.cfg.IDs.MintEnrollmentID(issuer.OwnerTag(client), groups)
		if err != nil {
			s.undo(ctx, resp)
			return nil, err
		}
		resp.EnrollmentID = id
	}
	first := resp.Copies[0]
	resp.BindingCredential, resp.QRBinding, resp.IdentityCredential = first.BindingCredential, first.QRBinding, first.IdentityCredential
	return resp, nil
}

// BindingCredential is one copy's unsigned device-binding credential: id,
// the copy's subject handle, its device key (cnf.jwk: kty, crv, x and y),
// the sealed PIN verifier (none when empty), level and region, valid from
// from until until.
func BindingCredential(id string, handle []byte, device gm.JWK, sealed identity.SealedPIN, level identity.Level, region string, from, until time.Time) map[string]any {
	cs := map[string]any{
		"id":             holder.SubjectURI(handle),
		"assuranceLevel": int(level),
		"region":         region,
		"cnf":            map[string]any{"jwk": map[string]any{"kty": device.Kty, "crv": device.Crv, "x": device.X, "y": device.Y}},
	}
	if sealed != "" {
		cs["pinVerifier"] = string(sealed)
	}
	return map[string]any{
		"@context":          []any{vc.ContextV2},
		"id":                id,
		"type":              []any{vc.TypeCredential, TypeDeviceBindingCredential},
		"validFrom":         vc.FormatTime(from),
		"validUntil":        vc.FormatTime(until),
		"credentialSubject": cs,
	}
}

// qrBinding signs one copy's compact QR binding (SM2 devices only; nil for
// others). Its status reference is the copy's identity credential Token
// Status List entry, whose values (valid, invalid, suspended) follow the
// copy's group: revoking or suspending its binding credential stops the
// QR binding too.
func (s *Service) qrBinding(handle []byte, devicePub crypto.PublicKey, level identity.Level, idCred map[string]any, from, until time.Time, entries []status.Ref) ([]byte, error) {
	sm2, ok := devicePub.(*gm.PublicKey)
	if !ok {
		return nil, nil // P-256 devices: no compact QR binding (it carries SM2 keys only)
	}
	i := slices.IndexFunc(entries, func(r status.Ref) bool { return r.Purpose == status.PurposeToken })
	if i < 0 {
		return nil, errors.New("identity credential has no token status entry")
	}
	ref, err := s.cfg.Status.Ref(entries[i].ListID, entries[i].Index)
	if err != nil {
		return nil, err
	}
	claims := map[string]string{}
	if sub, ok := idCred["credentialSubject"].(map[string]any); ok {
		for _, k := range []string{"age_over_18", "age_over_60"} {
			if b, ok := sub[k].(bool); ok {
				claims[k] = strconv.FormatBool(b)
			}
		}
	}
	return s.cfg.Bindings.IssueBinding(qrcode.Binding{
		Subject: handle, DeviceKey: sm2, Assurance: int(level), IssuedAt: from, Expiry: until, Status: ref, Claims: claims,
	})
}

// staticCode signs one copy's static printed code and renders it. Like
// the QR binding, its status reference is the copy's identity credential
// Token Status List entry, so the code shares the copy's fate.
func (s *Service) staticCode(en checked, handle []byte, sealed identity.SealedPIN, from, until time.Time, entries []status.Ref) (*StaticCode, error) {
	i := slices.IndexFunc(entries, func(r status.Ref) bool { return r.Purpose == status.PurposeToken })
	if i < 0 {
		return nil, errors.New("identity credential has no token status entry")
	}
	ref, err := s.cfg.Status.Ref(entries[i].ListID, entries[i].Index)
	if err != nil {
		return nil, err
	}
	st := qrcode.Static{
		Subject: handle, MaskedName: staticName(identity.MaskName(en.name)), MaskedNumber: staticMasked(en.doc.Masked()), DocType: uint8(en.doc.Type()),
		Assurance: int(en.static), IssuedAt: from, Expiry: until, Status: ref,
	}
	if sealed != "" {
		if st.SealedPIN, err = SealedPINBytes(sealed); err != nil {
			return nil, err
		}
	}
	text, err := s.cfg.Statics.IssueStatic(st)
	if err != nil {
		return nil, err
	}
	bc, err := qrcode.Encode(text, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	png, err := bc.PNG(min(bc.Modules*staticPNGModule, qrcode.MaxImageSize))
	if err != nil {
		return nil, err
	}
	return &StaticCode{Code: text, PNG: png, QRVersion: bc.Version, AssuranceLevel: en.static.String(), PIN: sealed != "", ExpiresAt: until}, nil
}

// staticMasked masks more of a display number until at least half of it
// is '*', as a static code requires: Document.Masked keeps 4 + 4
// characters, too many of a permit's or passport's short number. It masks
// from the middle outwards and keeps the first and last character.
func staticMasked(m string) string {
	b := []byte(m)
	stars := strings.Count(m, "*")
	for d := 0; stars < len(b)/2 && d < len(b); d++ {
		for _, i := range []int{len(b)/2 - d, len(b)/2 + d} {
			if i > 0 && i < len(b)-1 && b[i] != '*' && b[i] != ' ' && b[i] < 0x80 && stars < len(b)/2 {
				b[i] = '*'
				stars++
			}
		}
	}
	return string(b)
}

// staticName shortens a masked name to what a static code holds
// (qrcode.MaxMaskedLen bytes): a name may have 100 characters, and a
// long Latin one keeps a byte for each letter masked. A shortened name
// ends with "…" after its last whole character that fits.
func staticName(m string) string {
	if len(m) <= qrcode.MaxMaskedLen {
		return m
	}
	const ellipsis = "…"
	cut := 0
	for i := range m { // rune boundaries
		if i > qrcode.MaxMaskedLen-len(ellipsis) {
			break
		}
		cut = i
	}
	return m[:cut] + ellipsis
}

// SealedPINBytes is the sealed verifier as a static code carries it: the
// raw bytes of its base64url text.
func SealedPINBytes(sealed identity.SealedPIN) ([]byte, error) {
	b, err := b64url.DecodeString(string(sealed))
	if err != nil || len(b) == 0 || len(b) > qrcode.MaxSealedPINLen {
		return nil, identity.ErrPINVerifier
	}
	return b, nil
}

// undo revokes what a request that then failed issued, so no
// half-enrollment stays valid.
func (s *Service) undo(ctx context.Context, resp *Response) {
	for _, c := range resp.Copies {
		for _, ic := range []*IssuedCredential{c.BindingCredential, &c.IdentityCredential} {
			if ic == nil || ic.ID == "" {
				continue
			}
			if err := s.cfg.Credentials.SetStatus(context.WithoutCancel(ctx), ic.ID, issuer.ActionRevoke); err != nil {
				s.cfg.Log.Error("could not revoke a credential of a failed enrollment", slog.String("credential_id", ic.ID), slog.Any("error", err))
			}
		}
	}
}

// newEnrollmentID returns a fresh urn:uuid (version 4).
func newEnrollmentID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("enrollment: random: %w", err)
	}
	return uuidURN(b), nil
}

func uuidURN(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// enrollmentCredentialID is the ID of copy i's credential of kind
// ("binding" or "identity"): a urn:uuid made of SM3("TrustID/enrollment-
// credential/v1" ‖ 0x00 ‖ enrollment ID ‖ 0x00 ‖ kind ‖ 0x00 ‖ i). The
// node recomputes them from the enrollment ID to change every copy; the
// status index needs no list of them, and without the enrollment ID two
// copies' IDs are unrelated.
func enrollmentCredentialID(enrollmentID, kind string, i int) string {
	h := gm.SM3([]byte("TrustID/enrollment-credential/v1\x00" + enrollmentID + "\x00" + kind + "\x00" + strconv.Itoa(i)))
	return uuidURN([16]byte(h[:16]))
}

// EnrollmentCredentialIDs lists every credential ID an enrollment can
// have issued (MaxDeviceKeys copies of each kind), whether issued or not.
func EnrollmentCredentialIDs(enrollmentID string) []string {
	ids := make([]string, 0, 2*MaxDeviceKeys)
	for i := range MaxDeviceKeys {
		ids = append(ids, enrollmentCredentialID(enrollmentID, "binding", i), enrollmentCredentialID(enrollmentID, "identity", i))
	}
	return ids
}

// ErrNotFound: no credential of the enrollment was issued here for the
// caller (or the enrollment does not exist).
var ErrNotFound = errors.New("enrollment: no enrollment with this id was made here by this client")

// SetStatus applies action (issuer.ActionRevoke, ActionSuspend,
// ActionReinstate) to every credential of every copy of enrollment id, as
// actor (the client that enrolled, or an administrator), as one change
// (issuer.Issuer.SetStatusesAs): on any error nothing is changed. A
// suspension or reinstatement skips the copies already revoked;
// issuer.ErrStatusConflict if all are. It returns how many credentials
// changed; ErrNotFound when none is the actor's. With Config.IDs, the ID
// names every copy's credentials, and a change of a copy's first
// credential changes its whole group.
func (s *Service) SetStatus(ctx context.Context, id, action string, actor issuer.Actor) (int, error) {
	var groups [][]string
	if s.cfg.IDs != nil && strings.HasPrefix(id, statuslist.EnrollmentIDPrefix) {
		var err error
		if groups, err = s.cfg.IDs.EnrollmentCredentials(id); err != nil {
			return 0, ErrNotFound
		}
	} else {
		for _, cid := range EnrollmentCredentialIDs(id) {
			groups = append(groups, []string{cid})
		}
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g[0]
	}
	done, err := s.cfg.Credentials.SetStatusesAs(ctx, ids, action, actor)
	if err != nil {
		return 0, err
	}
	changed := 0
	for i, g := range groups {
		if done[i] {
			changed += len(g)
		}
	}
	if changed == 0 {
		return 0, ErrNotFound
	}
	return changed, nil
}
