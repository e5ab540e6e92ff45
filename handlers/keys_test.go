package handlers

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"unsafe"
)

// A cached owner is few objects: its ids one string, its plan and status shared with every other entry's.
// Thousands stay cached, and the collector's work grows with the objects alive.
func TestDirectoryEntriesShareTheirStrings(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	var plan, status *byte
	for i := range 3 {
		id := fmt.Sprint("tenant", i)
		o, found, err := rt.keys.Lookup(ctx, HashKey(rt.tenant(t, id, "small")))
		if err != nil || !found {
			t.Fatalf("lookup: found %v, %v", found, err)
		}
		if o.TenantID != id || o.Plan != "small" || o.Status != "active" || o.KeyID == "" {
			t.Fatalf("owner %+v", o)
		}
		if unsafe.StringData(o.TenantID) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(o.KeyID)), len(o.KeyID))) {
			t.Errorf("%s: key and tenant ids are two strings", id)
		}
		if i == 0 {
			plan, status = unsafe.StringData(o.Plan), unsafe.StringData(o.Status)
		} else if unsafe.StringData(o.Plan) != plan || unsafe.StringData(o.Status) != status {
			t.Errorf("%s: its own copy of the plan or status name", id)
		}
	}
}

// The directory's fixed cost, ristretto's admission counters, stays small at the default size: a live megabyte
// is about two of resident memory. Ten counters a key (ristretto's suggestion) took 4.5 MB.
func TestDirectoryFixedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := NewDirectory(nil, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 2_500_000 {
		t.Errorf("an empty directory of 100,000 keys takes %.1f MB, want at most 2.5", float64(grew)/1e6)
	}
	runtime.KeepAlive(d)
	d.cache.Close()
}

// A reload that changes key_cache_size resizes the running directory: more keys stay cached after it grows,
// and no more than the new size after it shrinks.
func TestDirectoryResize(t *testing.T) {
	rt := newTestRuntime(t)
	d, err := NewDirectory(rt.store, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var hashes [][32]byte
	for i := range 40 {
		hashes = append(hashes, HashKey(rt.tenant(t, fmt.Sprint("tenant", i), "small")))
	}
	cached := func() int {
		for _, h := range hashes {
			if _, found, err := d.Lookup(ctx, h); err != nil || !found {
				t.Fatalf("lookup: found %v, %v", found, err)
			}
		}
		d.cache.Wait()
		n := 0
		for _, h := range hashes {
			if _, ok := d.cache.Get(binary.LittleEndian.Uint64(h[:8])); ok {
				n++
			}
		}
		return n
	}
	if n := cached(); n > 4 || d.Size() != 4 {
		t.Fatalf("size %d: %d keys cached", d.Size(), n)
	}
	d.Resize(100)
	if n := cached(); n < 36 || d.Size() != 100 {
		t.Errorf("grown to %d: %d of 40 keys cached", d.Size(), n)
	}
	d.Resize(4)
	for i := range 5 { // keys leave the cache as new ones come in
		hashes = append(hashes, HashKey(rt.tenant(t, fmt.Sprint("newcomer", i), "small")))
	}
	if n := cached(); n > 4 || d.Size() != 4 {
		t.Errorf("shrunk to %d: %d keys cached", d.Size(), n)
	}
}
