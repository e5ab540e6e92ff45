package webhooks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var noon = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestNewEvent(t *testing.T) {
	type op struct {
		OperationID string `json:"operation_id"`
		Model       string `json:"model"`
	}
	tests := []struct {
		name    string
		data    any
		want    string // the data object
		wantErr bool
	}{
		{"struct", op{"op_1", "gpt-4o-mini"}, `{"tenant_id":"acme","operation_id":"op_1","model":"gpt-4o-mini"}`, false},
		{"nil", nil, `{"tenant_id":"acme"}`, false},
		{"empty map", map[string]any{}, `{"tenant_id":"acme"}`, false},
		{"raw with spaces", json.RawMessage(` { "a" : 1 } `), `{"tenant_id":"acme","a":1}`, false},
		{"tenant given", map[string]string{"tenant_id": "acme", "x": "y"}, `{"tenant_id":"acme","x":"y"}`, false},
		{"other tenant", map[string]string{"tenant_id": "globex"}, "", true},
		{"not an object", []int{1, 2}, "", true},
		{"null", json.RawMessage(`null`), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := NewEvent(EventOperationCompleted, "acme", tt.data, noon.In(time.FixedZone("X", 3600)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			want := `{"type":"operation.completed","timestamp":"2026-11-27T12:00:00Z","data":` + tt.want + `}`
			if string(ev.Payload) != want {
				t.Errorf("payload\n got %s\nwant %s", ev.Payload, want)
			}
			if !strings.HasPrefix(ev.ID, "msg_") || ev.Type != EventOperationCompleted || ev.TenantID != "acme" || !ev.Timestamp.Equal(noon) {
				t.Errorf("event %+v", ev)
			}
		})
	}
	if _, err := NewEvent("", "acme", nil, noon); err == nil {
		t.Error("an event without a type was accepted")
	}
}

// The payload is a snapshot: changing the data afterwards changes nothing.
func TestNewEventIsASnapshot(t *testing.T) {
	data := map[string]any{"remaining": 10}
	ev, err := NewEvent(EventQuotaWarning, "acme", data, noon)
	if err != nil {
		t.Fatal(err)
	}
	before := string(ev.Payload)
	data["remaining"] = 0
	if string(ev.Payload) != before {
		t.Errorf("payload changed with the data: %s", ev.Payload)
	}
}

func TestDeliveries(t *testing.T) {
	ep := func(id, tenant string, disabled bool, types ...string) Endpoint {
		return Endpoint{ID: id, TenantID: tenant, Disabled: disabled, EventTypes: types}
	}
	endpoints := []Endpoint{
		ep("ep_all", "acme", false),
		ep("ep_ops", "acme", false, EventOperationCompleted, EventOperationFailed),
		ep("ep_quota", "acme", false, EventQuotaWarning),
		ep("ep_off", "acme", true),
		ep("ep_other_tenant", "globex", false),
	}
	tests := []struct {
		typ  string
		want []string
	}{
		{EventOperationCompleted, []string{"ep_all", "ep_ops"}},
		{EventQuotaWarning, []string{"ep_all", "ep_quota"}},
		{EventInvoiceFinalized, []string{"ep_all"}},
		{EventWebhookTest, []string{"ep_all", "ep_ops", "ep_quota"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			ev, err := NewEvent(tt.typ, "acme", nil, noon)
			if err != nil {
				t.Fatal(err)
			}
			ds := Deliveries(ev, endpoints)
			var got []string
			for _, d := range ds {
				got = append(got, d.EndpointID)
				if d.EventID != ev.ID || d.Status != StatusPending || d.TenantID != "acme" || d.EventType != tt.typ ||
					!d.NextAttemptAt.Equal(noon) || !d.CreatedAt.Equal(noon) || !strings.HasPrefix(d.ID, "dlv_") {
					t.Errorf("delivery %+v", d)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("endpoints %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewEndpoint(t *testing.T) {
	ep, err := NewEndpoint("acme", "https://hooks.example.com/x", []string{EventQuotaWarning, EventQuotaWarning, EventBudgetWarning}, noon)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ep.EventTypes, []string{EventQuotaWarning, EventBudgetWarning}) {
		t.Errorf("event types %v", ep.EventTypes)
	}
	if !strings.HasPrefix(ep.ID, "ep_") || len(ep.Secrets) != 1 || !strings.HasPrefix(ep.Secrets[0].Value, SecretPrefix) {
		t.Errorf("endpoint %+v", ep)
	}
	if _, err := NewEndpoint("acme", "https://x/", []string{"quota.warnings"}, noon); err == nil || !strings.Contains(err.Error(), "event_types") {
		t.Errorf("unknown event type: %v", err)
	}
	// Secrets never appear in JSON.
	b, _ := json.Marshal(ep)
	if strings.Contains(string(b), SecretPrefix) {
		t.Errorf("endpoint JSON shows the secret: %s", b)
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := NewID("dlv_")
	time.Sleep(2 * time.Millisecond)
	b := NewID("dlv_")
	if len(a) != 4+22 || a >= b {
		t.Errorf("ids %s, %s: want 26 characters, increasing", a, b)
	}
	seen := map[string]bool{}
	for range 10000 {
		id := NewID("x")
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}
