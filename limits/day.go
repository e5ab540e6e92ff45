package limits

import "time"

// Days are counted in whole UTC days since the Unix epoch, so a day is one int64 and the
// rollover test is an integer compare, whatever the location of the clock's times.

const nanosPerDay = int64(24 * time.Hour)

// dayOfNanos is the UTC day holding the instant ns (Unix nanoseconds).
func dayOfNanos(ns int64) int64 {
	d := ns / nanosPerDay
	if ns%nanosPerDay < 0 {
		d--
	}
	return d
}

// dayOfTime is the UTC day holding t. It goes through Unix seconds so that any time.Time,
// even one outside UnixNano's range, gives a sensible answer.
func dayOfTime(t time.Time) int64 {
	const secondsPerDay = 24 * 60 * 60
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return d
}

// dayStart is UTC midnight starting day, in Unix nanoseconds.
func dayStart(day int64) int64 { return day * nanosPerDay }

// utcTime turns Unix nanoseconds into a UTC time.Time.
func utcTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
