package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's clock in VerifyRequest.
const DefaultTolerance = 5 * time.Minute

// ErrNoMatchingSignature is returned by Verify when no v1 signature matches.
var ErrNoMatchingSignature = errors.New("no matching webhook signature")

// Sign returns the Standard Webhooks signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed with the
// decoded secret.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

// SignatureHeader signs with every secret and joins the signatures with spaces, the webhook-signature value.
func SignatureHeader(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	var b strings.Builder
	for i, s := range secrets {
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			return "", fmt.Errorf("secret %d: %w", i, err)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sig)
	}
	return b.String(), nil
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var ts [20]byte
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(ts[:0], unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a webhook-signature value: nil if any of its space-separated "v1,<sig>" entries is the
// signature of id, ts and body under secret. Entries of other versions are ignored.
func Verify(secret, id string, ts time.Time, body []byte, signatures string) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	want := mac(key, id, ts.Unix(), body)
	for _, entry := range strings.Fields(signatures) {
		sig, ok := strings.CutPrefix(entry, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// VerifyRequest checks a received webhook as a receiver should: the three headers are present, the timestamp is
// within tolerance of now (not checked when tolerance is negative), and a signature matches.
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("bad webhook-timestamp %q", tsText)
	}
	ts := time.Unix(unix, 0)
	if tolerance >= 0 {
		if d := now.Sub(ts); d > tolerance || d < -tolerance {
			return fmt.Errorf("webhook-timestamp %d is %s away from now", unix, d.Round(time.Second))
		}
	}
	return Verify(secret, id, ts, body, sigs)
}
