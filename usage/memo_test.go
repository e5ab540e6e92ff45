package usage

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMemoSkipsTheSharedStart: the second chunk of a chat stream takes the snapshot (the first one's model
// is captured by then), and every later content chunk starts from it: none of them is kept in its place.
func TestMemoSkipsTheSharedStart(t *testing.T) {
	events := chatStream(5)
	m := NewMeter(OpenAIChat, true)
	m.Write(events[0])
	if m.memo.n != 0 {
		t.Fatalf("a snapshot of %d bytes after the first event", m.memo.n)
	}
	m.Write(events[1])
	const shared = `"choices":[{"index":0,"delta":{"`
	if at := strings.Index(string(events[1]), shared) + len(shared) - len("data: "); m.memo.n < at {
		t.Fatalf("the snapshot covers %d bytes of the event's data, want at least %d (up to the delta)", m.memo.n, at)
	}
	kept := m.memo.prev
	for _, e := range events[2 : len(events)-3] { // the other content chunks
		m.Write(e)
		if m.memo.prev != kept {
			t.Fatalf("event %q did not start from the snapshot", e)
		}
	}
	for _, e := range events[len(events)-3:] {
		m.Write(e)
	}
	if u := m.Usage(); u.OutputTokens != 5 || !u.Complete || u.Model != "gpt-4o-2024-08-06" {
		t.Errorf("usage %+v", u)
	}
}

// TestMemoMatchesTheScan meters streams whose events share starts that end anywhere — inside a key, a
// string, a number, an escape, the model being captured, a usage object — one write per event (the memo
// skips) and byte by byte (it never does), and wants the same result.
func TestMemoMatchesTheScan(t *testing.T) {
	t.Parallel()
	var sources [][][]byte // each golden stream's events
	for _, g := range goldens {
		if strings.HasSuffix(g.file, ".sse") {
			events := bytes.SplitAfter(bytes.ReplaceAll(readTestdata(t, g.file), []byte("\r\n"), []byte("\n")), []byte("\n\n"))
			sources = append(sources, slices.DeleteFunc(events, func(e []byte) bool { return len(e) == 0 }))
		}
	}
	sources = append(sources, chatStream(8))
	const odd = "\"\\{}[],:0123456789.-eu aZ\xc3\xa9\x00\n"
	rng := rand.New(rand.NewPCG(8, 9))
	for i := range 3000 {
		src := sources[rng.IntN(len(sources))]
		var events [][]byte
		for range 2 + rng.IntN(12) {
			e := bytes.Clone(src[rng.IntN(len(src))])
			switch rng.IntN(4) {
			case 0: // the same event again
			case 1: // one byte changed
				e[rng.IntN(len(e))] = odd[rng.IntN(len(odd))]
			case 2: // a piece cut out
				at := rng.IntN(len(e))
				e = append(e[:at], e[min(len(e), at+1+rng.IntN(20)):]...)
			case 3: // a piece put in
				at := rng.IntN(len(e))
				in := make([]byte, 1+rng.IntN(6))
				for j := range in {
					in[j] = odd[rng.IntN(len(odd))]
				}
				e = append(e[:at], append(in, e[at:]...)...)
			}
			events = append(events, e)
		}
		f := Format(rng.IntN(len(tries)))
		want := feed(t, f, true, bytewise(bytes.Join(events, nil))...)
		if got := feed(t, f, true, events...); got != want {
			t.Fatalf("case %d (%s): one write per event: %+v\nbyte by byte: %+v\nevents: %q", i, f, got, want, events)
		}
	}
}

func TestCommonPrefix(t *testing.T) {
	a := []byte("0123456789abcdefghij")
	for n := range len(a) + 1 {
		b := bytes.Clone(a[:n])
		if got := commonPrefix(a, b); got != n {
			t.Errorf("commonPrefix(a, a[:%d]) = %d", n, got)
		}
		if n < len(a) {
			c := bytes.Clone(a)
			c[n] ^= 0x80
			if got := commonPrefix(a, c); got != n {
				t.Errorf("differing at %d: commonPrefix = %d", n, got)
			}
		}
	}
}
