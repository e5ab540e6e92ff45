package webhooks

import (
	"container/heap"
	"sync"
	"time"
)

// The schedule is the Dispatcher's memory: every pending delivery it knows of, as an item that is
//
//   - waiting: in a timer heap ordered by due time, until it is due;
//   - ready: due, in its endpoint's lane (a FIFO), until a worker takes it;
//   - running: being attempted by a worker;
//   - held: being re-queued by hand (RetryNow) while the Store is written, so no worker takes it meanwhile.
//
// Lanes with ready items and spare concurrency sit in a ring that workers serve in turn, so an endpoint with
// thousands of due deliveries holds at most its concurrency limit of workers and never delays another endpoint,
// and nothing ever scans the pending deliveries: the heap yields what is due in O(log n) each.

type itemState uint8

const (
	waiting itemState = iota
	ready
	running
	held
)

type item struct {
	id, endpoint string
	at           time.Time
	index        int // in the heap; -1 when not there
	state        itemState
	queued       bool // a pointer to it sits in its lane's FIFO (possibly stale, when the state moved on)
	again        bool // a manual retry arrived while running or held
}

type lane struct {
	id      string
	queue   fifo[*item]
	running int
	inRing  bool
	healthy bool // the last attempt succeeded; until then (a new lane, a failing endpoint) one attempt at a time
	items   int  // items of this endpoint in the schedule, any state
}

type schedule struct {
	mu          sync.Mutex
	cond        sync.Cond // a lane joined the ring, or stopping
	heap        timeHeap
	items       map[string]*item
	lanes       map[string]*lane
	ring        fifo[*lane]
	perEndpoint int
	stopping    bool
	wake        chan struct{} // tells the clock loop the earliest due time moved earlier
	armed       time.Time     // when the clock loop wakes next; zero when it sleeps until woken
	running     int
}

func newSchedule(perEndpoint int) *schedule {
	s := &schedule{items: map[string]*item{}, lanes: map[string]*lane{}, perEndpoint: perEndpoint, wake: make(chan struct{}, 1)}
	s.cond.L = &s.mu
	return s
}

// limit is a lane's concurrency: an endpoint earns its full limit with a successful attempt, so an endpoint that
// hangs holds one worker, not PerEndpoint of them, and a dead one with thousands of due deliveries holds one.
func (s *schedule) limit(l *lane) int {
	if l.healthy {
		return s.perEndpoint
	}
	return 1
}

func (s *schedule) lane(endpoint string) *lane {
	l := s.lanes[endpoint]
	if l == nil {
		l = &lane{id: endpoint}
		s.lanes[endpoint] = l
	}
	return l
}

// add schedules a delivery at `at`, or moves it earlier if it is already waiting; a delivery that is ready,
// running or held is left alone (it is already on its way).
func (s *schedule) add(id, endpoint string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[id]; it != nil {
		if it.state == waiting && at.Before(it.at) {
			it.at = at
			heap.Fix(&s.heap, it.index)
			s.poke(at)
		}
		return
	}
	it := &item{id: id, endpoint: endpoint}
	s.items[id] = it
	s.lane(endpoint).items++
	s.wait(it, at)
}

// wait puts it in the heap at `at`. Called with mu held.
func (s *schedule) wait(it *item, at time.Time) {
	it.at, it.state = at, waiting
	heap.Push(&s.heap, it)
	s.poke(at)
}

// poke wakes the clock loop if at is earlier than its next wake-up. Called with mu held.
func (s *schedule) poke(at time.Time) {
	if s.armed.IsZero() || at.Before(s.armed) {
		s.armed = at
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// release moves every item due at now to its lane and returns when the next one is due (zero if none).
func (s *schedule) release(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.heap) > 0 && !s.heap[0].at.After(now) {
		it := heap.Pop(&s.heap).(*item)
		s.ready(it)
	}
	s.armed = time.Time{}
	if len(s.heap) > 0 {
		s.armed = s.heap[0].at
	}
	return s.armed
}

// ready queues it in its lane. Called with mu held.
func (s *schedule) ready(it *item) {
	it.state = ready
	l := s.lanes[it.endpoint]
	if !it.queued {
		it.queued = true
		l.queue.push(it)
	}
	s.ringIfRunnable(l)
}

func (s *schedule) ringIfRunnable(l *lane) {
	if !l.inRing && l.queue.len() > 0 && l.running < s.limit(l) {
		l.inRing = true
		s.ring.push(l)
		s.cond.Signal()
	}
}

// take blocks until an item is ready on a lane with spare concurrency, marks it running and returns it;
// nil once stopping.
func (s *schedule) take() *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.stopping {
		if it := s.next(); it != nil {
			return it
		}
		s.cond.Wait()
	}
	return nil
}

// next takes the next runnable item, nil if there is none. Lanes are served in turn. Called with mu held.
func (s *schedule) next() *item {
	for {
		l, ok := s.ring.pop()
		if !ok {
			return nil
		}
		l.inRing = false
		if l.running >= s.limit(l) {
			continue // its limit fell (a failed attempt) since it joined the ring; finish rings it again
		}
		for {
			it, ok := l.queue.pop()
			if !ok {
				break
			}
			it.queued = false
			if it.state != ready {
				continue // stale: re-queued by hand or dropped meanwhile
			}
			it.state = running
			l.running++
			s.running++
			s.ringIfRunnable(l)
			return it
		}
	}
}

// finish ends a worker's hold on it: again after `next` if pending, else it leaves the schedule. healthy tells
// whether the attempt reached the endpoint successfully (nil: no attempt was made). It returns true, and keeps
// the item running, if a manual retry arrived meanwhile: the worker writes it to the Store and calls again.
func (s *schedule) finish(it *item, next time.Time, pending bool, healthy *bool) (again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lanes[it.endpoint]
	if healthy != nil {
		l.healthy = *healthy
	}
	if it.again {
		it.again = false
		return true
	}
	l.running--
	s.running--
	if pending {
		s.wait(it, next)
	} else {
		s.drop(it, l)
	}
	s.ringIfRunnable(l)
	return false
}

// drop removes it from the schedule (not from the heap: it is not waiting). Called with mu held.
func (s *schedule) drop(it *item, l *lane) {
	delete(s.items, it.id)
	it.state = held // any stale pointer in the lane's FIFO is skipped
	if l.items--; l.items == 0 && l.running == 0 {
		delete(s.lanes, l.id)
	}
}

// hold claims a delivery for a manual retry: it returns false, and marks the retry for the current holder, if
// a worker or another retry has it. Otherwise no worker takes it until unhold.
func (s *schedule) hold(id, endpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		s.items[id] = &item{id: id, endpoint: endpoint, index: -1, state: held}
		s.lane(endpoint).items++
		return true
	}
	switch it.state {
	case running, held:
		it.again = true
		return false
	case waiting:
		heap.Remove(&s.heap, it.index)
	}
	it.state = held
	return true
}

// unhold ends a manual retry's claim: the delivery is due at `at` if ok, else it leaves the schedule.
func (s *schedule) unhold(id string, at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil || it.state != held {
		return
	}
	it.again = false
	if ok {
		s.wait(it, at)
		return
	}
	s.drop(it, s.lanes[it.endpoint])
}

// retried tells the schedule that the Store made a delivery due at `at` (ResendFailed): like add, but a running
// or held delivery is marked so that its holder re-queues it once done.
func (s *schedule) retried(id, endpoint string, at time.Time) {
	s.mu.Lock()
	if it := s.items[id]; it != nil && (it.state == running || it.state == held) {
		it.again = true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.add(id, endpoint, at)
}

func (s *schedule) stop() {
	s.mu.Lock()
	s.stopping = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *schedule) counts() (scheduled, running int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), s.running
}

// timeHeap orders waiting items by due time.
type timeHeap []*item

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timeHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *timeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}

// fifo is a slice-backed queue.
type fifo[T any] struct {
	buf  []T
	head int
}

func (q *fifo[T]) len() int { return len(q.buf) - q.head }
func (q *fifo[T]) push(v T) { q.buf = append(q.buf, v) }
func (q *fifo[T]) pop() (T, bool) {
	var zero T
	if q.head == len(q.buf) {
		return zero, false
	}
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.buf):
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return v, true
}
