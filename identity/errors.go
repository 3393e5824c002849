package identity

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by the parsers is a *FieldError
// whose Err is one of these, so errors.Is(err, ErrCheckDigit) and
// errors.As(err, &fe) both work. No message ever contains the input.
var (
	ErrInputTooLarge       = errors.New("identity: input too large")
	ErrInvalidLength       = errors.New("identity: invalid length")
	ErrInvalidCharacter    = errors.New("identity: invalid character")
	ErrCheckDigit          = errors.New("identity: check character mismatch")
	ErrInvalidBirthDate    = errors.New("identity: invalid birth date")
	ErrFutureBirthDate     = errors.New("identity: birth date in the future")
	ErrBirthDateBefore1900 = errors.New("identity: birth date before 1900-01-01")
	ErrUnknownProvince     = errors.New("identity: unknown province")
	ErrUnknownAddressCode  = errors.New("identity: unknown address code")
	ErrUnknownNationality  = errors.New("identity: unknown nationality")
	ErrUnsupportedDocument = errors.New("identity: unsupported document")
	ErrWrongDocumentType   = errors.New("identity: wrong document type")
	ErrInvalidName         = errors.New("identity: invalid name")
	ErrInvalidSex          = errors.New("identity: invalid sex")
	ErrInvalidExpiryDate   = errors.New("identity: invalid expiry date")
	ErrDocumentExpired     = errors.New("identity: document expired")
	ErrCompositeCheckDigit = errors.New("identity: MRZ composite check digit mismatch")
)

// Code is a stable, machine-readable error code. Codes are part of the API:
// they may be added to, never renamed. Each code goes with one sentinel.
type Code string

// The error codes, with the sentinel each one wraps.
const (
	CodeInputTooLarge        Code = "input_too_large"        // ErrInputTooLarge: more than MaxInputLen bytes
	CodeInvalidLength        Code = "invalid_length"         // ErrInvalidLength: no document has this length
	CodeInvalidCharacter     Code = "invalid_character"      // ErrInvalidCharacter: a character not allowed at its position
	CodeCheckDigitMismatch   Code = "check_digit_mismatch"   // ErrCheckDigit: MOD 11-2, 7-3-1 or MRZ field check digit wrong
	CodeInvalidBirthDate     Code = "invalid_birth_date"     // ErrInvalidBirthDate: not a calendar date
	CodeFutureBirthDate      Code = "future_birth_date"      // ErrFutureBirthDate: after today
	CodeBirthDateBefore1900  Code = "birth_date_before_1900" // ErrBirthDateBefore1900
	CodeUnknownProvince      Code = "unknown_province"       // ErrUnknownProvince: first two digits are no province
	CodeUnknownAddressCode   Code = "unknown_address_code"   // ErrUnknownAddressCode: county code in no table (Strict only)
	CodeUnknownNationality   Code = "unknown_nationality"    // ErrUnknownNationality: not an ISO 3166-1 code (Strict only)
	CodeUnsupportedDocument  Code = "unsupported_document"   // ErrUnsupportedDocument: e.g. an MRZ that is not a TD3 passport
	CodeWrongDocumentType    Code = "wrong_document_type"    // ErrWrongDocumentType: ParseAs was given another type's number
	CodeInvalidName          Code = "invalid_name"           // ErrInvalidName: MRZ name field empty or malformed
	CodeInvalidSex           Code = "invalid_sex"            // ErrInvalidSex: MRZ sex not M, F, X or <
	CodeInvalidExpiryDate    Code = "invalid_expiry_date"    // ErrInvalidExpiryDate: not a calendar date
	CodeDocumentExpired      Code = "document_expired"       // ErrDocumentExpired: expired (RejectExpired only)
	CodeMRZCompositeMismatch Code = "mrz_composite_mismatch" // ErrCompositeCheckDigit
)

var codeSentinels = [...]struct {
	code Code
	err  error
}{
	{CodeInputTooLarge, ErrInputTooLarge},
	{CodeInvalidLength, ErrInvalidLength},
	{CodeInvalidCharacter, ErrInvalidCharacter},
	{CodeCheckDigitMismatch, ErrCheckDigit},
	{CodeInvalidBirthDate, ErrInvalidBirthDate},
	{CodeFutureBirthDate, ErrFutureBirthDate},
	{CodeBirthDateBefore1900, ErrBirthDateBefore1900},
	{CodeUnknownProvince, ErrUnknownProvince},
	{CodeUnknownAddressCode, ErrUnknownAddressCode},
	{CodeUnknownNationality, ErrUnknownNationality},
	{CodeUnsupportedDocument, ErrUnsupportedDocument},
	{CodeWrongDocumentType, ErrWrongDocumentType},
	{CodeInvalidName, ErrInvalidName},
	{CodeInvalidSex, ErrInvalidSex},
	{CodeInvalidExpiryDate, ErrInvalidExpiryDate},
	{CodeDocumentExpired, ErrDocumentExpired},
	{CodeMRZCompositeMismatch, ErrCompositeCheckDigit},
}

// Codes returns every error code of document parsing, in a stable order.
// AllCodes adds the codes of symbols, attestations, PINs and the rest.
func Codes() []Code {
	out := make([]Code, len(codeSentinels))
	for i, c := range codeSentinels {
		out[i] = c.code
	}
	return out
}

// Sentinel returns the sentinel error of a code (any of AllCodes), or nil
// for an unknown code.
func (c Code) Sentinel() error {
	for _, s := range codeSentinels {
		if s.code == c {
			return s.err
		}
	}
	for _, s := range moreSentinels {
		if s.code == c {
			return s.err
		}
	}
	return nil
}

// Field names used in FieldError.Field. Like codes, they are stable.
const (
	FieldInput          = "input"           // the input as a whole (size, length, line layout)
	FieldNumber         = "number"          // the characters of an ID number
	FieldAddressCode    = "address_code"    // GB/T 2260 address code (digits 1-6)
	FieldBirthDate      = "birth_date"      // birth date
	FieldCheckCharacter = "check_character" // final check character of an ID number
	FieldProvince       = "province"        // issuing province of a foreigner's card
	FieldNationality    = "nationality"     // nationality code
	FieldDocumentCode   = "document_code"   // MRZ document code (P)
	FieldIssuingState   = "issuing_state"   // MRZ issuing state
	FieldName           = "name"            // MRZ name field
	FieldDocumentNumber = "document_number" // MRZ document number
	FieldSex            = "sex"             // MRZ sex
	FieldExpiryDate     = "expiry_date"     // MRZ date of expiry
	FieldOptionalData   = "optional_data"   // MRZ optional data (personal number)
	FieldComposite      = "composite"       // MRZ composite check digit
)

// FieldError reports which field of a document is at fault and why. Its
// message is safe to show and log: it names the field and the rule, never
// the value.
type FieldError struct {
	Field string // one of the Field constants
	Code  Code   // stable machine-readable code
	Err   error  // the sentinel for Code
}

func (e *FieldError) Error() string {
	msg := "identity: invalid document"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Field == "" {
		return msg
	}
	return "identity: " + e.Field + ": " + strings.TrimPrefix(msg, "identity: ")
}

// Unwrap returns the sentinel, for errors.Is.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, code Code) error {
	return &FieldError{Field: field, Code: code, Err: code.Sentinel()}
}
