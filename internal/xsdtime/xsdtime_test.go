package xsdtime

import "testing"

func TestIsDateTimeStamp(t *testing.T) {
	for s, want := range map[string]bool{
		"2026-01-01T00:00:00Z":           true,
		"2026-01-01T08:00:00.5+08:00":    true,
		"2026-01-01T00:00:00-14:00":      true,
		"2026-01-01T00:00:00+14:00":      true,
		"2026-01-01T00:00:00.123456789Z": true,
		"2026-01-01T00:00:00,5Z":         false, // comma: time.Parse takes it
		"2026-01-01T00:00:00+14:01":      false, // beyond ±14:00: time.Parse takes it
		"2026-01-01T00:00:00+23:00":      false,
		"2026-01-01T00:00:00.Z":          false,
		"2026-01-01T00:00:00":            false, // no time zone
		"2026-01-01t00:00:00z":           false,
		"2026-01-01T24:00:00Z":           false,
		"0000-01-01T00:00:00Z":           false,
		"2026-13-01T00:00:00Z":           false,
		"2026-01-01 00:00:00Z":           false,
	} {
		if got := IsDateTimeStamp(s); got != want {
			t.Errorf("IsDateTimeStamp(%q) = %v, want %v", s, got, want)
		}
	}
}
