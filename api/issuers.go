package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
)

// maxAccreditBody bounds an accreditation request.
const maxAccreditBody = 16 << 10

// accreditRequest is the body of POST /v1/admin/issuers.
type accreditRequest struct {
	ClientID string   `json:"client_id"`
	Types    []string `json:"types"`
	// Name defaults to the client's registered name.
	Name      string `json:"name,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
}

// mountIssuers registers the accreditation routes, each needing scope
// registry:admin:
//
//	POST /v1/admin/issuers           accredit a registered client to issue
//	                                 types under its own issuer DID (body:
//	                                 accreditRequest; the types replace the
//	                                 previous ones; "suspended": true
//	                                 suspends it)
//	GET  /v1/admin/issuers/{client}  the client's issuer record as the
//	                                 node's registry copy has it
func (s *Server) mountIssuers(is *issuer.Issuer, clients ClientDirectory) {
	h := &issuerAdmin{is: is, clients: clients}
	s.handle("POST /v1/admin/issuers", s.protect(auth.ScopeRegistryAdmin, errorHandler(s, h.accredit)))
	s.handle("GET /v1/admin/issuers/{client}", s.protect(auth.ScopeRegistryAdmin, errorHandler(s, h.show)))
}

type issuerAdmin struct {
	is      *issuer.Issuer
	clients ClientDirectory
}

func badAccredit(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "accreditation: " + fmt.Sprintf(format, args...)}
}

func (h *issuerAdmin) accredit(w http.ResponseWriter, r *http.Request) error {
	var req accreditRequest
	if err := decodeBody(r, maxAccreditBody, &req, badAccredit, `{"client_id", "types", "name", "suspended"}`); err != nil {
		return err
	}
	if req.ClientID == "" || len(req.Types) == 0 {
		return badAccredit("client_id and types are required")
	}
	c, err := h.clients.Get(r.Context(), req.ClientID)
	if errors.Is(err, auth.ErrClientNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no client with this client_id is registered"}
	}
	if err != nil {
		return err
	}
	// A disabled client is accredited for nothing new, but its issuer may
	// still be suspended: what it issued verifies until then.
	if c.Disabled && !req.Suspended {
		return &Error{Status: http.StatusConflict, Code: "client_disabled", Message: "the client is disabled (its issuer may only be suspended)"}
	}
	if req.Name == "" {
		req.Name = c.Name
	}
	rec, err := h.is.Accredit(r.Context(), issuer.AccreditRequest{Client: c.ID, Name: req.Name, Types: req.Types, Suspended: req.Suspended})
	if errors.Is(err, vc.ErrInvalid) {
		return badAccredit("%s", strings.TrimPrefix(err.Error(), vc.ErrInvalid.Error()+": "))
	}
	if err != nil {
		return err
	}
	writeJSON(w, rec)
	return nil
}

func (h *issuerAdmin) show(w http.ResponseWriter, r *http.Request) error {
	rec, err := h.is.ClientIssuer(r.PathValue("client"))
	if errors.Is(err, vc.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "the client is not accredited", Err: err}
	}
	if err != nil {
		return err
	}
	writeJSON(w, rec)
	return nil
}
