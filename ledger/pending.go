package ledger

import (
	"slices"
	"strings"
)

// The pending totals hold no pointers. Thousands of entries wait at once (two per active tenant), and the
// collector scans every pointer of the live heap at each collection: with strings in the keys, slices in the
// sketches and a pointer to each entry, they were about half the gateway's live heap, and a longer collection
// is a longer stall for the requests that arrive during it. So a key names its tenant, model and type by their
// index in a table of names, an entry is found by its number in slabs of entries, and the entries' latency
// sketches keep their buckets in two arrays shared by all of them. Memory the collector knows holds no
// pointers it does not scan (BenchmarkPendingMemory, GC-ns/entry): with 10,000 tenants in the side-by-side
// benchmark, a collection's marking took 7.8 ms of CPU rather than 10.9.

// pendingKey is an entry's hourly row (by the hour the call arrived) and the day it counts on, for the quota and
// the bill (almost always the day of hour). Tenant, model and type are indices in pendingEntries.names.
type pendingKey struct {
	hour, quotaDay        int64
	tenant, model, opType uint32
}

// pendingRow is an entry: a Rollup whose sketches live in a sketchArena, and what it adds to the quota and
// the month's bill.
type pendingRow struct {
	rollupCounts
	latency, ttfb pendingTiming
	counted       int64       // calls counted against the quota
	billed        monthTotals // what billable calls add to the month's bill
}

type pendingTiming struct {
	timingStats
	sketch pendingSketch
}

// add counts op, whose sketch buckets are latency and ttfb.
func (r *pendingRow) add(op *Operation, latency, ttfb int, arena *sketchArena) {
	timed, firstByte := r.rollupCounts.add(op)
	if timed {
		r.latency.add(op.Latency)
		r.latency.sketch.add(latency, arena)
	}
	if firstByte {
		r.ttfb.add(op.TTFB)
		r.ttfb.sketch.add(ttfb, arena)
	}
}

// rollup is the entry as a Rollup. Its sketches are views of the arena, valid until the next add or reset.
func (r *pendingRow) rollup(arena *sketchArena) Rollup {
	return Rollup{rollupCounts: r.rollupCounts,
		Latency: Timing{r.latency.timingStats, r.latency.sketch.view(arena, r.latency.Count)},
		TTFB:    Timing{r.ttfb.timingStats, r.ttfb.sketch.view(arena, r.ttfb.Count)}}
}

// sketchArena holds the buckets of the pending sketches: lists in one array, bins in another.
type sketchArena struct {
	lists               []uint16
	bins                []uint64
	listsHeld, binsHeld int // of them held by a sketch; the rest was left behind by sketches that moved
}

func (a *sketchArena) bytes() int { return 2*cap(a.lists) + 8*cap(a.bins) }

// wasteful reports whether the room that sketches left behind is worth gathering: more than half what they
// hold (a list that doubles leaves behind almost as much as it then holds), and more than 64 KB.
func (a *sketchArena) wasteful() bool {
	listsLeft, binsLeft := len(a.lists)-a.listsHeld, len(a.bins)-a.binsHeld
	return (2*listsLeft > a.listsHeld && 2*listsLeft > 64<<10) || (2*binsLeft > a.binsHeld && 8*binsLeft > 64<<10)
}

// pendingSketch is a Sketch whose buckets are in a sketchArena, by the same rules: a list of its values'
// buckets while that takes less room than bins (listPays), bins that grow as Sketch's do (binsRange) after.
// A list or bins that must grow move to the end of their array, unless they are at its end already; the room
// they leave is gathered when there is more than half as much of it as sketches hold (pendingEntries.compact).
type pendingSketch struct {
	at, size, room uint32 // the list or the bins: arena.lists or arena.bins [at, at+size), room of them its own
	lo             int32  // with bins, the bucket of the first
	binned         bool
}

func (s *pendingSketch) add(i int, a *sketchArena) {
	if !s.binned {
		list := a.lists[s.at : s.at+s.size : s.at+s.room]
		if len(list) < cap(list) || listPays(list, i, uint64(len(list))+1) {
			if len(list) == cap(list) {
				s.moveList(a, max(4, 2*cap(list)))
			}
			a.lists[s.at+s.size] = uint16(i)
			s.size++
			return
		}
		s.bin(a, list)
	}
	if lo, hi := binsRange(int(s.lo), int(s.size), i, i+1); lo != int(s.lo) || hi != int(s.lo)+int(s.size) {
		s.moveBins(a, lo, hi)
	}
	a.bins[int(s.at)+i-int(s.lo)]++
}

// moveList gives the list room for room values.
func (s *pendingSketch) moveList(a *sketchArena, room int) {
	a.listsHeld += room - int(s.room)
	if int(s.at+s.room) == len(a.lists) { // the last list: it grows in place
		a.lists = append(a.lists, make([]uint16, room-int(s.room))...)
	} else {
		at := len(a.lists)
		a.lists = append(a.lists, make([]uint16, room)...)
		copy(a.lists[at:], a.lists[s.at:s.at+s.size])
		s.at = uint32(at)
	}
	s.room = uint32(room)
}

// bin moves the values of list to bins.
func (s *pendingSketch) bin(a *sketchArena, list []uint16) {
	lo, hi := slices.Min(list), slices.Max(list)
	a.listsHeld -= int(s.room)
	s.binned, s.at, s.size, s.room, s.lo = true, uint32(len(a.bins)), uint32(hi-lo)+1, uint32(hi-lo)+1, int32(lo)
	a.bins = append(a.bins, make([]uint64, s.size)...)
	a.binsHeld += int(s.size)
	for _, b := range list {
		a.bins[s.at+uint32(b-lo)]++
	}
}

// moveBins makes the bins cover the buckets [lo, hi).
func (s *pendingSketch) moveBins(a *sketchArena, lo, hi int) {
	a.binsHeld += hi - lo - int(s.size)
	if int(s.at+s.size) == len(a.bins) && lo == int(s.lo) { // the last bins, growing up: in place
		a.bins = append(a.bins, make([]uint64, hi-lo-int(s.size))...)
	} else {
		at := len(a.bins)
		a.bins = append(a.bins, make([]uint64, hi-lo)...)
		copy(a.bins[at+int(s.lo)-lo:], a.bins[s.at:s.at+s.size])
		s.at = uint32(at)
	}
	s.lo, s.size, s.room = int32(lo), uint32(hi-lo), uint32(hi-lo)
}

// moveTo copies the sketch's buckets, and its room, from one arena to the end of another.
func (s *pendingSketch) moveTo(from, to *sketchArena) {
	if s.binned {
		at := len(to.bins)
		to.bins = append(to.bins, from.bins[s.at:s.at+s.room]...)
		to.binsHeld += int(s.room)
		s.at = uint32(at)
		return
	}
	at := len(to.lists)
	to.lists = append(to.lists, from.lists[s.at:s.at+s.room]...)
	to.listsHeld += int(s.room)
	s.at = uint32(at)
}

// view is the sketch of count values as a Sketch sharing the arena's buckets (it sorts a list in place).
func (s *pendingSketch) view(a *sketchArena, count int64) Sketch {
	if s.binned {
		return Sketch{lo: int(s.lo), bins: a.bins[s.at : s.at+s.size : s.at+s.size], count: uint64(count)}
	}
	if s.size == 0 {
		return Sketch{}
	}
	return Sketch{small: a.lists[s.at : s.at+s.size : s.at+s.size], count: uint64(count)}
}

// pendingEntries are the pending totals' entries, found by key.
type pendingEntries struct {
	index map[pendingKey]uint32 // the entry's number in slabs
	slabs [][]pendingRow        // of pendingSlab entries: a new entry copies nothing, a reset lets them go
	names []string              // tenant ids, model names and operation types
	ids   [2]map[string]uint32  // the index of each name in names: tenants', the others' (few, and so cache-hot)
	arena sketchArena
	named int // bytes of names kept (model names are copies)
	made  int // entries
}

// pendingSlab is how many entries a slab holds (about 40 KB).
const pendingSlab = 128

// entry is op's entry, created empty if it has none.
func (p *pendingEntries) entry(op *Operation) *pendingRow {
	if p.index == nil {
		p.index, p.ids = map[pendingKey]uint32{}, [2]map[string]uint32{{}, {}}
	}
	k := pendingKey{hour: hourOf(op.At), quotaDay: unixDay(quotaDay(op)),
		tenant: p.id(0, op.TenantID, false), model: p.id(1, op.Model, true), opType: p.id(1, op.Type, false)}
	n, ok := p.index[k]
	if !ok {
		if p.made%pendingSlab == 0 {
			p.slabs = append(p.slabs, make([]pendingRow, pendingSlab))
		}
		n = uint32(p.made)
		p.made++
		p.index[k] = n
	}
	return p.row(n)
}

func (p *pendingEntries) row(n uint32) *pendingRow { return &p.slabs[n/pendingSlab][n%pendingSlab] }

// compact gathers the sketches' buckets at the start of new arrays, leaving out the room sketches that moved
// left behind, once there is more than half as much of it as they hold: each gathering copies what is held,
// at most about twice what was added since the last one.
func (p *pendingEntries) compact() {
	if !p.arena.wasteful() {
		return
	}
	old := &p.arena
	a := sketchArena{
		lists: make([]uint16, 0, old.listsHeld+old.listsHeld/4),
		bins:  make([]uint64, 0, old.binsHeld+old.binsHeld/4),
	}
	for n := range p.made {
		row := p.row(uint32(n))
		row.latency.sketch.moveTo(old, &a)
		row.ttfb.sketch.moveTo(old, &a)
	}
	p.arena = a
}

// id is the index of name in names, found in ids[kind] or added to it. Tenant ids and operation types are
// kept as given (the directory's and constants); a model name is copied, as each record brings its own, parsed
// from its call.
func (p *pendingEntries) id(kind int, name string, copied bool) uint32 {
	if id, ok := p.ids[kind][name]; ok {
		return id
	}
	if copied {
		name = strings.Clone(name)
		p.named += len(name)
	}
	id := uint32(len(p.names))
	p.names = append(p.names, name)
	p.ids[kind][name] = id
	return id
}

// each calls f with each entry and its key's names, until f returns an error.
func (p *pendingEntries) each(f func(k pendingKey, tenant, model, opType string, row *pendingRow) error) error {
	for k, n := range p.index {
		if err := f(k, p.names[k.tenant], p.names[k.model], p.names[k.opType], p.row(n)); err != nil {
			return err
		}
	}
	return nil
}

// bytes is what the entries take on the heap, about: pendingEntryBytes an entry, the sketches' arrays (their
// capacity) and the names.
func (p *pendingEntries) bytes() int {
	return p.made*pendingEntryBytes + p.arena.bytes() + len(p.names)*pendingNameBytes + p.named
}

// pendingNameBytes is what a name takes in names and ids, besides its bytes (BenchmarkPendingMemory).
const pendingNameBytes = 48

func (p *pendingEntries) reset() {
	clear(p.index)
	clear(p.ids[0])
	clear(p.ids[1])
	*p = pendingEntries{index: p.index, ids: p.ids}
}
