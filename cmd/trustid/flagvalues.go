package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
)

// Flags whose values have a form or a range check it when they are set
// (command line, TRUSTID_*, config file), so that `trustid serve` with a
// bad value stops naming the flag before it opens or writes anything.
// They read back with GetString and GetDuration.

// rateFlag is a rate limit: N/WINDOW, or 0 for none (api.ParseRateLimit).
type rateFlag string

func (r *rateFlag) String() string { return string(*r) }
func (r *rateFlag) Type() string   { return "string" }
func (r *rateFlag) Set(s string) error {
	if _, err := api.ParseRateLimit("", s); err != nil {
		return err
	}
	*r = rateFlag(s)
	return nil
}

// addRateFlag adds a rate-limit flag.
func addRateFlag(f *pflag.FlagSet, name, def, usage string) {
	v := rateFlag(def)
	f.Var(&v, name, usage)
}

// durationFlag is a duration within [min, max]; want says the range.
type durationFlag struct {
	d        time.Duration
	min, max time.Duration
	want     string
}

func (v *durationFlag) String() string { return v.d.String() }
func (v *durationFlag) Type() string   { return "duration" }
func (v *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < v.min || d > v.max {
		return fmt.Errorf("%v: want %s", d, v.want)
	}
	v.d = d
	return nil
}

// addDurationFlag adds a duration flag taking values in [min, max].
func addDurationFlag(f *pflag.FlagSet, name string, def, min, max time.Duration, want, usage string) {
	f.Var(&durationFlag{d: def, min: min, max: max, want: want}, name, usage)
}

// forever is the largest duration, for a durationFlag with no upper bound.
const forever = time.Duration(1<<63 - 1)
