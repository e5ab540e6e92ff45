package ledger

import (
	"context"
	"sort"
	"time"
)

// AnalyticsQuery selects hourly rollups.
type AnalyticsQuery struct {
	// TenantID is the tenant; "" is the requests without one (unauthorized). Ignored with AllTenants.
	TenantID   string
	AllTenants bool // every tenant and the requests without one
	// From and To are the range. Buckets are whole UTC hours: From is rounded down and To up to the hour, so
	// the answer covers every hour the range touches, half-open: [From, To).
	From, To time.Time
	// Model and OperationType, if set, keep only that model's or that operation type's requests.
	Model, OperationType string
}

// Analytics is what a range of hours holds.
type Analytics struct {
	From, To        time.Time    // the range after rounding to whole hours
	Hours           []HourRollup // ascending; hours without any request are left out
	Total           Rollup
	ByModel         []GroupRollup // over the whole range, most requests first
	ByOperationType []GroupRollup
}

// HourRollup is one UTC hour's facts.
type HourRollup struct {
	Hour time.Time
	Rollup
}

// GroupRollup is one model's or operation type's facts over the range.
type GroupRollup struct {
	Name string
	Rollup
}

// HourRange rounds [from, to) out to whole UTC hours.
func HourRange(from, to time.Time) (time.Time, time.Time) {
	f, t := hourOf(from), hourOf(to)
	if t < to.Unix() || t == to.Unix() && to.Nanosecond() > 0 {
		t += 3600
	}
	return time.Unix(f, 0).UTC(), time.Unix(t, 0).UTC()
}

// Analytics reads the rollups of q's range: a row per hour, model and operation type, so a 30-day range of a
// tenant is 720 rows per model and type, however many requests they hold.
func (s *Store) Analytics(ctx context.Context, q AnalyticsQuery) (*Analytics, error) {
	from, to := HourRange(q.From, q.To)
	query, args := `SELECT hour, model, op_type, `+rollupColumns+` FROM hourly_usage WHERE tenant_id = ? AND hour >= ? AND hour < ?`,
		[]any{q.TenantID, from.Unix(), to.Unix()}
	if q.AllTenants {
		query, args = `SELECT hour, model, op_type, `+rollupColumns+` FROM hourly_usage_all WHERE hour >= ? AND hour < ?`,
			args[1:]
	}
	if q.Model != "" {
		query, args = query+` AND model = ?`, append(args, q.Model)
	}
	if q.OperationType != "" {
		query, args = query+` AND op_type = ?`, append(args, q.OperationType)
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY hour`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	a := &Analytics{From: from, To: to, Hours: []HourRollup{}}
	byModel, byType := map[string]*Rollup{}, map[string]*Rollup{}
	var row rollupRow
	var hour int64
	var model, opType string
	var latency, ttfb []sketchBin
	dest := append([]any{&hour, &model, &opType}, row.fields()...)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		// Each row's sketches are decoded once and added to its hour and its groups; the total is the hours'.
		if latency, err = decodeSketch(row.latency, latency[:0]); err != nil {
			return nil, err
		}
		if ttfb, err = decodeSketch(row.ttfb, ttfb[:0]); err != nil {
			return nil, err
		}
		if n := len(a.Hours); n == 0 || a.Hours[n-1].Hour.Unix() != hour {
			a.Hours = append(a.Hours, HourRollup{Hour: time.Unix(hour, 0).UTC()})
		}
		for _, r := range [...]*Rollup{&a.Hours[len(a.Hours)-1].Rollup, group(byModel, model), group(byType, opType)} {
			r.Merge(&row.Rollup) // its sketches are empty: the stored ones are added next
			r.Latency.Sketch.addBins(latency)
			r.TTFB.Sketch.addBins(ttfb)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range a.Hours {
		a.Total.Merge(&a.Hours[i].Rollup)
	}
	a.ByModel, a.ByOperationType = sortedGroups(byModel), sortedGroups(byType)
	return a, nil
}

func group(m map[string]*Rollup, name string) *Rollup {
	r := m[name]
	if r == nil {
		r = new(Rollup)
		m[name] = r
	}
	return r
}

func sortedGroups(m map[string]*Rollup) []GroupRollup {
	out := make([]GroupRollup, 0, len(m))
	for name, r := range m {
		out = append(out, GroupRollup{Name: name, Rollup: *r})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Name < out[j].Name
	})
	return out
}
