package ledger

import (
	"context"
	"fmt"

	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// outbox turns a batch's records into webhook events and deliveries, written in the batch's transaction: an
// event exists exactly when the operation that caused it does. Only tenants with endpoints that want an event
// type get events of it, so a gateway without webhooks pays one map lookup per record.
type outbox struct {
	hooks      *WebhookStore
	deliveries []webhooks.Delivery // to announce to the dispatcher once committed
}

func (o *outbox) add(ctx context.Context, tx execer, op *Operation) error {
	if o.hooks == nil || op.TenantID == "" {
		return nil
	}
	subs := o.hooks.Subscriptions(op.TenantID)
	if subs.Len() == 0 {
		return nil
	}
	var typ string
	switch op.Outcome {
	case OutcomeOK:
		typ = webhooks.EventOperationCompleted
	case OutcomeUpstreamError:
		typ = webhooks.EventOperationFailed
	}
	if typ != "" && subs.Wants(typ) {
		if err := o.event(ctx, tx, subs, typ, operationData(op), op); err != nil {
			return err
		}
	}
	for _, n := range op.Notices {
		if subs.Wants(n.Type) {
			if err := o.event(ctx, tx, subs, n.Type, n.Data, op); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o *outbox) event(ctx context.Context, tx execer, subs Subscriptions, typ string, data any, op *Operation) error {
	ev, err := webhooks.NewEvent(typ, op.TenantID, data, op.At.Add(op.Latency))
	if err != nil {
		return fmt.Errorf("building %s event: %w", typ, err)
	}
	ds := subs.deliveries(ev)
	if _, err := addEventTx(ctx, tx, ev, ds); err != nil {
		return err
	}
	o.deliveries = append(o.deliveries, ds...)
	return nil
}

// operationData is the data of operation.completed and operation.failed.
func operationData(op *Operation) map[string]any {
	d := map[string]any{
		"operation_id": op.ID, "key_id": op.KeyID, "operation_type": op.Type, "path": op.Path, "status": op.Status,
		"outcome": op.Outcome, "latency_ms": op.Latency.Milliseconds(), "started_at": op.At,
	}
	if op.Model != "" {
		u := &op.Usage
		d["model"], d["stream"], d["input_tokens"], d["cached_tokens"], d["output_tokens"], d["reasoning_tokens"] =
			op.Model, op.Stream, u.InputTokens, u.CachedTokens, u.OutputTokens, u.ReasoningTokens
		d["usage_source"], d["interrupted"], d["cost"] = u.Source, u.Interrupted, pricing.Money(op.Cost)
	}
	return d
}
