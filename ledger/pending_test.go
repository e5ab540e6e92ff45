package ledger

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// hasPointers reports whether values of t hold a pointer the collector would follow.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Float32,
		reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true // pointers, strings, slices, maps, channels, funcs, interfaces
}

// The collector does not scan the pending entries: their keys, their entries and their sketches' arrays hold
// no pointers. Thousands wait at once, and with pointers they were about half of what a collection marked.
func TestPendingEntriesHoldNoPointers(t *testing.T) {
	for _, v := range []any{pendingKey{}, pendingRow{}, uint32(0), sketchArena{}.lists, sketchArena{}.bins} {
		typ := reflect.TypeOf(v)
		if typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if hasPointers(typ) {
			t.Errorf("%v holds pointers", reflect.TypeOf(v))
		}
	}
	if !hasPointers(reflect.TypeOf(Rollup{})) { // the check itself
		t.Error("hasPointers misses the sketches' slices")
	}
	if k, v := reflect.TypeOf(pendingEntries{}.index).Key(), reflect.TypeOf(pendingEntries{}.index).Elem(); k != reflect.TypeOf(pendingKey{}) || v.Kind() != reflect.Uint32 {
		t.Errorf("entries found by %v -> %v", k, v)
	}
}

// A key names its tenant, model and type by index: one name each however many records brought their own copy
// of it, and entries in shared slabs, which a reset lets go.
func TestPendingEntriesShareNamesAndSlabs(t *testing.T) {
	var a aggregates
	at := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	for i := range 3 * pendingSlab {
		for range 2 {
			op := testOp("", fmt.Sprint("t", i), at)
			op.Model = strings.Clone("gpt-4o-mini")
			a.add(op, true)
		}
	}
	if a.size() != 3*pendingSlab {
		t.Fatalf("%d entries, want %d", a.size(), 3*pendingSlab)
	}
	if want := 3*pendingSlab + 2; len(a.names) != want { // the tenants, one model, one type
		t.Errorf("%d names, want %d", len(a.names), want)
	}
	a.each(func(k pendingKey, tenant, model, opType string, row *pendingRow) error {
		if model != "gpt-4o-mini" || opType != "chat" || row.Requests != 2 || row.counted != 2 {
			t.Fatalf("entry %q: model %q, type %q, %d requests, %d counted; want gpt-4o-mini, chat, 2, 2", tenant, model, opType, row.Requests, row.counted)
		}
		return nil
	})
	if len(a.slabs) != 3 {
		t.Errorf("%d slabs for %d entries, want 3", len(a.slabs), 3*pendingSlab)
	}
	a.reset()
	if len(a.slabs) != 0 || len(a.names) != 0 || len(a.ids[0])+len(a.ids[1]) != 0 || a.arena.bytes() != 0 || a.bytes() != 0 {
		t.Errorf("reset kept %d slabs, %d names, %d ids, %d bytes of sketches", len(a.slabs), len(a.names), len(a.ids[0])+len(a.ids[1]), a.arena.bytes())
	}
	a.add(testOp("", "t0", at), true)
	if a.size() != 1 || a.names[0] != "t0" {
		t.Errorf("after reset: %d entries, names %q", a.size(), a.names)
	}
}

// The pending sketches follow Sketch's rules with their buckets in the arena: whatever order the records of
// many entries come in, each entry reads back as exactly the Rollup of its records, through lists, lists
// moved to grow, bins and bins grown either way.
func TestPendingSketchesMatchSketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	const tenants = 40
	var a aggregates
	want := make([]Rollup, tenants+2)
	// Tenant i has 20*i records, with latencies spread over fewer buckets the larger i is, so that the larger
	// ones go to bins; the odd ones drift down, so that bins grow downwards too.
	for round := range 20 * tenants {
		for i := range tenants {
			if round >= 20*i {
				continue
			}
			op := testOp("", fmt.Sprint("t", i), at)
			log := 8 + rng.NormFloat64()*1.5/(1+float64(i)/4)
			if i%2 == 1 {
				log -= float64(round) / float64(40*tenants)
			}
			op.Latency = time.Duration(math.Exp(log) * float64(time.Microsecond))
			op.TTFB = op.Latency / 3
			if round%9 == 4 {
				op.Outcome = OutcomeDeniedRate // no timings
			}
			a.add(op, true)
			want[i].Add(op)
		}
	}
	// Alone at the arena's end, bins grow in place: latencies that rise, after a narrow start.
	for n := range 600 {
		op := testOp("", fmt.Sprint("t", tenants), at)
		op.Latency = time.Duration(1000+max(0, n-300)*10) * time.Microsecond
		a.add(op, true)
		want[tenants].Add(op)
	}
	denied := testOp("", fmt.Sprint("t", tenants+1), at) // empty sketches
	denied.Outcome = OutcomeDeniedQuota
	a.add(denied, true)
	want[tenants+1].Add(denied)
	binned, moved := 0, 0
	expectPending(t, &a, func(tenant string) *Rollup {
		var i int
		fmt.Sscanf(tenant, "t%d", &i)
		return &want[i]
	}, func(row *pendingRow) {
		if row.latency.sketch.binned {
			binned++
		}
		if row.latency.sketch.at != 0 && !row.latency.sketch.binned {
			moved++
		}
	})
	if binned < 2 || binned > tenants || moved == 0 {
		t.Errorf("%d of %d latency sketches binned, %d lists moved: the test misses a case", binned, tenants, moved)
	}
}

// expectPending checks that each entry of a reads back as the Rollup want gives for its tenant.
func expectPending(t *testing.T, a *aggregates, want func(tenant string) *Rollup, also func(*pendingRow)) {
	t.Helper()
	a.each(func(_ pendingKey, tenant string, _, _ string, row *pendingRow) error {
		got, want := row.rollup(&a.arena), want(tenant)
		if got.rollupCounts != want.rollupCounts || got.Latency.timingStats != want.Latency.timingStats ||
			got.TTFB.timingStats != want.TTFB.timingStats {
			t.Errorf("%s: counts %+v, want %+v", tenant, got, *want)
		}
		for _, s := range []struct {
			name      string
			got, want *Sketch
		}{{"latency", &got.Latency.Sketch, &want.Latency.Sketch}, {"ttfb", &got.TTFB.Sketch, &want.TTFB.Sketch}} {
			if g, w := buckets(s.got), buckets(s.want); g != w || s.got.Count() != s.want.Count() {
				t.Errorf("%s %s: %d values %s, want %d %s", tenant, s.name, s.got.Count(), g, s.want.Count(), w)
			}
		}
		if also != nil {
			also(row)
		}
		return nil
	})
}

// The room that lists leave behind when they move to grow is gathered once there is more than half as much of
// it as the lists hold, so that the arena stays within a small factor of what the sketches hold, and every entry still
// reads back exactly.
func TestPendingSketchesGatherTheRoomLeft(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	at := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	const tenants = 3000
	var a aggregates
	want := map[string]*Rollup{}
	gathered := 0
	for round := range 40 {
		for i := range tenants {
			op := testOp("", fmt.Sprint("t", i), at)
			spread := 2.0
			if i%10 == 0 { // these go to bins
				spread = 0.05
			}
			op.Latency = time.Duration(math.Exp(8+rng.NormFloat64()*spread) * float64(time.Microsecond))
			op.TTFB = op.Latency / 3
			held := len(a.arena.lists)
			a.add(op, true)
			if len(a.arena.lists) < held {
				gathered++
			}
			if want[op.TenantID] == nil {
				want[op.TenantID] = new(Rollup)
			}
			want[op.TenantID].Add(op)
		}
		if len(a.arena.lists) > a.arena.listsHeld*3/2+32<<10 {
			t.Fatalf("round %d: %d list values kept for %d held", round, len(a.arena.lists), a.arena.listsHeld)
		}
	}
	if gathered == 0 {
		t.Fatal("the lists were never gathered")
	}
	lists, bins := 0, 0
	expectPending(t, &a, func(tenant string) *Rollup { return want[tenant] }, func(row *pendingRow) {
		for _, s := range []*pendingSketch{&row.latency.sketch, &row.ttfb.sketch} {
			if s.binned {
				bins += int(s.room)
			} else {
				lists += int(s.room)
			}
		}
	})
	if lists != a.arena.listsHeld || bins != a.arena.binsHeld || bins == 0 {
		t.Errorf("the sketches hold %d list values and %d bins, the arena counts %d and %d", lists, bins, a.arena.listsHeld, a.arena.binsHeld)
	}
}

// buckets is the sketch's buckets and counts, in order.
func buckets(s *Sketch) string {
	var b strings.Builder
	s.each(func(i int, n uint64) { fmt.Fprintf(&b, "%d:%d ", i, n) })
	return b.String()
}

// Adding a record to an entry that has room for it allocates nothing.
func TestPendingAddAllocatesNothing(t *testing.T) {
	var a aggregates
	op := testOp("", "acme", time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC))
	op.TTFB = op.Latency / 2
	for range 1000 { // bins over the one bucket
		a.add(op, true)
	}
	if n := testing.AllocsPerRun(100, func() { a.add(op, true) }); n != 0 {
		t.Errorf("%.1f allocations a record, want 0", n)
	}
}
