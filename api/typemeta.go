package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trustid-cn/trustid/credentials"
)

// TypeMetadataPath is where a node serves the SD-JWT VC Type Metadata of
// the types it defines: at their vct, TypeMetadataPath + "/" + type.
const TypeMetadataPath = "/vct"

// MountTypeMetadata serves GET /vct/{type}: the SD-JWT VC Type Metadata
// (draft-ietf-oauth-sd-jwt-vc) of each of types at its vct, which must be
// a URL of the node at base (credentials.TypeVCT(base, type)), so that a
// wallet dereferencing the vct gets the document. A type the node does not
// describe but accredited reports (a type an accredited relying party
// issues through the node; nil: none) gets a document with its vct and
// name only; any other type is 404 not_found. Each document must pass
// TypeMetadata.Check, and a vct may appear once.
func (s *Server) MountTypeMetadata(base string, types []credentials.TypeMetadata, accredited func(typ string) bool) error {
	docs := map[string][]byte{}
	for _, t := range types {
		if err := t.Check(); err != nil {
			return err
		}
		name, ok := credentials.VCTType(base, t.VCT)
		if !ok {
			return fmt.Errorf("api: the vct %q is not a type URL of %s", t.VCT, base)
		}
		if _, dup := docs[name]; dup {
			return fmt.Errorf("api: type metadata for %q given twice", t.VCT)
		}
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		docs[name] = b
	}
	s.handleFunc("GET "+TypeMetadataPath+"/{type}", func(w http.ResponseWriter, r *http.Request) error {
		typ := r.PathValue("type")
		doc, ok := docs[typ]
		if !ok && accredited != nil {
			if _, named := credentials.VCTType(base, credentials.TypeVCT(base, typ)); named && accredited(typ) {
				doc, _ = json.Marshal(credentials.TypeMetadata{VCT: credentials.TypeVCT(base, typ), Name: typ})
				ok = true
			}
		}
		if !ok {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no type metadata for this vct"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(doc)
		return nil
	})
	return nil
}
