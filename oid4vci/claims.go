package oid4vci

import (
	"slices"

	"github.com/trustid-cn/trustid/internal/claimpath"
)

// Claims a wallet asks for (OID4VCI 1.0 §5.1.1: the claims member of an
// openid_credential authorization details object; Appendix B.1 and B.3:
// claims description objects; Appendix C: claims path pointers). The
// specification leaves the issuer free to issue a Credential Dataset with
// a subset of the claims; following PIPL's rule of the minimum, the node
// issues only the subject claims the wallet asked for, with those the
// credential type requires (Claim.Mandatory) and the subject id (the
// holder key's DID, or an SD-JWT VC's sub): a wallet that asks for claims
// never gets the others.

// ClaimDescription is a claims description object of authorization
// details (OID4VCI 1.0 Appendix B.1): path and mandatory (the wallet
// accepts only a credential with the claim; the issuer refuses what it
// cannot issue with it). Other members are ignored.
type ClaimDescription = claimpath.Description

// ClaimPath is a claims path pointer (OID4VCI 1.0 Appendix C): a
// non-empty array whose elements are a key (string), null (every element
// of an array) or a non-negative array index (int). For dc+sd-jwt it
// points into the SD-JWT VC's claims, whose subject claims are top-level;
// for jwt_vc_json and ldp_vc into the W3C credential
// (["credentialSubject", …]).
type ClaimPath = claimpath.Path

// within reports whether a token request's path p of configuration c
// asks for no more than the granted claims: a claim the node always
// issues, or one under a granted or required path.
func within(c configuration, granted []ClaimDescription, p ClaimPath) bool {
	rel, always, ok := subjectPath(c, p)
	if always || !ok {
		return true // what the node always issues, or nothing
	}
	for _, g := range slices.Concat(keptPaths(c, granted), []ClaimPath{{"id"}}) {
		if len(g) <= len(rel) && prefix(g, rel) {
			return true
		}
	}
	return false
}

// prefix reports whether g is a prefix of p, null in g matching any
// index or null in p.
func prefix(g, p ClaimPath) bool {
	for i, c := range g {
		if c == nil {
			if _, key := p[i].(string); key {
				return false
			}
			continue
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// subjectPath maps a path of configuration c onto the credential subject:
// rel, relative to the subject, when it points into the subject's
// claims; always when it names the subject id or the envelope the node
// always issues (the W3C credential's other members; an SD-JWT VC's iss,
// vct, cnf, status and the like, and its sub); !ok when it can point at
// nothing (the root and the subject are objects).
func subjectPath(c configuration, p ClaimPath) (rel ClaimPath, always, ok bool) {
	first, isKey := p[0].(string)
	if !isKey {
		return nil, false, false
	}
	if c.format == FormatSDJWT {
		switch first {
		case "iss", "vct", "iat", "nbf", "exp", "cnf", "status", "sub":
			return nil, true, true
		}
		return p, false, true
	}
	if first != "credentialSubject" {
		return nil, true, true
	}
	if len(p) > 1 {
		if _, key := p[1].(string); !key {
			return nil, false, false // the subject is one object
		}
		if p[1] == "id" {
			return nil, true, true
		}
	}
	return p[1:], false, true
}

// checkClaims checks a wallet's claims for configuration c against the
// offered subject: a mandatory claim the credential would not have is
// refused (the wallet would refuse the credential).
func checkClaims(c configuration, claims []ClaimDescription, subject map[string]any) error {
	for _, d := range claims {
		if !d.Mandatory {
			continue
		}
		rel, always, ok := subjectPath(c, d.Path)
		if always {
			continue
		}
		if _, found := claimpath.Keep(subject, []ClaimPath{rel}); !ok || !found {
			return fail(CodeInvalidAuthorizationDetails, "the offered credential has no claim at a mandatory path")
		}
	}
	return nil
}

// minimize keeps, of the credential's subject, the claims the wallet
// asked for with claims, those the configuration requires and the id.
func minimize(c configuration, claims []ClaimDescription, cred map[string]any) {
	subject, _ := cred["credentialSubject"].(map[string]any)
	if subject == nil {
		return
	}
	kept, _ := claimpath.Keep(subject, append(keptPaths(c, claims), ClaimPath{"id"}))
	cred["credentialSubject"] = kept // an object: pick keeps a map a map
}

// keptPaths are the subject paths an issued credential of c keeps when the
// wallet asked for claims: those it asked for and those c requires.
func keptPaths(c configuration, claims []ClaimDescription) []ClaimPath {
	paths := slices.Clone(c.required)
	for _, d := range claims {
		if rel, always, ok := subjectPath(c, d.Path); ok && !always {
			paths = append(paths, rel)
		}
	}
	return paths
}
