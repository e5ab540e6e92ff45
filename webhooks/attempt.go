package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// deliver makes one attempt at a delivery and records it. It returns when the delivery is next due if it stays
// pending, and whether the endpoint answered with success (nil when no attempt reached it).
func (d *Dispatcher) deliver(id string) (next time.Time, pending bool, healthy *bool) {
	ctx, cancel := storeContext()
	defer cancel()
	retryLater := func(what string, err error) (time.Time, bool, *bool) {
		d.log.Error("webhook store: "+what, zap.String("delivery", id), zap.Error(err))
		return d.clock.Now().Add(storeRetry), true, nil
	}
	dl, err := d.store.Delivery(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil // its endpoint was deleted
	} else if err != nil {
		return retryLater("loading delivery", err)
	}
	if dl.Status != StatusPending {
		return time.Time{}, false, nil // finished meanwhile (endpoint disabled, a stale schedule entry)
	}
	ep, err := d.store.Endpoint(ctx, dl.EndpointID)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil
	} else if err != nil {
		return retryLater("loading endpoint", err)
	}
	if ep.Disabled {
		// A delivery written as the endpoint was being disabled: fail it like the others.
		if _, err := d.store.DisableEndpoint(ctx, ep.ID, ep.DisabledReason, d.clock.Now()); err != nil && !errors.Is(err, ErrNotFound) {
			return retryLater("failing deliveries of a disabled endpoint", err)
		}
		return time.Time{}, false, nil
	}
	ev, err := d.store.Event(ctx, dl.EventID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return retryLater("loading event", err)
	}

	var a Attempt
	var wait time.Duration
	var hasWait, missing bool
	if err != nil {
		// Nothing to send, ever: record why and fail the delivery rather than retry it for days.
		a, missing = Attempt{At: d.clock.Now(), Error: "event " + dl.EventID + " is missing from the store"}, true
	} else {
		var aborted bool
		a, wait, hasWait, aborted = d.send(&ep, &ev)
		if aborted {
			return d.clock.Now(), true, nil // Stop cut it short: unrecorded, due again at the next start
		}
	}
	a.DeliveryID, a.Number = id, dl.Attempts+1
	d.attempts.Add(1)

	now := d.clock.Now()
	r := AttemptResult{Attempt: a}
	var disable string
	ok := a.Succeeded()
	switch {
	case ok:
		r.Status = StatusSucceeded
	case missing:
		r.Status, r.Reason = StatusFailed, a.Error
	case a.StatusCode == http.StatusGone:
		r.Status, r.Reason = StatusFailed, "endpoint answered 410 Gone"
		disable = "endpoint answered 410 Gone"
	default:
		if a.Number < len(d.o.Schedule) {
			delay := Jittered(d.o.Schedule[a.Number], d.o.Jitter, d.o.Rand())
			if hasWait {
				delay = max(delay, wait)
			}
			r.Status, r.NextAttemptAt = StatusPending, now.Add(delay)
		} else {
			r.Status, r.Reason = StatusFailed, fmt.Sprintf("no attempts left after %d", a.Number)
		}
		since := ep.FailingSince
		if since.IsZero() {
			since = a.At
		}
		if d.o.DisableAfter > 0 && now.Sub(since) >= d.o.DisableAfter {
			disable = "failing since " + since.UTC().Format(time.RFC3339)
		}
	}
	if ce := d.log.Check(zap.DebugLevel, "webhook attempt"); ce != nil {
		ce.Write(zap.String("delivery", id), zap.String("endpoint", ep.ID), zap.Int("attempt", a.Number),
			zap.Int("status", a.StatusCode), zap.String("error", a.Error), zap.Duration("duration", a.Duration))
	}
	if err := d.store.RecordAttempt(ctx, r); errors.Is(err, ErrNotFound) {
		return time.Time{}, false, &ok
	} else if err != nil {
		// The receiver may have it, but the Store does not know: try again (at least once, never lost).
		next, pending, _ = retryLater("recording attempt", err)
		return next, pending, &ok
	}
	switch r.Status {
	case StatusSucceeded:
		d.succeeded.Add(1)
	case StatusFailed:
		d.failed.Add(1)
	}
	if disable != "" {
		n, err := d.store.DisableEndpoint(ctx, ep.ID, disable, now)
		if err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Error("disabling webhook endpoint", zap.String("endpoint", ep.ID), zap.Error(err))
		} else {
			d.failed.Add(uint64(n))
			d.log.Warn("webhook endpoint disabled", zap.String("endpoint", ep.ID), zap.String("tenant", ep.TenantID),
				zap.String("reason", disable), zap.Int("deliveries_failed", n))
		}
	}
	return r.NextAttemptAt, r.Status == StatusPending, &ok
}

// send POSTs the event to the endpoint, signed with every current secret. It returns the attempt, the
// receiver's Retry-After if it gave one with 429 or 503, and whether Stop cut the attempt short.
func (d *Dispatcher) send(ep *Endpoint, ev *Event) (a Attempt, wait time.Duration, hasWait, aborted bool) {
	a.At = d.clock.Now()
	sig, err := SignatureHeader(ep.SigningSecrets(a.At), ev.ID, a.At, ev.Payload)
	if err == nil && sig == "" {
		err = errors.New("no signing secret")
	}
	if err != nil {
		a.Error = "signing: " + err.Error()
		return a, 0, false, false
	}
	ctx, cancel := context.WithTimeout(d.run, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		a.Error = "building request: " + err.Error()
		return a, 0, false, false
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{d.o.UserAgent}
	h[http.CanonicalHeaderKey(HeaderID)] = []string{ev.ID}
	h[http.CanonicalHeaderKey(HeaderTimestamp)] = []string{strconv.FormatInt(a.At.Unix(), 10)}
	h[http.CanonicalHeaderKey(HeaderSignature)] = []string{sig}

	start := time.Now()
	resp, err := d.o.Client.Do(req)
	if err != nil {
		a.Duration = time.Since(start)
		if d.run.Err() != nil {
			return a, 0, false, true
		}
		a.Error = describe(ctx, err, d.o.Timeout)
		return a, 0, false, false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	resp.Body.Close()
	a.Duration = time.Since(start)
	a.StatusCode = resp.StatusCode
	a.ResponseBody = truncateUTF8(body)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		a.Error = "redirect not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			a.Error += " (Location: " + truncate(loc, 256) + ")"
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		wait, hasWait = RetryAfter(resp.Header.Get("Retry-After"), d.clock.Now(), d.o.MaxRetryAfter)
	}
	return a, wait, hasWait, false
}

// describe turns a failed request into the attempt's error: short, without the URL (which the delivery names).
func describe(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return "timeout after " + timeout.String()
	}
	var te *TargetError
	if errors.As(err, &te) {
		return te.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), 512)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncateUTF8([]byte(s[:n]))
}

// truncateUTF8 returns b as a string without a rune cut in half at its end (a body truncated at
// MaxResponseBody bytes may end mid-rune); other invalid bytes are replaced.
func truncateUTF8(b []byte) string {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
