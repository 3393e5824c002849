package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// ClientsConfig configures MountClients. Store and Region are required;
// Now and Rand default to time.Now and crypto/rand.
type ClientsConfig struct {
	Store auth.ClientStore
	// Region is the node's region: the home region of every client it
	// registers (another region's operator registers that region's
	// relying parties at its own node).
	Region string
	// Sectors, when set, is the consortium's registry of pairwise
	// sectors: a registration whose sector (its sector identifier, or its
	// client ID when it has none) another relying party holds is refused
	// with 409 sector_taken. Registering a sector identifier is the
	// operator's attestation that the party controls that host.
	Sectors SectorRegistry
	// Registry, when set, counts the region's terminals and issuers for
	// GET /v1/admin/registry (the operator view).
	Registry RegistryCounter
	Now      func() time.Time
	Rand     io.Reader
}

// RegistryCounter counts the trust registry's records of a region, as the
// node's copy of the registry has them. Safe for concurrent use.
type RegistryCounter interface {
	RegistryCounts(region string) RegistryCounts
}

// RegistryCounts are a region's registry records by status ("active",
// "suspended", "revoked"): a status no record has is absent.
type RegistryCounts struct {
	Terminals map[string]int `json:"terminals"`
	Issuers   map[string]int `json:"issuers"`
}

// registryResponse is the body of GET /v1/admin/registry.
type registryResponse struct {
	Region string `json:"region"`
	RegistryCounts
}

// MountClients adds the registry administration endpoints, each needing
// scope registry:admin:
//
//	POST /v1/admin/clients               register (body: auth.Registration)
//	GET  /v1/admin/clients               list
//	GET  /v1/admin/clients/{id}          show
//	PATCH /v1/admin/clients/{id}         change its metadata (body: a JSON
//	                                     Merge Patch, auth.ParseClientPatch)
//	POST /v1/admin/clients/{id}/keys     {"add": JWK} or {"retire": "kid"}
//	POST /v1/admin/clients/{id}/disable  disable (empty body or {})
//	GET  /v1/admin/routes                every route the server serves, with the
//	                                     scope it needs (none for public routes)
//	GET  /v1/admin/registry              the region's terminals and issuers
//	                                     counted by status (with cfg.Registry)
//
// Responses never include a secret hash; a generated client_secret is
// returned once, in the registration response.
func (s *Server) MountClients(cfg ClientsConfig) error {
	if cfg.Store == nil {
		return errors.New("api: ClientsConfig.Store is required")
	}
	if !auth.ValidRegion(cfg.Region) {
		return fmt.Errorf("api: ClientsConfig.Region %q is not a province-level region code", cfg.Region)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	a := &clientAdmin{cfg: cfg, s: s}
	admin := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.protect(auth.ScopeRegistryAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				writeError(w, r, s.log, authError(err))
			}
		}))
	}
	s.handle("POST /v1/admin/clients", admin(a.create))
	s.handle("GET /v1/admin/clients", admin(a.list))
	s.handle("GET /v1/admin/clients/{id}", admin(a.show))
	s.handle("PATCH /v1/admin/clients/{id}", admin(a.update))
	s.handle("POST /v1/admin/clients/{id}/keys", admin(a.keys))
	s.handle("POST /v1/admin/clients/{id}/disable", admin(a.disable))
	s.handle("GET /v1/admin/routes", admin(a.routes))
	if cfg.Registry != nil {
		s.handle("GET /v1/admin/registry", admin(a.registry))
	}
	return nil
}

func (a *clientAdmin) registry(w http.ResponseWriter, r *http.Request) error {
	c := a.cfg.Registry.RegistryCounts(a.cfg.Region)
	if c.Terminals == nil {
		c.Terminals = map[string]int{}
	}
	if c.Issuers == nil {
		c.Issuers = map[string]int{}
	}
	writeJSON(w, registryResponse{Region: a.cfg.Region, RegistryCounts: c})
	return nil
}

// CodeSectorTaken: a registration's pairwise sector is held by another
// relying party (SectorRegistry).
const CodeSectorTaken = "sector_taken"

type clientAdmin struct {
	cfg ClientsConfig
	s   *Server
}

// clientResponse is a client as the admin API shows it.
type clientResponse struct {
	auth.Client
	// ClientSecret is set once, in the response that created it.
	ClientSecret string `json:"client_secret,omitempty"`
}

func view(c auth.Client) clientResponse {
	c.SecretHash = ""
	return clientResponse{Client: c}
}

// readJSONBody reads a JSON request body of at most max bytes, sent as
// application/json or without Content-Type (jsonMediaType).
func readJSONBody(r *http.Request, max int64) ([]byte, error) {
	if err := jsonMediaType(r); err != nil {
		return nil, err
	}
	return readBody(r, max)
}

// readBody reads a request body of at most max bytes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	var tooBig *http.MaxBytesError
	if int64(len(body)) > max || errors.As(err, &tooBig) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "the body is too large"}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body could not be read", Err: err}
	}
	return body, nil
}

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !auth.ValidClientID(id) {
		return "", auth.ErrClientNotFound
	}
	return id, nil
}

func (a *clientAdmin) create(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONBody(r, 64<<10)
	if err != nil {
		return err
	}
	reg, err := auth.ParseRegistration(body)
	if err != nil {
		return err
	}
	if reg.Region != a.cfg.Region {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidClientMetadata,
			Message: fmt.Sprintf("region must be this node's region %s: a relying party is registered at the node of its home region", a.cfg.Region)}
	}
	c, secret, err := auth.NewClient(reg, a.cfg.Now(), a.cfg.Rand)
	if err != nil {
		return err
	}
	if _, err := a.cfg.Store.Get(r.Context(), c.ID); err == nil {
		return auth.ErrClientExists
	}
	if a.cfg.Sectors != nil {
		sector := redeem.RelyingParty{ClientID: c.ID, Sector: c.SectorIdentifier}.PairwiseSector()
		switch err := a.cfg.Sectors.ClaimSector(r.Context(), c.ID, sector); {
		case errors.Is(err, ErrSectorTaken):
			return &Error{Status: http.StatusConflict, Code: CodeSectorTaken, Err: err,
				Message: fmt.Sprintf("the pairwise sector %q is held by another relying party of the consortium", sector.Name)}
		case errors.Is(err, enrollment.ErrForeignParty):
			// Store (this region's parties) does not show another
			// region's: the client ID is taken all the same.
			return fmt.Errorf("%w: %w", auth.ErrClientExists, err)
		case err != nil:
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the sector registry is unavailable", Err: err}
		}
	}
	if err := a.cfg.Store.Create(r.Context(), c); err != nil {
		return err
	}
	resp := view(c)
	resp.ClientSecret = secret
	w.Header().Set("Location", "/v1/admin/clients/"+c.ID)
	writeJSONStatus(w, http.StatusCreated, resp)
	return nil
}

func (a *clientAdmin) list(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.cfg.Store.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]clientResponse, len(cs))
	for i, c := range cs {
		out[i] = view(c)
	}
	writeJSON(w, map[string]any{"clients": out})
	return nil
}

func (a *clientAdmin) show(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := a.cfg.Store.Get(r.Context(), id)
	if err != nil {
		return err
	}
	// RFC 5789 §3.1: the client is changed by a PATCH (update).
	w.Header().Set("Accept-Patch", mergePatchType)
	writeJSON(w, view(c))
	return nil
}

// update applies a JSON Merge Patch (RFC 7396) of the client's
// registration, sent as application/merge-patch+json, through the store's
// Update: the client is checked as a new one is (Client.Validate, and on
// the ledger the contract's rules on resources).
func (a *clientAdmin) update(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := mergePatchMediaType(r); err != nil {
		// RFC 5789 §2.2: a 415 to a PATCH names the patch formats taken.
		w.Header().Set("Accept-Patch", mergePatchType)
		return err
	}
	body, err := readBody(r, 64<<10)
	if err != nil {
		return err
	}
	p, err := auth.ParseClientPatch(body)
	if err != nil {
		return err
	}
	var c auth.Client
	if p.Empty() {
		// {} is a valid merge patch that changes nothing (RFC 7396 §2):
		// the answer is the record as it is, with nothing written.
		c, err = a.cfg.Store.Get(r.Context(), id)
	} else {
		c, err = a.cfg.Store.Update(r.Context(), id, func(c *auth.Client) error {
			p.Apply(c)
			return nil
		})
	}
	if err != nil {
		return err
	}
	writeJSON(w, view(c))
	return nil
}

func (a *clientAdmin) keys(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, 16<<10)
	if err != nil {
		return err
	}
	ch, err := auth.ParseKeyChange(body)
	if err != nil {
		return err
	}
	c, err := a.cfg.Store.Update(r.Context(), id, func(c *auth.Client) error {
		if ch.Add != nil {
			return c.AddKey(*ch.Add)
		}
		return c.RetireKey(ch.Retire)
	})
	if err != nil {
		return err
	}
	writeJSON(w, view(c))
	return nil
}

func (a *clientAdmin) disable(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	body, err := readJSONBody(r, 64)
	if err != nil {
		return err
	}
	if b := strings.TrimSpace(string(body)); b != "" && b != "{}" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body must be empty or {}"}
	}
	c, err := a.cfg.Store.Update(r.Context(), id, func(c *auth.Client) error {
		c.Disabled = true
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, view(c))
	return nil
}

func (a *clientAdmin) routes(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, map[string]any{"routes": a.s.Routes()})
	return nil
}

// ClientDirectory looks up registered clients (an auth.ClientStore).
type ClientDirectory interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// SectorRegistry is the consortium's registry of pairwise sectors
// (enrollment.SectorRegistry).
type SectorRegistry = enrollment.SectorRegistry

// ErrSectorTaken: the pairwise sector is held by another relying party of
// the consortium (enrollment.ErrSectorTaken).
var ErrSectorTaken = enrollment.ErrSectorTaken
