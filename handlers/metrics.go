package handlers

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// The gateway's Prometheus metrics, built once per process and registered with each config's registry, so
// that they survive reloads. No label is unbounded: tenants appear only when the operator turns
// metrics_per_tenant on.
var metrics = struct {
	once        sync.Once
	requests    *prometheus.CounterVec // outcome, plan
	perTenant   *prometheus.CounterVec // tenant, outcome (only with metrics_per_tenant)
	tokens      *prometheus.CounterVec // kind
	tokenKinds  [4]prometheus.Counter  // input, output, cached, reasoning: looked up once, not per request
	cost        prometheus.Counter
	unpriced    prometheus.Counter
	unavailable prometheus.Counter
	admission   prometheus.Histogram
	flush       prometheus.Histogram
	flushed     prometheus.Counter
	flushFails  prometheus.Counter
	queueDepth  prometheus.GaugeFunc
	ledgerUp    prometheus.GaugeFunc
	hooks       []prometheus.Collector // webhook delivery counters, read from the running dispatcher
}{}

// currentDispatcher is the dispatcher the webhook metrics read.
var currentDispatcher atomic.Pointer[func() *webhooks.Dispatcher]

// WatchDispatcher points the webhook metrics at the dispatcher get returns.
func WatchDispatcher(get func() *webhooks.Dispatcher) { currentDispatcher.Store(&get) }

func dispatcherStats() webhooks.Stats {
	if get := currentDispatcher.Load(); get != nil {
		if d := (*get)(); d != nil {
			return d.Stats()
		}
	}
	return webhooks.Stats{}
}

// current is the writer the queue-depth gauge reads; it changes only when the database does.
var current atomic.Pointer[ledger.Writer]

func initMetrics() {
	const ns, sub = "caddy", "ai_gateway"
	metrics.once.Do(func() {
		metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests through ai_gateway, by outcome (ok, upstream_error, denied_rate, denied_quota, denied_budget, unauthorized, suspended, bad_request) and plan."},
			[]string{"outcome", "plan"})
		metrics.perTenant = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tenant_requests_total",
			Help: "Requests by tenant and outcome; only with metrics_per_tenant on."}, []string{"tenant", "outcome"})
		metrics.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tokens_total",
			Help: "Tokens metered, by kind (input, output, cached, reasoning)."}, []string{"kind"})
		for i, kind := range []string{"input", "output", "cached", "reasoning"} {
			metrics.tokenKinds[i] = metrics.tokens.WithLabelValues(kind)
		}
		metrics.cost = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "cost_nanos_total",
			Help: "Cost of metered calls in nano-units of the currency (billing uses the ledger's exact integers, not this)."})
		metrics.unpriced = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "unpriced_calls_total",
			Help: "Calls to models without a price, recorded at zero cost."})
		metrics.unavailable = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "unavailable_total",
			Help: "Requests refused with 503 ledger_unavailable while the ledger's commits failed."})
		metrics.admission = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "admission_duration_seconds",
			Help: "Time to authenticate and admit a request, body reading included.", Buckets: []float64{1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2}})
		metrics.flush = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "ledger_flush_duration_seconds",
			Help: "Time to commit one batch of operation records.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
		metrics.flushed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ledger_records_total",
			Help: "Operation records committed."})
		metrics.flushFails = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ledger_commit_errors_total",
			Help: "Failed commits of operation records (retried; see the log)."})
		metrics.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "ledger_queue_depth",
			Help: "Operation records waiting to be committed."}, func() float64 {
			if w := current.Load(); w != nil {
				return float64(w.QueueDepth())
			}
			return 0
		})
		stat := func(name, help string, counter bool, f func(webhooks.Stats) float64) prometheus.Collector {
			if counter {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
					func() float64 { return f(dispatcherStats()) })
			}
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
				func() float64 { return f(dispatcherStats()) })
		}
		metrics.hooks = []prometheus.Collector{
			stat("webhook_attempts_total", "Webhook delivery attempts since the dispatcher started.", true,
				func(s webhooks.Stats) float64 { return float64(s.Attempts) }),
			stat("webhook_delivered_total", "Webhook deliveries that succeeded since the dispatcher started.", true,
				func(s webhooks.Stats) float64 { return float64(s.Succeeded) }),
			stat("webhook_failed_total", "Webhook deliveries that failed for good since the dispatcher started.", true,
				func(s webhooks.Stats) float64 { return float64(s.Failed) }),
			stat("webhook_scheduled", "Pending webhook deliveries in the dispatcher's schedule.", false,
				func(s webhooks.Stats) float64 { return float64(s.Scheduled) }),
			stat("webhook_in_flight", "Webhook delivery attempts running now.", false,
				func(s webhooks.Stats) float64 { return float64(s.InFlight) }),
		}
		metrics.ledgerUp = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "ledger_healthy",
			Help: "1 while the ledger commits, 0 while its commits fail (a full disk, a read-only file)."}, func() float64 {
			if w := current.Load(); w != nil && w.Err() != nil {
				return 0
			}
			return 1
		})
	})
}

// RegisterMetrics registers the gateway's collectors with a config's registry; registering again is fine.
func RegisterMetrics(reg *prometheus.Registry) error {
	initMetrics()
	for _, c := range append([]prometheus.Collector{metrics.requests, metrics.perTenant, metrics.tokens, metrics.cost,
		metrics.unpriced, metrics.unavailable, metrics.admission, metrics.flush, metrics.flushed, metrics.flushFails,
		metrics.queueDepth, metrics.ledgerUp}, metrics.hooks...) {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// WatchWriter points the ledger gauges at w.
func WatchWriter(w *ledger.Writer) { current.Store(w) }

// ObserveCommit is the ledger writer's commit hook.
func ObserveCommit(records int, d time.Duration, err error) {
	initMetrics()
	if err != nil {
		metrics.flushFails.Inc()
		return
	}
	metrics.flushed.Add(float64(records))
	metrics.flush.Observe(d.Seconds())
}

// observe counts a finished request.
func observe(op *ledger.Operation, plan string, perTenant bool) {
	metrics.requests.WithLabelValues(op.Outcome, plan).Inc()
	if perTenant && op.TenantID != "" {
		metrics.perTenant.WithLabelValues(op.TenantID, op.Outcome).Inc()
	}
	u := &op.Usage
	if u.InputTokens|u.OutputTokens != 0 {
		metrics.tokenKinds[0].Add(float64(u.InputTokens))
		metrics.tokenKinds[1].Add(float64(u.OutputTokens))
		if u.CachedTokens > 0 {
			metrics.tokenKinds[2].Add(float64(u.CachedTokens))
		}
		if u.ReasoningTokens > 0 {
			metrics.tokenKinds[3].Add(float64(u.ReasoningTokens))
		}
	}
	if op.Cost > 0 {
		metrics.cost.Add(float64(op.Cost))
	}
	if op.Price.Unpriced {
		metrics.unpriced.Inc()
	}
}

// accessLogged reports whether r's server writes access logs.
func accessLogged(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv.Logs != nil
}

// logFields adds the gateway's facts to Caddy's access log line for the request. They go in as one inline
// field: each ExtraLogFields.Add clears a cache (and allocates doing so) and may grow a slice, and the fields
// are encoded only if the line is written. A server without access logs gets none.
func logFields(r *http.Request, op *ledger.Operation) {
	if !accessLogged(r) {
		return
	}
	extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields)
	if !ok {
		return
	}
	extra.Add(zap.Inline((*opLogFields)(op)))
}

// opLogFields encodes a record's ai_* access log fields.
type opLogFields ledger.Operation

func (f *opLogFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("ai_operation", f.ID)
	enc.AddString("ai_outcome", f.Outcome)
	if f.TenantID != "" {
		enc.AddString("ai_tenant", f.TenantID)
	}
	if f.Model != "" {
		enc.AddString("ai_model", f.Model)
		enc.AddInt64("ai_input_tokens", f.Usage.InputTokens)
		enc.AddInt64("ai_output_tokens", f.Usage.OutputTokens)
		enc.AddString("ai_cost", pricing.Money(f.Cost).String())
	}
	return nil
}
