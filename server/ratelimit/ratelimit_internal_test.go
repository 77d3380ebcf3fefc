package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestSweepDropsIdleBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Options{Rate: 1, Burst: 5, IdleTTL: time.Minute, MaxKeys: 100, Now: func() time.Time { return now }})
	defer l.Close()
	l.Allow(context.Background(), "old")
	now = now.Add(30 * time.Second)
	l.Allow(context.Background(), "new")
	now = now.Add(45 * time.Second) // old idle 75s, new idle 45s
	l.sweep()
	if n := l.Len(); n != 1 {
		t.Fatalf("after sweep Len() = %d, want 1", n)
	}
	if _, ok := l.shards[0].m["new"]; !ok {
		t.Error("sweep dropped the bucket used 45s ago, want it kept")
	}
	now = now.Add(time.Minute)
	l.sweep()
	if n := l.Len(); n != 0 {
		t.Errorf("after second sweep Len() = %d, want 0", n)
	}
}

func TestIdleTTLAtLeastRefillTime(t *testing.T) {
	l := New(Options{Rate: 0.01, Burst: 10, IdleTTL: time.Second})
	defer l.Close()
	if want := 1000 * time.Second; l.ttl != want {
		t.Errorf("ttl = %v, want %v (time to refill)", l.ttl, want)
	}
}
