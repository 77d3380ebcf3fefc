// Package periodic runs the background chores of the store backends (a
// poll, a sweep) on a ticker, logging a failure once per run of failures.
package periodic

import "time"

// Run calls fn every interval until done is closed. When fn fails, warn is
// called with its error, once: later failures are not reported again until
// fn has succeeded. Run returns when done is closed.
func Run(done <-chan struct{}, interval time.Duration, fn func() error, warn func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if err := fn(); err != nil {
			if !failing {
				warn(err)
			}
			failing = true
			continue
		}
		failing = false
	}
}

// SweepInterval is how often a sweep for things older than age runs: a
// tenth of age, between once a second and once a minute.
func SweepInterval(age time.Duration) time.Duration {
	return min(max(age/10, time.Second), time.Minute)
}
