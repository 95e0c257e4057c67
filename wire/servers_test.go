package wire

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAWaiterHandedASlotDialsInsteadOfHanging: when a slot frees up (a dial failed, a
// broken connection was discarded), the first waiter is handed a nil, meaning "dial in my
// place". It must dial, not take the nil for a timeout and then wait for a second hand-over
// that never comes.
func TestAWaiterHandedASlotDialsInsteadOfHanging(t *testing.T) {
	login := errors.New("no login on this test pool")
	p := &serverPool{max: 1, open: 1, queue: 10 * time.Second, loginErr: login, loginAt: time.Now()}
	done := make(chan error, 1)
	go func() {
		_, err := p.acquire(context.Background())
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		n := len(p.waiters)
		p.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acquire never queued")
		}
	}
	p.freeSlot()
	select {
	case err := <-done:
		// It dialed in the freed slot: the dial's own error, and the slot given back.
		if err == nil || !strings.Contains(err.Error(), login.Error()) {
			t.Fatalf("acquire: %v, want the dial's error", err)
		}
		p.mu.Lock()
		open := p.open
		p.mu.Unlock()
		if open != 0 {
			t.Fatalf("%d slots open after the failed dial, want 0", open)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter handed a slot still waits")
	}
}
