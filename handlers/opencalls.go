package handlers

import (
	"sync/atomic"
	"time"
)

// OpenCalls counts the calls in flight by the month they started in: a month's invoice is issued only once every
// call of that month is in the ledger. A call is booked to the day it was admitted on, which is the day it
// started or a later one, so every call booked to a month is counted in it (or, admitted after midnight, in the
// month before, which only makes that month's invoice wait for it). A stream that starts at 23:59 on the last
// day and ends after midnight would otherwise be billed to a month whose invoice was already issued, and be in
// no invoice at all.
//
// The months are counted by month of the year: no call runs for a year.
type OpenCalls struct {
	byMonth [12]atomic.Int64
}

// Begin counts a call starting now and returns its start, the time its record is booked at. The caller calls
// End with that start once the record is queued. The call is counted before its start is read: an invoice that
// sees no call in flight after its month ended cannot miss a call that started before the end.
func (o *OpenCalls) Begin(now func() time.Time) time.Time {
	counted := now().UTC().Month()
	o.byMonth[counted-1].Add(1)
	start := now().UTC()
	if m := start.Month(); m != counted { // midnight of the 1st passed between the two readings
		o.byMonth[m-1].Add(1)
		o.byMonth[counted-1].Add(-1)
	}
	return start
}

// End uncounts a call that Begin returned start for.
func (o *OpenCalls) End(start time.Time) { o.byMonth[start.UTC().Month()-1].Add(-1) }

// In is how many calls that started in month (of any year) are in flight.
func (o *OpenCalls) In(month time.Month) int64 { return o.byMonth[month-1].Load() }
