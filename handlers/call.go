package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/helixgateway/caddy-ai-gateway/ledger"
	"github.com/helixgateway/caddy-ai-gateway/pricing"
	"github.com/helixgateway/caddy-ai-gateway/usage"
)

// call is what the gateway learns of a request before forwarding it: its API format, what the body asks
// for, and the price of the model.
type call struct {
	format  usage.Format
	req     usage.Request
	price   pricing.Price
	priced  bool
	limited *limitedBody // the body of a non-JSON call, read as it streams upstream
	body    *pooledBody  // the body of a JSON call, read whole: release it when the call is over
}

// release gives back the call's body buffer, if it has one.
func (c *call) release() {
	if c.body != nil {
		c.body.release()
	}
}

// limitedBody fails a read past the size limit and remembers that it did.
type limitedBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		b.exceeded = true
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

var errBodyTooLarge = errors.New("request body too large")

// readCall reads and checks the body: the size limit on every body, JSON validity on the JSON endpoints. It
// buffers the body (a JSON request is needed whole anyway) and hands the next handler a reader over the same
// bytes, with stream_options.include_usage added to OpenAI streams when stream_usage is on. A bad body is
// returned as a denial, to be answered after admission.
func (g *Gateway) readCall(r *http.Request, opType string) (call, *denial) {
	c := call{format: usage.FormatFor(r.URL.Path, g.Provider)}
	if opType == OpOther || g.Metering != nil && !*g.Metering {
		c.format = usage.Unknown
	}
	if r.Body == nil || r.Body == http.NoBody {
		return c, nil
	}
	if r.ContentLength > g.MaxRequestBody {
		return c, g.tooLarge()
	}
	if opType == OpOther {
		// Streamed to the upstream as it comes; past the limit the read fails, and serve answers 413.
		c.limited = &limitedBody{ReadCloser: r.Body, left: g.MaxRequestBody}
		r.Body = c.limited
		return c, nil
	}
	body, err := readBody(r, g.MaxRequestBody)
	r.Body.Close()
	c.body = &pooledBody{buf: body}
	if int64(len(body)) > g.MaxRequestBody {
		return c, g.tooLarge()
	}
	if err != nil {
		return c, &denial{http.StatusBadRequest, "invalid_request_error", "invalid_request", "Could not read the request body: " + err.Error(), ledger.OutcomeBadRequest}
	}
	if r.Method == http.MethodPost {
		if !usage.Valid(body) {
			return c, errNotJSON
		}
		if c.format == usage.Unknown { // metering off
			r.Body = c.body
			return c, nil
		}
		if c.req, err = usage.ParseRequest(c.format, body); err != nil {
			return c, errNotObject
		}
		if c.req.Stream && !c.req.IncludeUsage && g.streamUsage() {
			// Without it an OpenAI stream reports no usage at all, and the call could only be estimated.
			// The buffer has room for the edit: it is made in place.
			if out, changed, err := usage.AddStreamUsage(c.format, body); err == nil && changed {
				c.body.buf = out
			}
		}
		c.price, c.priced = g.rt.Prices().Lookup(c.req.Model)
		// Under refuse, a body without a (string) model is refused too: the upstream's default model is unpriced
		// as far as the gateway knows.
		if !c.priced && g.rt.Billing().RefuseUnpriced {
			return c, &denial{http.StatusBadRequest, "invalid_request_error", "model_not_priced",
				fmt.Sprintf("The model %q is not available on this gateway.", c.req.Model), ledger.OutcomeBadRequest}
		}
	}
	r.Body = c.body
	r.ContentLength = int64(len(c.body.buf))
	return c, nil
}

// readBody reads r's body, up to one byte past limit, into a pooled buffer (see getBodyBuffer). A body of
// known length is read into a buffer of exactly that length (net/http ends it there); one of unknown length
// grows as bytes.Buffer would, which also keeps 512 bytes free before each read.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit {
		body := getBodyBuffer(int(n))
		_, err := io.ReadFull(r.Body, body)
		return body, err
	}
	buf := bytes.NewBuffer(getBodyBuffer(0))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	return buf.Bytes(), err
}

var (
	errNotJSON   = &denial{http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request body is not valid JSON.", ledger.OutcomeBadRequest}
	errNotObject = &denial{http.StatusBadRequest, "invalid_request_error", "invalid_request", "The request body must be a JSON object.", ledger.OutcomeBadRequest}
)

func (g *Gateway) tooLarge() *denial {
	return &denial{http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
		fmt.Sprintf("Request body is larger than the %d-byte limit.", g.MaxRequestBody), ledger.OutcomeBadRequest}
}

// estimate is what a call may cost at most, held against the tenant's monthly budget while it runs: every
// character of input text as a token (real tokenizers average about four characters a token, so this is
// generous) and the request's max output tokens (or the configured default) at the model's prices.
func (c *call) estimate(defaultOutput int64) int64 {
	if !c.priced {
		return 0
	}
	out := c.req.MaxOutputTokens
	if out <= 0 && c.format != usage.OpenAIEmbedding {
		out = defaultOutput
	}
	return int64(c.price.Cost(pricing.Tokens{Input: c.req.InputChars, Output: out}).Total)
}

// settle fills in op's model, usage and cost from what the meter saw. A 2xx answer always costs something:
// when the provider reported no usage, input is estimated from the request and output from the text that
// streamed, and the record says so.
func (c *call) settle(op *ledger.Operation, u usage.Usage, status int, provider string) {
	op.Model, op.Provider = u.Model, provider
	if op.Model == "" {
		op.Model = c.req.Model
	}
	op.Stream = c.req.Stream
	ok := status >= 200 && status < 300
	if !ok && u.Source != usage.Reported {
		return // an error answer without usage: nothing was produced
	}
	lu := ledger.Usage{InputTokens: u.InputTokens, CachedTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens,
		OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens, Source: u.Source.String(), Interrupted: ok && !u.Complete}
	if u.Source != usage.Reported {
		lu.Source = usage.Estimated.String()
		if lu.InputTokens == 0 {
			lu.InputTokens = usage.EstimateTokens(c.req.InputChars)
		}
	}
	op.Usage = lu
	if !c.priced {
		op.Price = ledger.Price{Unpriced: true}
		return
	}
	p := c.price
	op.Price = ledger.Price{Input: int64(p.Input), Output: int64(p.Output), Cached: int64(p.CachedInput),
		CacheWrite: int64(p.CacheWrite), Version: p.Source}
	op.Cost = int64(p.Cost(pricing.Tokens{Input: lu.InputTokens, CachedInput: lu.CachedTokens,
		CacheWrite: lu.CacheWriteTokens, Output: lu.OutputTokens}).Total)
	op.Clamp() // before the limiter adds it to the month's spend
}
