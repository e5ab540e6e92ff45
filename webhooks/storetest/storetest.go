// Package storetest checks a webhooks.Store against the contracts written on the interface. The in-memory store
// runs it in this repository's webhooks tests; the ledger's SQLite store should run it too:
//
//	func TestWebhookStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) webhooks.Store { return openTestLedger(t) })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// base is a time with whole milliseconds, so any store keeping milliseconds or finer returns it exactly.
var base = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Run runs every check, each on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) webhooks.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s webhooks.Store)
	}{
		{"Endpoints", testEndpoints},
		{"DeleteEndpointCascades", testDeleteEndpoint},
		{"RotateSecret", testRotateSecret},
		{"DisableEndpoint", testDisableEndpoint},
		{"AddEvent", testAddEvent},
		{"ListDeliveries", testListDeliveries},
		{"Pending", testPending},
		{"RecordAttempt", testRecordAttempt},
		{"RecordAttemptAfterDisable", testRecordAttemptAfterDisable},
		{"Requeue", testRequeue},
		{"RequeueFailed", testRequeueFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func endpoint(t *testing.T, s webhooks.Store, tenant string, created time.Time) webhooks.Endpoint {
	t.Helper()
	ep, err := webhooks.NewEndpoint(tenant, "https://hooks.example.com/"+tenant, nil, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(context.Background(), ep); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return ep
}

// event stores an event for tenant at `at`, delivered to eps, and returns its deliveries.
func event(t *testing.T, s webhooks.Store, tenant string, at time.Time, eps ...webhooks.Endpoint) (webhooks.Event, []webhooks.Delivery) {
	t.Helper()
	ev, err := webhooks.NewEvent(webhooks.EventOperationCompleted, tenant, map[string]any{"n": 1}, at)
	if err != nil {
		t.Fatal(err)
	}
	ds := webhooks.Deliveries(ev, eps)
	if err := s.AddEvent(context.Background(), ev, ds); err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	return ev, ds
}

func delivery(t *testing.T, s webhooks.Store, id string) webhooks.Delivery {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatalf("Delivery(%s): %v", id, err)
	}
	return d
}

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = id(v)
	}
	return out
}

func testEndpoints(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	a := endpoint(t, s, "acme", base)
	b := endpoint(t, s, "acme", base.Add(time.Second))
	c := endpoint(t, s, "globex", base.Add(2*time.Second))
	if err := s.CreateEndpoint(ctx, a); !errors.Is(err, webhooks.ErrExists) {
		t.Errorf("creating %s twice: %v, want ErrExists", a.ID, err)
	}
	got, err := s.Endpoint(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != a.URL || got.TenantID != "acme" || !got.CreatedAt.Equal(a.CreatedAt) || len(got.Secrets) != 1 ||
		got.Secrets[0].Value != a.Secrets[0].Value || got.Disabled {
		t.Errorf("Endpoint = %+v, want %+v", got, a)
	}
	if _, err := s.Endpoint(ctx, "ep_missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("unknown endpoint: %v, want ErrNotFound", err)
	}
	list, err := s.ListEndpoints(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(list, func(e webhooks.Endpoint) string { return e.ID }), []string{b.ID, a.ID}; !slices.Equal(got, want) {
		t.Errorf("ListEndpoints(acme) = %v, want %v (newest first)", got, want)
	}
	all, _ := s.ListEndpoints(ctx, "")
	if got, want := ids(all, func(e webhooks.Endpoint) string { return e.ID }), []string{c.ID, b.ID, a.ID}; !slices.Equal(got, want) {
		t.Errorf("ListEndpoints(\"\") = %v, want %v", got, want)
	}
	typed, _ := webhooks.NewEndpoint("acme", "https://x.example/", []string{webhooks.EventQuotaWarning, webhooks.EventBudgetExceeded}, base)
	if err := s.CreateEndpoint(ctx, typed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Endpoint(ctx, typed.ID); !slices.Equal(got.EventTypes, typed.EventTypes) {
		t.Errorf("EventTypes = %v, want %v", got.EventTypes, typed.EventTypes)
	}
}

func testDeleteEndpoint(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	a, b := endpoint(t, s, "acme", base), endpoint(t, s, "acme", base)
	ev, ds := event(t, s, "acme", base, a, b)
	err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: ds[0].ID, Number: 1, At: base, StatusCode: 500},
		Status:  webhooks.StatusPending, NextAttemptAt: base.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEndpoint(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEndpoint(ctx, a.ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if _, err := s.Delivery(ctx, ds[0].ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("delivery of a deleted endpoint: %v, want ErrNotFound", err)
	}
	if as, _ := s.Attempts(ctx, ds[0].ID); len(as) != 0 {
		t.Errorf("attempts of a deleted endpoint's delivery: %d, want 0", len(as))
	}
	if _, err := s.Delivery(ctx, ds[1].ID); err != nil {
		t.Errorf("the other endpoint's delivery: %v", err)
	}
	if _, err := s.Event(ctx, ev.ID); err != nil {
		t.Errorf("event after deleting one endpoint: %v", err)
	}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: webhooks.Attempt{DeliveryID: ds[0].ID, Number: 2, At: base}}); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("RecordAttempt on a deleted delivery: %v, want ErrNotFound", err)
	}
}

func testRotateSecret(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	first := ep.Secrets[0].Value
	next := webhooks.Secret{Value: webhooks.NewSecret(), CreatedAt: base.Add(time.Hour)}
	got, err := s.RotateSecret(ctx, ep.ID, next, base.Add(25*time.Hour), base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Secrets) != 2 || got.Secrets[0].Value != next.Value || got.Secrets[1].Value != first ||
		!got.Secrets[1].ExpiresAt.Equal(base.Add(25*time.Hour)) || !got.Secrets[0].ExpiresAt.IsZero() {
		t.Fatalf("after rotation: %+v", got.Secrets)
	}
	stored, _ := s.Endpoint(ctx, ep.ID)
	if !slices.Equal(stored.SigningSecrets(base.Add(2*time.Hour)), []string{next.Value, first}) {
		t.Errorf("signing secrets within the overlap: %v", stored.SigningSecrets(base.Add(2*time.Hour)))
	}
	if !slices.Equal(stored.SigningSecrets(base.Add(25*time.Hour)), []string{next.Value}) {
		t.Errorf("signing secrets after the overlap: %v", stored.SigningSecrets(base.Add(25*time.Hour)))
	}
	if _, err := s.RotateSecret(ctx, "ep_missing", next, base, base); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("rotating an unknown endpoint: %v, want ErrNotFound", err)
	}
}

func testDisableEndpoint(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep, other := endpoint(t, s, "acme", base), endpoint(t, s, "acme", base)
	_, d1 := event(t, s, "acme", base, ep, other)
	_, d2 := event(t, s, "acme", base, ep)
	_, d3 := event(t, s, "acme", base, ep)
	// d3 succeeded before the endpoint was disabled: it must stay succeeded.
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: d3[0].ID, Number: 1, At: base, StatusCode: 200}, Status: webhooks.StatusSucceeded,
	}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DisableEndpoint(ctx, ep.ID, "endpoint answered 410 Gone", base.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DisableEndpoint = %d, %v; want 2 deliveries failed", n, err)
	}
	got, _ := s.Endpoint(ctx, ep.ID)
	if !got.Disabled || got.DisabledReason != "endpoint answered 410 Gone" || !got.DisabledAt.Equal(base.Add(time.Minute)) {
		t.Errorf("endpoint after disabling: %+v", got)
	}
	for _, id := range []string{d1[0].ID, d2[0].ID} {
		d := delivery(t, s, id)
		if d.Status != webhooks.StatusFailed || d.Reason != "endpoint disabled: endpoint answered 410 Gone" || !d.NextAttemptAt.IsZero() {
			t.Errorf("delivery %s after disabling: status %s, reason %q, next %v", id, d.Status, d.Reason, d.NextAttemptAt)
		}
	}
	if d := delivery(t, s, d3[0].ID); d.Status != webhooks.StatusSucceeded {
		t.Errorf("succeeded delivery became %s", d.Status)
	}
	if d := delivery(t, s, d1[1].ID); d.Status != webhooks.StatusPending {
		t.Errorf("other endpoint's delivery became %s", d.Status)
	}
	// Disabling again keeps the first reason and time.
	if n, err := s.DisableEndpoint(ctx, ep.ID, "another reason", base.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("disabling again = %d, %v", n, err)
	}
	if got, _ := s.Endpoint(ctx, ep.ID); got.DisabledReason != "endpoint answered 410 Gone" || !got.DisabledAt.Equal(base.Add(time.Minute)) {
		t.Errorf("disabling again changed reason or time: %q %v", got.DisabledReason, got.DisabledAt)
	}
	if _, err := s.DisableEndpoint(ctx, "ep_missing", "x", base); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("disabling an unknown endpoint: %v", err)
	}
	if err := s.EnableEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Endpoint(ctx, ep.ID); got.Disabled || got.DisabledReason != "" || !got.DisabledAt.IsZero() || !got.FailingSince.IsZero() {
		t.Errorf("endpoint after enabling: %+v", got)
	}
	if d := delivery(t, s, d1[0].ID); d.Status != webhooks.StatusFailed {
		t.Errorf("enabling changed a failed delivery to %s", d.Status)
	}
	if err := s.EnableEndpoint(ctx, "ep_missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("enabling an unknown endpoint: %v", err)
	}
}

func testAddEvent(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	ev, ds := event(t, s, "acme", base, ep)
	got, err := s.Event(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload, ev.Payload) || got.Type != ev.Type || got.TenantID != "acme" || !got.Timestamp.Equal(ev.Timestamp) {
		t.Errorf("Event = %+v %s, want %+v %s", got, got.Payload, ev, ev.Payload)
	}
	d := delivery(t, s, ds[0].ID)
	if d.Status != webhooks.StatusPending || d.EventID != ev.ID || d.EndpointID != ep.ID || d.TenantID != "acme" ||
		d.EventType != ev.Type || d.Attempts != 0 || !d.NextAttemptAt.Equal(base) || !d.CreatedAt.Equal(base) {
		t.Errorf("Delivery = %+v", d)
	}
	// A retried write of the same event changes nothing.
	again := webhooks.Deliveries(ev, []webhooks.Endpoint{ep})
	if err := s.AddEvent(ctx, ev, again); err != nil {
		t.Errorf("AddEvent again: %v, want nil", err)
	}
	if list, _ := s.ListDeliveries(ctx, webhooks.DeliveryQuery{EndpointID: ep.ID}); len(list) != 1 {
		t.Errorf("%d deliveries after adding the event twice, want 1", len(list))
	}
	if _, err := s.Event(ctx, "msg_missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
	if _, err := s.Delivery(ctx, "dlv_missing"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("unknown delivery: %v", err)
	}
}

func testListDeliveries(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	a, b := endpoint(t, s, "acme", base), endpoint(t, s, "globex", base)
	var all []string
	for i := range 5 {
		_, ds := event(t, s, "acme", base.Add(time.Duration(i)*time.Second), a)
		all = append(all, ds[0].ID)
		event(t, s, "globex", base, b)
	}
	slices.Sort(all)
	slices.Reverse(all) // newest (highest id) first
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: all[1], Number: 1, At: base, StatusCode: 200}, Status: webhooks.StatusSucceeded,
	}); err != nil {
		t.Fatal(err)
	}
	id := func(d webhooks.Delivery) string { return d.ID }
	tests := []struct {
		name string
		q    webhooks.DeliveryQuery
		want []string
	}{
		{"endpoint", webhooks.DeliveryQuery{EndpointID: a.ID}, all},
		{"tenant", webhooks.DeliveryQuery{TenantID: "acme"}, all},
		{"limit", webhooks.DeliveryQuery{EndpointID: a.ID, Limit: 2}, all[:2]},
		{"next page", webhooks.DeliveryQuery{EndpointID: a.ID, Limit: 2, Before: all[1]}, all[2:4]},
		{"succeeded", webhooks.DeliveryQuery{EndpointID: a.ID, Status: webhooks.StatusSucceeded}, all[1:2]},
		{"pending", webhooks.DeliveryQuery{EndpointID: a.ID, Status: webhooks.StatusPending}, append([]string{all[0]}, all[2:]...)},
		{"failed", webhooks.DeliveryQuery{EndpointID: a.ID, Status: webhooks.StatusFailed}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.ListDeliveries(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(list, id); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func testPending(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	_, d1 := event(t, s, "acme", base, ep)
	_, d2 := event(t, s, "acme", base.Add(time.Second), ep)
	_, d3 := event(t, s, "acme", base.Add(2*time.Second), ep)
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: d2[0].ID, Number: 1, At: base, StatusCode: 503},
		Status:  webhooks.StatusPending, NextAttemptAt: base.Add(5 * time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: d3[0].ID, Number: 1, At: base, StatusCode: 204}, Status: webhooks.StatusSucceeded,
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]webhooks.Due{}
	if err := s.Pending(ctx, func(d webhooks.Due) error { got[d.DeliveryID] = d; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Pending gave %d deliveries, want 2: %v", len(got), got)
	}
	if d := got[d1[0].ID]; d.EndpointID != ep.ID || !d.NextAttemptAt.Equal(base) || d.Attempts != 0 || !d.CreatedAt.Equal(base) {
		t.Errorf("due %+v", d)
	}
	if d := got[d2[0].ID]; !d.NextAttemptAt.Equal(base.Add(5*time.Second)) || d.Attempts != 1 {
		t.Errorf("due after a failed attempt %+v", d)
	}
	stop := errors.New("stop")
	if err := s.Pending(ctx, func(webhooks.Due) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Pending returned %v, want fn's error", err)
	}
}

func testRecordAttempt(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	_, ds := event(t, s, "acme", base, ep)
	id := ds[0].ID
	fail := webhooks.Attempt{DeliveryID: id, Number: 1, At: base.Add(time.Second), StatusCode: 500,
		Duration: 12 * time.Millisecond, ResponseBody: "oops"}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: fail, Status: webhooks.StatusPending, NextAttemptAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d := delivery(t, s, id)
	if d.Status != webhooks.StatusPending || d.Attempts != 1 || d.LastStatus != 500 || !d.LastAttemptAt.Equal(fail.At) ||
		!d.NextAttemptAt.Equal(base.Add(time.Minute)) {
		t.Errorf("after a failed attempt: %+v", d)
	}
	if got, _ := s.Endpoint(ctx, ep.ID); !got.FailingSince.Equal(fail.At) {
		t.Errorf("FailingSince = %v, want %v", got.FailingSince, fail.At)
	}
	// The same attempt written again (a retried write) is ignored.
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: fail, Status: webhooks.StatusPending, NextAttemptAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	neterr := webhooks.Attempt{DeliveryID: id, Number: 2, At: base.Add(2 * time.Minute), Error: "connection refused"}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: neterr, Status: webhooks.StatusPending, NextAttemptAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Endpoint(ctx, ep.ID); !got.FailingSince.Equal(fail.At) {
		t.Errorf("a second failure moved FailingSince to %v", got.FailingSince)
	}
	if d := delivery(t, s, id); d.LastStatus != 0 || d.LastError != "connection refused" || d.Attempts != 2 {
		t.Errorf("after a network error: %+v", d)
	}
	ok := webhooks.Attempt{DeliveryID: id, Number: 3, At: base.Add(time.Hour), StatusCode: 200, Duration: time.Millisecond}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: ok, Status: webhooks.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	d = delivery(t, s, id)
	if d.Status != webhooks.StatusSucceeded || d.Attempts != 3 || d.LastStatus != 200 || d.LastError != "" {
		t.Errorf("after success: %+v", d)
	}
	if got, _ := s.Endpoint(ctx, ep.ID); !got.FailingSince.IsZero() {
		t.Errorf("FailingSince after a success = %v, want zero", got.FailingSince)
	}
	as, err := s.Attempts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 {
		t.Fatalf("%d attempts recorded, want 3: %+v", len(as), as)
	}
	want := []webhooks.Attempt{fail, neterr, ok}
	for i, a := range as {
		w := want[i]
		if a.DeliveryID != id || a.Number != w.Number || !a.At.Equal(w.At) || a.StatusCode != w.StatusCode ||
			a.Error != w.Error || a.Duration != w.Duration || a.ResponseBody != w.ResponseBody {
			t.Errorf("attempt %d = %+v, want %+v", i+1, a, w)
		}
	}
	// Failing for good.
	_, ds = event(t, s, "acme", base, ep)
	last := webhooks.Attempt{DeliveryID: ds[0].ID, Number: 1, At: base, StatusCode: 500}
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{Attempt: last, Status: webhooks.StatusFailed, Reason: "no attempts left after 1"}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, ds[0].ID); d.Status != webhooks.StatusFailed || d.Reason != "no attempts left after 1" || !d.NextAttemptAt.IsZero() {
		t.Errorf("after the last attempt: %+v", d)
	}
}

func testRecordAttemptAfterDisable(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	_, d1 := event(t, s, "acme", base, ep)
	_, d2 := event(t, s, "acme", base, ep)
	if _, err := s.DisableEndpoint(ctx, ep.ID, "endpoint answered 410 Gone", base); err != nil {
		t.Fatal(err)
	}
	// Two attempts were in flight as the endpoint was disabled: a failure leaves its delivery failed...
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: d1[0].ID, Number: 1, At: base, StatusCode: 500},
		Status:  webhooks.StatusPending, NextAttemptAt: base.Add(time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, d1[0].ID); d.Status != webhooks.StatusFailed || d.Attempts != 1 || d.LastStatus != 500 {
		t.Errorf("a failed attempt after disabling: %+v, want failed with the attempt counted", d)
	}
	// ...and a success marks its delivery succeeded: the receiver has it.
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: d2[0].ID, Number: 1, At: base, StatusCode: 202}, Status: webhooks.StatusSucceeded,
	}); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, s, d2[0].ID); d.Status != webhooks.StatusSucceeded {
		t.Errorf("a successful attempt after disabling: %+v, want succeeded", d)
	}
}

func testRequeue(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep := endpoint(t, s, "acme", base)
	_, ds := event(t, s, "acme", base, ep)
	id := ds[0].ID
	if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
		Attempt: webhooks.Attempt{DeliveryID: id, Number: 1, At: base, StatusCode: 500},
		Status:  webhooks.StatusFailed, Reason: "no attempts left after 1",
	}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Requeue(ctx, id, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != webhooks.StatusPending || d.Reason != "" || d.Attempts != 1 || !d.NextAttemptAt.Equal(base.Add(time.Hour)) {
		t.Errorf("Requeue = %+v", d)
	}
	if stored := delivery(t, s, id); stored != d {
		t.Errorf("stored %+v, returned %+v", stored, d)
	}
	if _, err := s.Requeue(ctx, "dlv_missing", base); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Requeue of an unknown delivery: %v", err)
	}
	if _, err := s.DisableEndpoint(ctx, ep.ID, "off", base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Requeue(ctx, id, base); !errors.Is(err, webhooks.ErrEndpointDisabled) {
		t.Errorf("Requeue with the endpoint disabled: %v, want ErrEndpointDisabled", err)
	}
	if d := delivery(t, s, id); d.Status != webhooks.StatusFailed {
		t.Errorf("a refused Requeue changed the delivery to %s", d.Status)
	}
}

func testRequeueFailed(t *testing.T, s webhooks.Store) {
	ctx := context.Background()
	ep, other := endpoint(t, s, "acme", base), endpoint(t, s, "acme", base)
	var failed []string
	for i := range 4 {
		_, ds := event(t, s, "acme", base.Add(time.Duration(i)*time.Hour), ep, other)
		for _, d := range ds {
			if err := s.RecordAttempt(ctx, webhooks.AttemptResult{
				Attempt: webhooks.Attempt{DeliveryID: d.ID, Number: 1, At: base, StatusCode: 500},
				Status:  webhooks.StatusFailed, Reason: "no attempts left after 1",
			}); err != nil {
				t.Fatal(err)
			}
		}
		failed = append(failed, ds[0].ID)
	}
	_, ok := event(t, s, "acme", base.Add(5*time.Hour), ep) // pending: not touched
	got, err := s.RequeueFailed(ctx, ep.ID, base.Add(2*time.Hour), base.Add(6*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	gotIDs := ids(got, func(d webhooks.Delivery) string { return d.ID })
	slices.Sort(gotIDs)
	if want := slices.Sorted(slices.Values(failed[2:])); !slices.Equal(gotIDs, want) {
		t.Fatalf("RequeueFailed = %v, want %v (failed since the cut, this endpoint only)", gotIDs, want)
	}
	for _, id := range failed[2:] {
		if d := delivery(t, s, id); d.Status != webhooks.StatusPending || !d.NextAttemptAt.Equal(base.Add(6*time.Hour)) || d.Reason != "" {
			t.Errorf("requeued %+v", d)
		}
	}
	for _, id := range failed[:2] {
		if d := delivery(t, s, id); d.Status != webhooks.StatusFailed {
			t.Errorf("failed before the cut but now %s", d.Status)
		}
	}
	if d := delivery(t, s, ok[0].ID); !d.NextAttemptAt.Equal(base.Add(5 * time.Hour)) {
		t.Errorf("a pending delivery was moved to %v", d.NextAttemptAt)
	}
	if _, err := s.RequeueFailed(ctx, "ep_missing", base, base); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
	if _, err := s.DisableEndpoint(ctx, ep.ID, "off", base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequeueFailed(ctx, ep.ID, base, base); !errors.Is(err, webhooks.ErrEndpointDisabled) {
		t.Errorf("disabled endpoint: %v, want ErrEndpointDisabled", err)
	}
}
