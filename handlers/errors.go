package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/helixgateway/caddy-ai-gateway/limits"
)

// apiError is the OpenAI error shape, which OpenAI's and most other SDKs parse and show to the developer.
type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Param   string `json:"param,omitempty"`
}

// writeError answers with {"error": {...}}. Errors are written here rather than returned as caddyhttp.Error
// because SDKs need the JSON body; handle_errors would replace it with an empty one.
func writeError(w http.ResponseWriter, status int, typ, code, message string) {
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{apiError{Message: message, Type: typ, Code: code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding response","type":"server_error","code":"internal_error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// setRateLimitHeaders writes the IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers)
// for the daily quota and the token bucket, as structured-field lists.
func setRateLimitHeaders(h http.Header, d limits.Decision, p limits.Policy) {
	var pbuf, sbuf [128]byte // both fields fit on the stack; only the final strings are allocated
	policy, state := pbuf[:0], sbuf[:0]
	item := func(name string, quota, window, remaining, reset int64) {
		if len(policy) > 0 {
			policy, state = append(policy, ", "...), append(state, ", "...)
		}
		policy = append(policy, '"')
		policy = append(policy, name...)
		policy = append(policy, `";q=`...)
		policy = strconv.AppendInt(policy, quota, 10)
		policy = append(policy, ";w="...)
		policy = strconv.AppendInt(policy, window, 10)
		state = append(state, '"')
		state = append(state, name...)
		state = append(state, `";r=`...)
		state = strconv.AppendInt(state, remaining, 10)
		state = append(state, ";t="...)
		state = strconv.AppendInt(state, reset, 10)
	}
	if d.QuotaLimit != limits.Unlimited {
		item("daily", d.QuotaLimit, 86400, d.QuotaRemaining, seconds(d.QuotaReset))
	}
	if d.BucketLimit > 0 {
		item("burst", d.BucketLimit, seconds(time.Duration(d.BucketLimit)*p.Interval), d.BucketRemaining, seconds(d.BucketReset))
	}
	if len(policy) > 0 {
		vals := []string{string(policy), string(state)}
		h["Ratelimit-Policy"], h["Ratelimit"] = vals[0:1:1], vals[1:2:2]
	}
}

// seconds rounds d up to whole seconds, as Retry-After and the RateLimit fields want.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
