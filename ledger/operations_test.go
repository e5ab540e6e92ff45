package ledger

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testOp is a counted, successful chat operation; tests change what they are about.
func testOp(id, tenant string, at time.Time) *Operation {
	return &Operation{
		ID: id, At: at, TenantID: tenant, KeyID: "key_" + tenant, Type: "chat", Method: "POST",
		Path: "/v1/chat/completions", Status: 200, Outcome: OutcomeOK, Counted: true, Latency: 1500 * time.Microsecond,
	}
}

func TestRandomBase62(t *testing.T) {
	for _, n := range []int{0, 1, 7, 22, 64, 1000} {
		t.Run(fmt.Sprint("length ", n), func(t *testing.T) {
			s := RandomBase62(n)
			if len(s) != n {
				t.Fatalf("len = %d, want %d", len(s), n)
			}
			if i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(base62, r) }); i >= 0 {
				t.Errorf("character %q outside [0-9A-Za-z] in %q", s[i], s)
			}
		})
	}
	t.Run("alphabet fully used", func(t *testing.T) {
		if len(base62) != 62 {
			t.Fatalf("alphabet has %d characters", len(base62))
		}
		seen := map[rune]bool{}
		for _, r := range RandomBase62(10000) {
			seen[r] = true
		}
		if len(seen) != 62 {
			t.Errorf("10000 draws used %d of 62 characters", len(seen))
		}
	})
}

func TestRandomBase62Uniform(t *testing.T) {
	const draws, n = 100_000, 22
	seen := make(map[string]struct{}, draws)
	var counts [256]int
	for range draws {
		s := RandomBase62(n)
		if _, dup := seen[s]; dup {
			t.Fatalf("duplicate %q after %d draws", s, len(seen))
		}
		seen[s] = struct{}{}
		for _, c := range []byte(s) {
			counts[c]++
		}
	}
	// 2.2M characters, 35,484 expected per character, standard deviation about 186. Without the rejection of
	// bytes >= 248, '0'-'7' would come up 25% more often than the rest; 3% catches that with a wide margin.
	expected := float64(draws*n) / 62
	for _, c := range []byte(base62) {
		if dev := (float64(counts[c]) - expected) / expected; dev > 0.03 || dev < -0.03 {
			t.Errorf("character %q drawn %d times, expected about %.0f: not uniform", c, counts[c], expected)
		}
	}
}

func TestNewID(t *testing.T) {
	const draws = 100_000
	const prefix = "op_"
	seen := make(map[string]struct{}, draws)
	prev, prevMS := "", int64(0)
	for range draws {
		before := time.Now().UnixMilli()
		id := NewID(prefix)
		after := time.Now().UnixMilli()
		if len(id) != len(prefix)+22 || !strings.HasPrefix(id, prefix) {
			t.Fatalf("NewID = %q, want %s and 22 characters", id, prefix)
		}
		body := id[len(prefix):]
		if i := strings.IndexFunc(body, func(r rune) bool { return !strings.ContainsRune(base62, r) }); i >= 0 {
			t.Fatalf("character %q outside [0-9A-Za-z] in %q", body[i], id)
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("duplicate id %q after %d draws", id, len(seen))
		}
		seen[id] = struct{}{}
		// The first 8 characters are the Unix millisecond, so ids sort by creation time.
		var ms int64
		for _, c := range []byte(body[:8]) {
			ms = ms*62 + int64(strings.IndexByte(base62, c))
		}
		if ms < before || ms > after {
			t.Fatalf("NewID %q encodes ms %d, made between %d and %d", id, ms, before, after)
		}
		if (ms < prevMS) != (body[:8] < prev) {
			t.Fatalf("time prefixes %q (%d ms) and %q (%d ms) do not sort like their times", body[:8], ms, prev, prevMS)
		}
		prev, prevMS = body[:8], ms
	}
}

func TestDay(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 1, 31, 23, 59, 59, 999_999_999, time.UTC), "2025-01-31"},
		{time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), "2025-02-01"},
		{time.Date(2025, 1, 31, 20, 0, 0, 0, est), "2025-02-01"}, // 01:00 UTC
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			if got := Day(tt.in); got != tt.want {
				t.Errorf("Day = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOperationsRoundTripNewestFirst(t *testing.T) {
	s := openTestStore(t)
	w := newTestWriter(t, s, WriterOptions{})
	ctx := context.Background()
	base := time.Date(2025, 6, 1, 10, 0, 0, 123_456_789, time.UTC)
	ops := []*Operation{
		{ID: "op1", At: base, TenantID: "acme", KeyID: "k1", Type: "chat", Method: "POST", Path: "/v1/chat/completions",
			Status: 200, Outcome: OutcomeOK, Counted: true, Latency: 1234 * time.Microsecond},
		{ID: "op2", At: base.Add(time.Second), TenantID: "acme", KeyID: "k2", Type: "embedding", Method: "POST", Path: "/v1/embeddings",
			Status: 429, Outcome: OutcomeDeniedRate, Counted: false, Latency: 7 * time.Microsecond},
		{ID: "op3", At: base.Add(2 * time.Second).In(time.FixedZone("CET", 3600)), TenantID: "acme", KeyID: "k1", Type: "other", Method: "GET",
			Path: "/v1/models?x=1", Status: 502, Outcome: OutcomeUpstreamError, Counted: true, Latency: 3 * time.Second},
		{ID: "op4", At: base.Add(time.Second), TenantID: "acme", KeyID: "k3", Type: "chat", Method: "POST", Path: "/v1/chat/completions",
			Status: 200, Outcome: OutcomeOK, Counted: true}, // same At as op2, written after it
		{ID: "other", At: base.Add(time.Hour), TenantID: "globex", KeyID: "k9", Type: "chat", Method: "POST", Path: "/",
			Status: 200, Outcome: OutcomeOK, Counted: true},
	}
	for _, op := range ops {
		if err := w.Record(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := s.Operations(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []*Operation{ops[2], ops[3], ops[1], ops[0]} // newest first; equal times, the later write first
	if len(got) != len(want) {
		t.Fatalf("got %d operations, want %d", len(got), len(want))
	}
	for i := range want {
		w := *want[i]
		w.QuotaDay = time.Time{} // not stored
		g := got[i]
		if !g.At.Equal(w.At) || g.At.Location() != time.UTC {
			t.Errorf("[%d] At = %v, want %v in UTC", i, g.At, w.At)
		}
		g.At, w.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("[%d] = %+v\nwant %+v", i, g, w)
		}
	}

	limited, err := s.Operations(ctx, "acme", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited) != 2 || limited[0].ID != "op3" || limited[1].ID != "op4" {
		t.Errorf("limit 2 = %v, want op3, op4", limited)
	}

	counts := []struct {
		tenant, outcome string
		want            int64
	}{
		{"acme", "", 4},
		{"acme", OutcomeOK, 2},
		{"acme", OutcomeDeniedRate, 1},
		{"acme", OutcomeUnauthorized, 0},
		{"globex", "", 1},
		{"nobody", "", 0},
	}
	for _, c := range counts {
		if n, err := s.OperationCount(ctx, c.tenant, c.outcome); err != nil || n != c.want {
			t.Errorf("OperationCount(%q, %q) = %d, %v; want %d", c.tenant, c.outcome, n, err, c.want)
		}
	}
}
