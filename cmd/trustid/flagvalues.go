package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
)

// Flags whose values have a form or a range check it when they are set
// (command line, TRUSTID_*, config file), so that `trustid serve` with a
// bad value stops naming the flag before it opens or writes anything.
// They read back with GetString and GetDuration.

// checkedFlag is a string flag whose check refuses a bad value.
type checkedFlag struct {
	s     string
	check func(string) error
}

func (v *checkedFlag) String() string { return v.s }
func (v *checkedFlag) Type() string   { return "string" }
func (v *checkedFlag) Set(s string) error {
	if err := v.check(s); err != nil {
		return err
	}
	v.s = s
	return nil
}

// addCheckedFlag adds a string flag whose values check accepts.
func addCheckedFlag(f *pflag.FlagSet, name, def, usage string, check func(string) error) {
	f.Var(&checkedFlag{s: def, check: check}, name, usage)
}

// addRateFlag adds a rate-limit flag: N/WINDOW, or 0 for none
// (api.ParseRateLimit).
func addRateFlag(f *pflag.FlagSet, name, def, usage string) {
	addCheckedFlag(f, name, def, usage, func(s string) error {
		_, err := api.ParseRateLimit("", s)
		return err
	})
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

// intFlag is an int within [min, max]; want says the range.
type intFlag struct {
	n, min, max int
	want        string
}

func (v *intFlag) String() string { return strconv.Itoa(v.n) }
func (v *intFlag) Type() string   { return "int" }
func (v *intFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return err
	}
	if int(n) < v.min || int(n) > v.max {
		return fmt.Errorf("%d: want %s", n, v.want)
	}
	v.n = int(n)
	return nil
}

// addIntFlag adds an int flag taking values in [min, max].
func addIntFlag(f *pflag.FlagSet, name string, def, min, max int, want, usage string) {
	f.Var(&intFlag{n: def, min: min, max: max, want: want}, name, usage)
}
