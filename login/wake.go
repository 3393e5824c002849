package login

import "time"

// The long poll (Wait) reads its session at once, then again after
// pauses doubling from firstPollPause to maxPollPause, so a 25 s poll
// reads it at most 16 times (it read it every 200 ms, 125 times, before).
// An answer wakes the polls of its session at once through the store
// (Store.Notify, Store.Watch): at this instance, and at the others of
// the region sharing its Redis. A wake that is lost (Redis restarting,
// the subscription connecting again) leaves the answer to the poll's
// next read, within maxPollPause.
const (
	firstPollPause = 200 * time.Millisecond
	maxPollPause   = 2 * time.Second
)
