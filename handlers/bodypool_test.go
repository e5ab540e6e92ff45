package handlers

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBodyBufferClasses(t *testing.T) {
	for _, n := range []int{0, 1, 960, 961, 1 << 20, 16<<20 - bodyHeadroom, 16 << 20} {
		b := getBodyBuffer(n)
		if len(b) != n || cap(b)-n < bodyHeadroom {
			t.Errorf("getBodyBuffer(%d): len %d cap %d, want len %d and %d bytes of headroom", n, len(b), cap(b), n, bodyHeadroom)
		}
		putBodyBuffer(b)
		if again := getBodyBuffer(n); len(again) != n || cap(again)-n < bodyHeadroom {
			t.Errorf("getBodyBuffer(%d) from the pool: len %d cap %d", n, len(again), cap(again))
		}
	}
}

// TestPooledBodyRelease: the buffer goes back once, when the call is over and no Read is in progress —
// whichever comes last — and a Read after the release fails without touching it.
func TestPooledBodyRelease(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	var given sync.Map // buffer → *pooledBody, to check each is given back once, with no Read in progress
	var current atomic.Pointer[pooledBody]
	giveBack = func(buf []byte) {
		b := current.Load()
		if b.state.Load()&bodyReading != 0 {
			t.Error("the buffer was given back while a Read was copying from it")
		}
		if _, again := given.LoadOrStore(&buf[0], b); again {
			t.Error("the buffer was given back twice")
		}
	}
	defer func() { giveBack = putBodyBuffer }()

	b := &pooledBody{buf: bytes.Clone(data)}
	current.Store(b)
	if got, err := io.ReadAll(b); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	b.release()
	b.release() // a second release gives nothing back again
	if n, err := b.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBodyReleased) {
		t.Errorf("Read after release: %d, %v", n, err)
	}

	// Readers and a release racing (run with -race): one give-back each, and every byte read is the body's.
	for range 200 {
		b := &pooledBody{buf: bytes.Clone(data)}
		current.Store(b)
		var wg sync.WaitGroup
		wg.Add(2)
		var got []byte
		go func() {
			defer wg.Done()
			p := make([]byte, 333)
			for {
				n, err := b.Read(p)
				got = append(got, p[:n]...)
				if err != nil {
					return
				}
			}
		}()
		go func() { defer wg.Done(); b.release() }()
		wg.Wait()
		if !bytes.HasPrefix(data, got) {
			t.Fatal("read bytes that are not the body's")
		}
		if s := b.state.Load(); s != bodyReleased {
			t.Fatalf("state %b after the release and the last Read", s)
		}
		if _, ok := given.Load(&b.buf[0]); !ok {
			t.Fatal("the buffer was not given back")
		}
	}
}
