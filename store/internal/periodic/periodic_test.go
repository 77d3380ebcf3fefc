package periodic

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestRunWarnsOncePerFailureRun: fn runs on every tick; a run of failures
// is reported once, and again after a success; Run returns when done is
// closed.
func TestRunWarnsOncePerFailureRun(t *testing.T) {
	outcomes := []error{nil, errors.New("a"), errors.New("b"), nil, errors.New("c")}
	var mu sync.Mutex
	calls := 0
	var warned []string
	done := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		Run(done, time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			i := calls
			calls++
			if i == len(outcomes)-1 {
				close(done)
			}
			if i < len(outcomes) {
				return outcomes[i]
			}
			return nil
		}, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			warned = append(warned, err.Error())
		})
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after done was closed")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warned) != 2 || warned[0] != "a" || warned[1] != "c" {
		t.Fatalf("warned %v, want [a c] (one warning per run of failures)", warned)
	}
}

func TestSweepInterval(t *testing.T) {
	for _, tt := range []struct{ age, want time.Duration }{
		{time.Second, time.Second},
		{30 * time.Second, 3 * time.Second},
		{720 * time.Hour, time.Minute},
	} {
		if got := SweepInterval(tt.age); got != tt.want {
			t.Errorf("SweepInterval(%v) = %v, want %v", tt.age, got, tt.want)
		}
	}
}
