package credentials

import (
	"fmt"
	"slices"
	"testing"
)

// TestHasTypeMatchesTypeList: hasType gives what typeList and
// slices.Contains give, the error included, for every shape of type value.
func TestHasTypeMatchesTypeList(t *testing.T) {
	for _, v := range []any{
		nil, "", "BitstringStatusListEntry", "Other", 5, true, map[string]any{},
		[]any{}, []any{"BitstringStatusListEntry"}, []any{"A", "BitstringStatusListEntry"}, []any{"A"},
		[]any{""}, []any{"A", 1}, []any{nil}, []any{"BitstringStatusListEntry", ""},
	} {
		got, err := hasType(v, TypeBitstringStatusListEntry)
		types, wantErr := typeList(v)
		if want := slices.Contains(types, TypeBitstringStatusListEntry); got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%#v: %v, %v; typeList: %v, %v", v, got, err, want, wantErr)
		}
	}
}

// TestUnenvelopeTypes: an envelope's type is one string or a list of one,
// EnvelopedVerifiableCredential or EnvelopedVerifiablePresentation, and
// fits the media type.
func TestUnenvelopeTypes(t *testing.T) {
	const badType = "credentials: invalid credential: envelope type must be EnvelopedVerifiableCredential or EnvelopedVerifiablePresentation"
	for _, c := range []struct {
		typ  any
		id   string
		want string // the error, "" for none
	}{
		{TypeEnvelopedCredential, "data:application/vc+jwt,a.b.c", ""},
		{[]any{TypeEnvelopedCredential}, "data:application/vc+jwt,a.b.c", ""},
		{"EnvelopedVerifiablePresentation", "data:application/vp+jwt,a.b.c", ""},
		{[]any{"EnvelopedVerifiablePresentation"}, "data:application/vp+jwt,a.b.c", ""},
		{"EnvelopedVerifiablePresentation", "data:application/vc+jwt,a.b.c", "credentials: invalid credential: envelope type EnvelopedVerifiablePresentation does not fit media type application/vc+jwt"},
		{[]any{TypeEnvelopedCredential}, "data:application/vp+jwt,a.b.c", "credentials: invalid credential: envelope type EnvelopedVerifiableCredential does not fit media type application/vp+jwt"},
		{[]any{TypeEnvelopedCredential, "X"}, "data:application/vc+jwt,a.b.c", badType},
		{[]any{}, "data:application/vc+jwt,a.b.c", badType},
		{[]any{5}, "data:application/vc+jwt,a.b.c", badType},
		{"", "data:application/vc+jwt,a.b.c", badType},
		{"VerifiableCredential", "data:application/vc+jwt,a.b.c", badType},
		{5, "data:application/vc+jwt,a.b.c", badType},
		{nil, "data:application/vc+jwt,a.b.c", badType},
	} {
		env := map[string]any{"@context": []any{ContextV2}, "id": c.id}
		if c.typ != nil {
			env["type"] = c.typ
		}
		_, tok, err := Unenvelope(env)
		if got := fmt.Sprint(err); c.want == "" && (err != nil || tok != "a.b.c") || c.want != "" && got != c.want {
			t.Errorf("%#v %s: %q, %v", c.typ, c.id, tok, err)
		}
	}
}
