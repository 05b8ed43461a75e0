package notify

import (
	"context"
	"sync"
	"time"
)

// limiterSweepAt is the number of tracked channels from which Wait forgets channels whose next
// allowed send is already past (they would not wait anyway).
const limiterSweepAt = 1024

// minInterval is the minimum spacing between two sends of one channel of typ.
func minInterval(typ string) time.Duration {
	switch typ {
	case TypeSlack:
		return time.Second
	case TypeDiscord:
		return 500 * time.Millisecond
	case TypeMSTeams:
		return 250 * time.Millisecond
	}
	return 0
}

// Limiter spaces the sends of each channel by its type's minimum interval (Slack 1/s …) within
// this process, so bursts wait instead of being refused. The zero value is ready to use; a
// Limiter must not be copied after first use.
type Limiter struct {
	mu   sync.Mutex
	next map[string]time.Time // channel id → earliest time of its next send
}

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter { return &Limiter{} }

// Wait blocks until channelID (of type typ) may send again, or ctx ends (then it returns
// ctx.Err()). Each successful Wait reserves a slot: concurrent callers for one channel are let
// through one interval apart, in the order they reserved.
func (l *Limiter) Wait(ctx context.Context, channelID, typ string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	interval := minInterval(typ)
	if interval <= 0 {
		return nil
	}
	slot, now := l.reserve(channelID, interval)
	delay := slot.Sub(now)
	if delay <= 0 {
		return nil
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		l.release(channelID, slot, interval)
		return ctx.Err()
	}
}

// reserve takes the next free slot of channelID and advances it by interval.
func (l *Limiter) reserve(channelID string, interval time.Duration) (slot, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = time.Now()
	if l.next == nil {
		l.next = map[string]time.Time{}
	}
	if len(l.next) >= limiterSweepAt {
		for id, t := range l.next {
			if !t.After(now) {
				delete(l.next, id)
			}
		}
	}
	slot = now
	if t, ok := l.next[channelID]; ok && t.After(now) {
		slot = t
	}
	l.next[channelID] = slot.Add(interval)
	return slot, now
}

// release gives back an unused slot when no later caller reserved after it.
func (l *Limiter) release(channelID string, slot time.Time, interval time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.next[channelID]; ok && t.Equal(slot.Add(interval)) {
		l.next[channelID] = slot
	}
}
