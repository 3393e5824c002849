package main

import (
	"testing"
	"time"
)

// TestStepProgressSmoke: the progress line of a measurement counts the
// steps done and the share of the current step's window.
func TestStepProgressSmoke(t *testing.T) {
	now := time.Unix(0, 0)
	p := &stepProgress{steps: 4, now: func() time.Time { return now }}
	if s := p.status(); s.Fraction != 0 || s.Done != 0 {
		t.Errorf("before: %+v", s)
	}
	p.begin("token c=1", 10*time.Second)
	now = now.Add(5 * time.Second)
	if s := p.status(); s.Label != "token c=1" || s.Fraction != 0.125 {
		t.Errorf("half a step: %+v", s)
	}
	now = now.Add(time.Minute) // a step longer than its window counts once
	if s := p.status(); s.Fraction != 0.25 {
		t.Errorf("overrun: %+v", s)
	}
	p.end()
	if s := p.status(); s.Done != 1 || s.Fraction != 0.25 {
		t.Errorf("after a step: %+v", s)
	}
}
