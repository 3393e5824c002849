package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/store"
)

// walletProviderEntry is one wallet provider of the providers file: its
// JWK Set of public keys and the client_ids it may attest.
type walletProviderEntry struct {
	Keys      []gm.JWK `json:"keys"`
	ClientIDs []string `json:"client_ids"`
}

// readWalletProviders reads the wallet providers file: a JSON object
// from each provider's identifier (the iss of its attestations) to its
// public keys (a JWK Set's keys) and the client_ids (the attestations'
// sub) it may attest. "" is none. Duplicate kids and providers without
// client_ids are refused when the verifier is built.
func readWalletProviders(path string) ([]attestation.Provider, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Strict: unknown members, private ones ("d") among them, are refused.
	var m map[string]walletProviderEntry
	if err := strictjson.Decode(raw, &m, 1<<20); err != nil {
		return nil, fmt.Errorf("%s: want {\"<provider>\": {\"keys\": [JWK, ...], \"client_ids\": [\"<client_id>\", ...]}}: %w", path, err)
	}
	ids := slices.Sorted(maps.Keys(m))
	out := make([]attestation.Provider, 0, len(ids))
	for _, id := range ids {
		out = append(out, attestation.Provider{Issuer: id, Keys: m[id].Keys, ClientIDs: m[id].ClientIDs})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no wallet provider", path)
	}
	return out, nil
}

// mountOID4VCI returns the mount function of the OpenID for Verifiable
// Credential Issuance 1.0 routes. The credentials are issued by the
// node's issuer (mounted before, by mountCredentials) as the client that
// made the offer, under its issuer DID and accreditation; codes, nonces
// and tokens live in the node's store. It is mounted after mountLogin:
// the authorization code flow logs the holder in with it.
func mountOID4VCI(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		if n.credIssuer == nil {
			return errors.New("oid4vci: the credential issuer is not mounted")
		}
		signer := issuerSigner{is: n.credIssuer}
		if nl, anchored := ledgerOf(n); anchored {
			signer.registry = nl.View
		}
		// The nonce key is the region's store key, which every instance
		// sharing the region's Redis already holds (their store entries
		// would not match otherwise): a DPoP nonce or attestation
		// challenge one instance gave passes at another, also after an
		// upgrade that did not copy the keystore again. oid4vci derives
		// its own keys from it (HKDF, one label per purpose).
		nonceKey, err := nodeSecret(n.keys, storeKeySecret)
		if err != nil {
			return fmt.Errorf("oid4vci: %w", err)
		}
		providersFile, _ := cmd.Flags().GetString("wallet-providers")
		providers, err := readWalletProviders(providersFile)
		if err != nil {
			return fmt.Errorf("oid4vci: --wallet-providers: %w", err)
		}
		// Wallet attestations with a status claim are checked against
		// their provider's Token Status List: fetched over HTTPS with the
		// node's guarded peer client (no redirect, no private address
		// unless --peer-internal-host or --peer names it), signed by the provider's
		// keys, cached for its ttl (5 minutes at most, never past its exp).
		var attStatus oid4vci.AttestationStatus
		if len(providers) > 0 {
			keys, err := attestation.NewKeys(providers)
			if err != nil {
				return fmt.Errorf("oid4vci: --wallet-providers: %w", err)
			}
			peer, err := peerClientOf(n, cmd)
			if err != nil {
				return fmt.Errorf("oid4vci: %w", err)
			}
			attStatus = vc.NewStatusCheckerWith(&vc.HTTPStatusSource{Client: peer, Resolver: keys, Algorithms: gm.JWTAlgorithms},
				vc.StatusCheckerOptions{TTL: 5 * time.Minute, MaxCacheBytes: 16 << 20})
		}
		require, _ := cmd.Flags().GetBool("require-wallet-attestation")
		noChallenge, _ := cmd.Flags().GetBool("wallet-attestation-without-challenge")
		cfg := oid4vci.Config{
			NonceKey:        nonceKey.Value(),
			Issuer:          n.issuer,
			Types:           oid4vciTypes,
			Display:         []oid4vci.Display{{Name: "TrustID 可信数字身份", Locale: "zh-CN"}, {Name: "TrustID digital identity", Locale: "en"}},
			Signer:          signer,
			Store:           n.store,
			WalletProviders: providers, RequireWalletAttestation: require, AttestationWithoutChallenge: noChallenge, AttestationStatus: attStatus,
		}
		// With user login mounted (before), the holder can log in at the
		// authorization endpoint: the authorization code flow.
		if n.loginProvider != nil {
			cfg.Login = n.loginProvider
		}
		svc, err := oid4vci.New(cfg)
		if err != nil {
			return fmt.Errorf("oid4vci: %w", err)
		}
		spec, _ := cmd.Flags().GetString("oid4vci-offer-rate-client")
		offerLimit, err := api.ParseRateLimit("", spec)
		if err != nil {
			return fmt.Errorf("--oid4vci-offer-rate-client: %w", err)
		}
		return srv.MountOID4VCI(api.OID4VCIConfig{Service: svc, Limiter: n.store, OfferLimit: &offerLimit})
	}
}

// oid4vciTypes are the credential types the node offers through OID4VCI:
// the attribute credentials relying parties issue through it. (The
// identity credential is enrollment's: POST /v1/enrollments.)
//
// Each is offered as ldp_vc too: secured with sm2-rdfc-2025 (SM2, for
// wallets under China's cryptography rules) and eddsa-rdfc-2022 (for
// international wallets). Its credential_definition names the VC 2.0
// context; an offered credential adds the contexts defining its terms
// (the node loads only its built-in ones: credentials/contexts).
var oid4vciTypes = []oid4vci.CredentialType{{
	Type:         "ResidenceCredential",
	Cryptosuites: []string{dataintegrity.SM2RDFC2025, dataintegrity.EdDSARDFC2022},
	Display: []oid4vci.Display{
		{Name: "居住证明", Locale: "zh-CN", Description: "由依赖方经 TrustID 签发的居住信息凭证"},
		{Name: "Residence credential", Locale: "en", Description: "Residence attributes issued by a relying party through TrustID"},
	},
	Claims: []oid4vci.Claim{
		// A residence credential states a region: issued with any claims
		// a wallet asks for (OID4VCI 1.0 Appendix B.2).
		{Path: []string{"region"}, Mandatory: true, Display: []oid4vci.Display{{Name: "地区", Locale: "zh-CN"}, {Name: "Region", Locale: "en"}}},
	},
}}

// mountTypeMetadata serves the SD-JWT VC Type Metadata of the types the
// node names, at their vct (GET /vct/{type}): the identity credential
// enrollment issues and the types it offers through OID4VCI, described;
// with a ledger, the other types an active issuer of the node's region is
// accredited for, by name only (their display is the relying party's).
func mountTypeMetadata(srv *api.Server, n *node) error {
	types := []vc.TypeMetadata{vc.IdentityCredentialMetadata(n.issuer)}
	for _, t := range oid4vciTypes {
		types = append(types, typeMetadata(n.issuer, t))
	}
	var accredited func(string) bool
	if nl, ok := ledgerOf(n); ok {
		accredited = accreditedTypes(nl, n.region)
	}
	return srv.MountTypeMetadata(n.issuer, types, accredited)
}

// accreditedTypes reports whether an active issuer of region is
// accredited for a type, from a set of those types rebuilt from the
// ledger view after a registry event, and at least every
// accreditedTypesTTL (a view reloaded after a reconnection replaces its
// records without events); not on every request: the route is public.
func accreditedTypes(nl *nodeLedger, region string) func(string) bool {
	var (
		mu    sync.Mutex
		set   map[string]bool
		built time.Time
		stale atomic.Bool
	)
	stale.Store(true)
	nl.onRegistry(func() { stale.Store(true) })
	return func(typ string) bool {
		mu.Lock()
		defer mu.Unlock()
		if nl.View.Ready() && (stale.Swap(false) || time.Since(built) > accreditedTypesTTL) {
			set, built = map[string]bool{}, time.Now()
			for _, x := range nl.View.Issuers() {
				if x.Region == region && x.Status == chaincode.EntryActive {
					for _, t := range x.Types {
						set[t] = true
					}
				}
			}
		}
		return set[typ]
	}
}

// accreditedTypesTTL bounds how long /vct/{type} answers from a set of
// accredited types the view may have replaced.
const accreditedTypesTTL = 10 * time.Second

// typeMetadata is the Type Metadata of an OID4VCI type of the node at
// base: its display and claims as its issuer metadata gives them; every
// subject claim is selectively disclosable (the issuer conceals them all).
func typeMetadata(base string, t oid4vci.CredentialType) vc.TypeMetadata {
	m := vc.TypeMetadata{VCT: t.VCT, Name: t.Type}
	if m.VCT == "" {
		m.VCT = vc.TypeVCT(base, t.Type)
	}
	for _, d := range t.Display {
		m.Display = append(m.Display, vc.TypeDisplay{Locale: d.Locale, Name: d.Name, Description: d.Description})
		if d.Locale == "en" {
			m.Name, m.Description = d.Name, d.Description
		}
	}
	for _, c := range t.Claims {
		cm := vc.ClaimMetadata{Path: c.Path, SD: vc.SDAlways}
		for _, d := range c.Display {
			cm.Display = append(cm.Display, vc.ClaimDisplay{Locale: d.Locale, Label: d.Name, Description: d.Description})
		}
		m.Claims = append(m.Claims, cm)
	}
	return m
}

// issuerSigner signs OID4VCI credentials with the node's credential
// issuer, as the client that made the offer, and checks offers against
// the client's accreditation in the trust registry.
type issuerSigner struct {
	is       *issuer.Issuer
	registry vc.IssuerRegistry
}

// CheckOffer refuses an offer whose types the client is not accredited
// for (vc.ErrNotAccredited) or that uses what enrollment alone issues.
func (s issuerSigner) CheckOffer(ctx context.Context, client string, credential map[string]any) error {
	did, err := vc.ClientIssuerDID(s.is.DID(), client)
	if err != nil {
		return err
	}
	if s.registry == nil {
		return fmt.Errorf("%w: this node signs for no issuer", vc.ErrNotAccredited)
	}
	acc, err := (&vc.RegistryTrust{Registry: s.registry}).Accreditation(did)
	if err != nil {
		return err
	}
	var types, ids []string
	raw, _ := credential["type"].([]any)
	for _, t := range raw {
		if t, ok := t.(string); ok {
			types = append(types, t)
		}
	}
	var subjects []map[string]any
	switch v := credential["credentialSubject"].(type) {
	case map[string]any:
		subjects = []map[string]any{v}
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				subjects = append(subjects, m)
			}
		}
	}
	for _, sub := range subjects {
		if id, ok := sub["id"].(string); ok {
			ids = append(ids, id)
		}
	}
	return acc.Allows(types, ids, subjects)
}

func (s issuerSigner) Sign(ctx context.Context, req oid4vci.SignRequest) (string, error) {
	opts := issuer.IssueOptions{Client: req.Client, Format: issuer.FormatVCJWT}
	switch req.Format {
	case oid4vci.FormatSDJWT:
		k := req.HolderKey
		opts.Format, opts.VCT, opts.HolderKey = issuer.FormatSDJWT, req.VCT, &k
	case oid4vci.FormatLDPVC:
		// The node's Data Integrity formats are named by their cryptosuite
		// (credentialFormats).
		opts.Format = req.Cryptosuite
	}
	iss, err := s.is.IssueAsClient(ctx, req.Credential, opts)
	if err != nil {
		if signerUnavailable(err) {
			return "", fmt.Errorf("%w: %w", oid4vci.ErrSignerUnavailable, err)
		}
		return "", err
	}
	return iss.Token, nil
}

// signerUnavailable reports whether an issuing error is one POST
// /credentials/issue answers 503: retried later, it may succeed.
func signerUnavailable(err error) bool {
	for _, e := range []error{store.ErrUnavailable, store.ErrFull, issuer.ErrRegistryUnavailable, status.ErrUnconfirmed, vc.ErrStatusFull} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
