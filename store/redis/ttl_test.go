package redisstore

import (
	"testing"
	"time"
)

func TestTTLMillis(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		time.Nanosecond:               time.Millisecond,
		time.Millisecond:              time.Millisecond,
		1500 * time.Microsecond:       2 * time.Millisecond,
		time.Second:                   time.Second,
		time.Second + time.Nanosecond: time.Second + time.Millisecond,
		80 * time.Millisecond:         80 * time.Millisecond,
	} {
		if got := ttlMillis(in); got != want {
			t.Errorf("ttlMillis(%v) = %v, want %v", in, got, want)
		}
	}
}
