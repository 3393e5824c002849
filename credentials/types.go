package credentials

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Credential types TrustID issues.
const (
	TypeIdentityCredential = "IdentityCredential"
)

// IdentityClaims are the inputs of an identity credential. Subject is the
// symbol-bound subject ID the identity service derived (a symbol or
// pairwise ID): it is used as given, never derived here. Name, BirthDate
// and Nationality are holder-supplied attributes; the node signs them and
// keeps no copy.
type IdentityClaims struct {
	Subject        string
	AssuranceLevel int    // 1..4
	Region         string // GB/T 2260 province-level code of the issuing region
	Name           string
	BirthDate      string // YYYY-MM-DD, or YYYY-MM or YYYY when known only in part
	Nationality    string // ISO 3166-1 alpha-3, e.g. CHN
	// ValidFor bounds the credential's life (default one year).
	ValidFor time.Duration
}

var (
	subjectRE     = regexp.MustCompile(`^[A-Za-z0-9._~:-]{8,200}$`)
	regionRE      = regexp.MustCompile(`^[1-8][0-9]0000$`)
	nationalityRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// SubjectURI turns a subject ID into the credentialSubject id: URIs are
// kept, bare IDs become urn:trustid:subject:<id>.
func SubjectURI(s string) (string, error) {
	if !subjectRE.MatchString(s) {
		return "", fmt.Errorf("%w: subject ID must be 8-200 characters of [A-Za-z0-9._~:-]", ErrInvalid)
	}
	if _, err := URLString(s); err == nil && strings.Contains(s, ":") {
		return s, nil
	}
	return "urn:trustid:subject:" + s, nil
}

// IdentityCredential builds the unsigned identity credential: the subject,
// assurance level, region, the holder's attributes, and age_over_18 and
// age_over_60 derived from the birth date at now. A birth date known only
// in part gives no birthDate claim, and an age claim only where the
// whole range of possible dates agrees.
func IdentityCredential(c IdentityClaims, now time.Time) (map[string]any, error) {
	sub, err := SubjectURI(c.Subject)
	if err != nil {
		return nil, err
	}
	if c.AssuranceLevel < 1 || c.AssuranceLevel > 4 {
		return nil, fmt.Errorf("%w: assurance level must be 1..4", ErrInvalid)
	}
	if !regionRE.MatchString(c.Region) {
		return nil, fmt.Errorf("%w: region must be a six-digit province-level GB/T 2260 code", ErrInvalid)
	}
	subject := map[string]any{
		"id":             sub,
		"assuranceLevel": c.AssuranceLevel,
		"region":         c.Region,
	}
	if c.Name != "" {
		if !utf8.ValidString(c.Name) || utf8.RuneCountInString(c.Name) > 100 || strings.ContainsAny(c.Name, "\x00\n\r\t") {
			return nil, fmt.Errorf("%w: name must be 1-100 printable characters", ErrInvalid)
		}
		subject["name"] = c.Name
	}
	if c.BirthDate != "" {
		// Not after today anywhere: the date at UTC+14, as documents are
		// checked (identity.Validator), at any time of now's UTC day
		// (enrollment issues at the day's start).
		first, last, err := birthRange(c.BirthDate)
		if err != nil || first.After(now.Add(24*time.Hour)) || first.Year() < 1850 {
			return nil, fmt.Errorf("%w: birth date must be a past date, YYYY-MM-DD, YYYY-MM or YYYY", ErrInvalid)
		}
		if first.Equal(last) {
			subject["birthDate"] = c.BirthDate
		}
		// An age claim is made only where every possible birth date
		// gives the same answer: never a guess.
		for _, years := range []int{18, 60} {
			if over := ageAtLeast(last, now, years); over || !ageAtLeast(first, now, years) {
				subject["age_over_"+strconv.Itoa(years)] = over
			}
		}
	}
	if c.Nationality != "" {
		if !nationalityRE.MatchString(c.Nationality) {
			return nil, fmt.Errorf("%w: nationality must be an ISO 3166-1 alpha-3 code", ErrInvalid)
		}
		subject["nationality"] = c.Nationality
	}
	life := c.ValidFor
	if life <= 0 {
		life = 365 * 24 * time.Hour
	}
	return map[string]any{
		"@context":          []any{ContextV2},
		"type":              []any{TypeCredential, TypeIdentityCredential},
		"validFrom":         FormatTime(now),
		"validUntil":        FormatTime(now.Add(life)),
		"credentialSubject": subject,
	}, nil
}

// birthRange is the first and last day a birth date given in full
// (YYYY-MM-DD) or in part (YYYY-MM, YYYY: ISO 8601 reduced precision, as
// a passport may give it) can be; the same day when given in full.
func birthRange(s string) (first, last time.Time, err error) {
	for _, layout := range []string{time.DateOnly, "2006-01", "2006"} {
		if len(s) != len(layout) {
			continue
		}
		if first, err = time.Parse(layout, s); err != nil {
			return first, last, err
		}
		switch layout {
		case time.DateOnly:
			return first, first, nil
		case "2006-01":
			return first, first.AddDate(0, 1, -1), nil
		}
		return first, first.AddDate(1, 0, -1), nil
	}
	return first, last, errors.New("not a date")
}

// ageAtLeast reports whether someone born on bd is at least years old on
// the calendar date of now (in the birth date's calendar: a person born on
// 29 February turns a year older on 1 March in common years).
func ageAtLeast(bd, now time.Time, years int) bool {
	y, m, d := now.Date()
	birthday := time.Date(bd.Year()+years, bd.Month(), bd.Day(), 0, 0, 0, 0, time.UTC)
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return !today.Before(birthday)
}

// AttributeCredential builds a generic attribute credential of type typ
// (e.g. ResidenceCredential) about subject with the given claims.
func AttributeCredential(typ, subject string, claims map[string]any, now time.Time, validFor time.Duration) (map[string]any, error) {
	if !typeNameRE.MatchString(typ) || typ == TypeCredential || typ == TypeIdentityCredential {
		return nil, fmt.Errorf("%w: attribute credential type must be a CamelCase name other than %s", ErrInvalid, TypeIdentityCredential)
	}
	sub, err := SubjectURI(subject)
	if err != nil {
		return nil, err
	}
	if len(claims) == 0 {
		return nil, errors.New("credentials: an attribute credential needs claims")
	}
	s := map[string]any{"id": sub}
	for k, v := range claims {
		if k == "id" {
			return nil, fmt.Errorf("%w: claims must not set id", ErrInvalid)
		}
		s[k] = v
	}
	c := map[string]any{
		"@context":          []any{ContextV2},
		"type":              []any{TypeCredential, typ},
		"validFrom":         FormatTime(now),
		"credentialSubject": s,
	}
	if validFor > 0 {
		c["validUntil"] = FormatTime(now.Add(validFor))
	}
	return c, nil
}
