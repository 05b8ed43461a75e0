package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLimiterSpacesSlackSends(t *testing.T) {
	t.Parallel()
	l := NewLimiter()
	ctx := context.Background()
	start := time.Now()
	if err := l.Wait(ctx, "chan-1", TypeSlack); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if err := l.Wait(ctx, "chan-1", TypeSlack); err != nil {
		t.Fatal(err)
	}
	if gap := time.Since(start); gap < 900*time.Millisecond {
		t.Errorf("second slack send after %v, want ≥ ~1s", gap)
	}
	if first > 500*time.Millisecond {
		t.Errorf("first send waited %v, want no wait", first)
	}
}

func TestLimiterChannelsAreIndependent(t *testing.T) {
	t.Parallel()
	l := NewLimiter()
	ctx := context.Background()
	if err := l.Wait(ctx, "chan-a", TypeSlack); err != nil {
		t.Fatal(err)
	}
	// The next slot of chan-a is a second away; other channels and types must not see it.
	start := time.Now()
	for _, c := range []struct{ id, typ string }{{"chan-b", TypeSlack}, {"chan-c", TypeWebhook}, {"chan-c", TypeWebhook}, {"chan-d", TypeEmail}} {
		if err := l.Wait(ctx, c.id, c.typ); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("independent waits took %v", d)
	}
}

func TestLimiterConcurrentCallersAreSpaced(t *testing.T) {
	t.Parallel()
	l := &Limiter{} // the zero value works too
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(ctx, "chan-teams", TypeMSTeams); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Three reservations 250 ms apart: the last one is let through ≥ 500 ms after the first.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("three concurrent msteams sends took %v, want ≥ ~500ms", d)
	}
}

func TestLimiterCancelledContextReturnsPromptly(t *testing.T) {
	t.Parallel()
	l := NewLimiter()
	if err := l.Wait(context.Background(), "chan-1", TypeSlack); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, "chan-1", TypeSlack) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("Wait did not return after cancellation")
	}

	already, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := l.Wait(already, "chan-2", TypeWebhook); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a done context = %v, want context.Canceled", err)
	}
}

func TestMinInterval(t *testing.T) {
	t.Parallel()
	want := map[string]time.Duration{
		TypeSlack: time.Second, TypeDiscord: 500 * time.Millisecond, TypeMSTeams: 250 * time.Millisecond,
		TypeWebhook: 0, TypePagerDuty: 0, TypeEmail: 0, "unknown": 0,
	}
	for typ, d := range want {
		if got := minInterval(typ); got != d {
			t.Errorf("minInterval(%s) = %v, want %v", typ, got, d)
		}
	}
}
