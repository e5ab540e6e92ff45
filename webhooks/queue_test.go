package webhooks

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// tryNext is take without the wait.
func tryNext(s *schedule) *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next()
}

func ids(items ...*item) []string {
	var out []string
	for _, it := range items {
		if it == nil {
			out = append(out, "<nil>")
		} else {
			out = append(out, it.id)
		}
	}
	return out
}

func TestScheduleReleasesInTimeOrder(t *testing.T) {
	s := newSchedule(1000)
	const n = 10000
	for i := range n {
		s.add("d"+strconv.Itoa(i), "ep", noon.Add(time.Duration(rand.IntN(3600))*time.Second))
	}
	if next := s.release(noon.Add(-time.Second)); next.IsZero() || next.Before(noon) {
		t.Fatalf("next due %v", next)
	}
	s.lanes["ep"].healthy = true
	var last time.Time
	released := 0
	for h := 0; h <= 3600; h += 60 {
		s.release(noon.Add(time.Duration(h) * time.Second))
		for it := tryNext(s); it != nil; it = tryNext(s) {
			if it.at.Before(last) || it.at.After(noon.Add(time.Duration(h)*time.Second)) {
				t.Fatalf("released %v after %v at %ds", it.at, last, h)
			}
			last = it.at
			released++
			s.finish(it, time.Time{}, false, nil)
		}
	}
	if released != n {
		t.Errorf("released %d of %d", released, n)
	}
	if len(s.items) != 0 || len(s.lanes) != 0 || len(s.heap) != 0 {
		t.Errorf("left behind: %d items, %d lanes, %d in the heap", len(s.items), len(s.lanes), len(s.heap))
	}
}

// Lanes take turns; a lane runs one attempt at a time until one succeeds, then up to its limit.
func TestScheduleLanesAndLimits(t *testing.T) {
	s := newSchedule(2)
	for i, ep := range []string{"a", "a", "a", "a", "b", "b"} {
		s.add(ep+string(rune('0'+i)), ep, noon)
	}
	s.release(noon)
	a1, b1 := tryNext(s), tryNext(s)
	if a1 == nil || b1 == nil || a1.endpoint != "a" || b1.endpoint != "b" {
		t.Fatalf("first two: %v", ids(a1, b1))
	}
	if it := tryNext(s); it != nil {
		t.Fatalf("a third attempt while both lanes are untried: %v", it.id)
	}
	ok := true
	s.finish(a1, time.Time{}, false, &ok) // a is healthy: two at once now
	a2, a3 := tryNext(s), tryNext(s)
	if a2 == nil || a3 == nil || a2.endpoint != "a" || a3.endpoint != "a" {
		t.Fatalf("after a success: %v", ids(a2, a3))
	}
	if it := tryNext(s); it != nil {
		t.Fatalf("over a's limit of 2: %v", it.id)
	}
	bad := false
	s.finish(a2, noon.Add(time.Minute), true, &bad) // a fails: back to one at a time (a3 still runs)
	if it := tryNext(s); it != nil {
		t.Fatalf("a failing lane ran another: %v", it.id)
	}
	s.finish(a3, time.Time{}, false, nil)
	if it := tryNext(s); it == nil || it.endpoint != "a" {
		t.Fatalf("a's last ready delivery: %v", ids(it))
	}
}

// A manual retry claims a delivery wherever it is; a retry during an attempt is handed to the worker.
func TestScheduleHold(t *testing.T) {
	s := newSchedule(4)
	s.add("waiting", "ep", noon.Add(time.Hour))
	s.add("ready", "ep", noon)
	s.release(noon)

	if !s.hold("waiting", "ep") || !s.hold("ready", "ep") || !s.hold("unknown", "ep") {
		t.Fatal("hold refused an idle delivery")
	}
	if s.hold("ready", "ep") {
		t.Fatal("a held delivery was held twice")
	}
	if it := tryNext(s); it != nil {
		t.Fatalf("a held delivery was taken: %s", it.id)
	}
	if next := s.release(noon.Add(2 * time.Hour)); !next.IsZero() {
		t.Fatalf("a held delivery is still in the heap, due %v", next)
	}
	s.unhold("ready", noon, true)
	s.unhold("unknown", noon, true)
	s.unhold("waiting", noon, false) // the store refused: it leaves the schedule
	s.release(noon)
	var got []*item
	for it := tryNext(s); it != nil; it = tryNext(s) {
		got = append(got, it)
	}
	if len(got) != 1 { // a new lane: one at a time
		t.Fatalf("taken %v", ids(got...))
	}
	if s.hold(got[0].id, "ep") {
		t.Fatal("a running delivery was held")
	}
	if again := s.finish(got[0], time.Time{}, false, nil); !again {
		t.Fatal("the retry during the attempt was lost")
	}
	if again := s.finish(got[0], noon, true, nil); again {
		t.Fatal("the retry was handed over twice")
	}
	if _, ok := s.items["waiting"]; ok {
		t.Error("a delivery the store refused stayed in the schedule")
	}
	if n, _ := s.counts(); n != 2 {
		t.Errorf("%d deliveries scheduled, want 2", n)
	}
}
