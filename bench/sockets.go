package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// openSockets dials every socket with open, at most 64 at once (a burst of thousands
// overflows accept queues), and waits until settled is done: at most timeout (onTimeout then
// says what is missing), or until ctx ends, which closes them all and returns its error.
// closeAll marks the run closing, closes every socket with shut and waits until each is over
// (done is its channel, closed when its reader ended or it never opened).
func openSockets[S any](ctx context.Context, sockets []S, open, shut func(S), done func(S) <-chan struct{},
	settled *sync.WaitGroup, closing *atomic.Bool, timeout time.Duration, onTimeout func()) (closeAll func(), err error) {
	dialing := make(chan struct{}, 64)
	var opened sync.WaitGroup
	for _, s := range sockets {
		opened.Add(1)
		dialing <- struct{}{}
		go func() {
			defer opened.Done()
			open(s)
			<-dialing
		}()
	}
	closeAll = sync.OnceFunc(func() {
		opened.Wait()
		closing.Store(true)
		for _, s := range sockets {
			shut(s)
		}
		for _, s := range sockets {
			<-done(s)
		}
	})
	allSettled := make(chan struct{})
	go func() { settled.Wait(); close(allSettled) }()
	select {
	case <-allSettled:
	case <-time.After(timeout):
		onTimeout()
	case <-ctx.Done():
		closeAll()
		return nil, ctx.Err()
	}
	opened.Wait()
	return closeAll, nil
}
