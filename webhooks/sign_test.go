package webhooks

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test vector of the Standard Webhooks specification.
func TestSignStandardWebhooksVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	ts := time.Unix(1614265330, 0)
	got, err := Sign(secret, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if err := Verify(secret, id, ts, []byte(body), want); err != nil {
		t.Errorf("Verify of the vector: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret, other := NewSecret(), NewSecret()
	ts := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"webhook.test"}`)
	sig, _ := Sign(secret, "msg_1", ts, body)
	otherSig, _ := Sign(other, "msg_1", ts, body)
	tests := []struct {
		name string
		id   string
		ts   time.Time
		body string
		sigs string
		ok   bool
	}{
		{"match", "msg_1", ts, string(body), sig, true},
		{"match among several", "msg_1", ts, string(body), "v2,xyz " + otherSig + " " + sig, true},
		{"other secret only", "msg_1", ts, string(body), otherSig, false},
		{"body changed", "msg_1", ts, string(body) + " ", sig, false},
		{"id changed", "msg_2", ts, string(body), sig, false},
		{"timestamp changed", "msg_1", ts.Add(time.Second), string(body), sig, false},
		{"no version", "msg_1", ts, string(body), strings.TrimPrefix(sig, "v1,"), false},
		{"empty", "msg_1", ts, string(body), "", false},
		{"bad base64", "msg_1", ts, string(body), "v1,***", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(secret, tt.id, tt.ts, []byte(tt.body), tt.sigs)
			if (err == nil) != tt.ok {
				t.Errorf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	b64 := func(n int) string { return SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name, secret string
		ok           bool
	}{
		{"new", NewSecret(), true},
		{"24 bytes", b64(24), true},
		{"64 bytes", b64(64), true},
		{"23 bytes", b64(23), false},
		{"65 bytes", b64(65), false},
		{"no prefix", strings.TrimPrefix(NewSecret(), SecretPrefix), false},
		{"not base64", SecretPrefix + "!!!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecret(tt.secret)
			if (err == nil) != tt.ok {
				t.Errorf("ParseSecret(%q) = %v, want ok=%v", tt.secret, err, tt.ok)
			}
			if _, err := Sign(tt.secret, "msg_1", time.Now(), nil); (err == nil) != tt.ok {
				t.Errorf("Sign with %q: %v, want ok=%v", tt.secret, err, tt.ok)
			}
		})
	}
	if key, _ := ParseSecret(NewSecret()); len(key) != 32 {
		t.Errorf("NewSecret has %d bytes, want 32", len(key))
	}
	if NewSecret() == NewSecret() {
		t.Error("two NewSecret calls gave the same secret")
	}
}

// After a rotation both secrets sign, so a receiver holding either verifies; after the overlap only the new one.
func TestSignWithRotation(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ep, err := NewEndpoint("acme", "https://hooks.example.com/", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	old := ep.Secrets[0].Value
	next := Secret{Value: NewSecret(), CreatedAt: now}
	ep.Secrets = RotateSecrets(ep.Secrets, next, now.Add(DefaultRotationOverlap), now)
	body := []byte(`{"type":"quota.warning"}`)

	at := now.Add(time.Hour)
	header, err := SignatureHeader(ep.SigningSecrets(at), "msg_rot", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(header)); n != 2 {
		t.Fatalf("webhook-signature %q has %d signatures, want 2", header, n)
	}
	for name, s := range map[string]string{"old": old, "new": next.Value} {
		if err := Verify(s, "msg_rot", at, body, header); err != nil {
			t.Errorf("%s secret does not verify within the overlap: %v", name, err)
		}
	}

	at = now.Add(DefaultRotationOverlap)
	header, _ = SignatureHeader(ep.SigningSecrets(at), "msg_rot", at, body)
	if n := len(strings.Fields(header)); n != 1 {
		t.Errorf("after the overlap: %d signatures, want 1", n)
	}
	if err := Verify(old, "msg_rot", at, body, header); err == nil {
		t.Error("old secret still verifies after the overlap")
	}
	if err := Verify(next.Value, "msg_rot", at, body, header); err != nil {
		t.Errorf("new secret: %v", err)
	}
}

func TestRotateSecretsBounded(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	secrets := []Secret{{Value: NewSecret(), CreatedAt: now}}
	for i := range 10 {
		at := now.Add(time.Duration(i) * time.Minute)
		secrets = RotateSecrets(secrets, Secret{Value: NewSecret(), CreatedAt: at}, at.Add(24*time.Hour), at)
	}
	if len(secrets) != MaxSecrets {
		t.Errorf("%d secrets after 10 rotations, want %d", len(secrets), MaxSecrets)
	}
	if !secrets[0].ExpiresAt.IsZero() {
		t.Error("current secret expires")
	}
	// A second rotation does not extend the first rotated-out secret's life.
	s := RotateSecrets([]Secret{{Value: "a"}}, Secret{Value: "b"}, now.Add(time.Hour), now)
	s = RotateSecrets(s, Secret{Value: "c"}, now.Add(10*time.Hour), now.Add(time.Minute))
	if !s[2].ExpiresAt.Equal(now.Add(time.Hour)) || !s[1].ExpiresAt.Equal(now.Add(10*time.Hour)) {
		t.Errorf("expiries after two rotations: %+v", s)
	}
	// Expired secrets are dropped.
	s = RotateSecrets(s, Secret{Value: "d"}, now.Add(20*time.Hour), now.Add(2*time.Hour))
	if len(s) != 3 || s[0].Value != "d" || s[1].Value != "c" || s[2].Value != "b" {
		t.Errorf("after expiry: %+v", s)
	}
}

func TestVerifyRequest(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{}`)
	header := func(ts time.Time) http.Header {
		sig, _ := Sign(secret, "msg_x", ts, body)
		h := http.Header{}
		h.Set(HeaderID, "msg_x")
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	if err := VerifyRequest(secret, header(now), body, now, DefaultTolerance); err != nil {
		t.Errorf("fresh request: %v", err)
	}
	if err := VerifyRequest(secret, header(now.Add(-10*time.Minute)), body, now, DefaultTolerance); err == nil {
		t.Error("a 10-minute-old timestamp passed")
	}
	if err := VerifyRequest(secret, header(now.Add(-10*time.Minute)), body, now, -1); err != nil {
		t.Errorf("tolerance off: %v", err)
	}
	h := header(now)
	h.Del(HeaderID)
	if err := VerifyRequest(secret, h, body, now, DefaultTolerance); err == nil {
		t.Error("missing webhook-id passed")
	}
}
