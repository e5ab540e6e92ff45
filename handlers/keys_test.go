package handlers

import (
	"context"
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
