package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret.
const SecretPrefix = "whsec_"

// DefaultRotationOverlap is how long a rotated-out secret keeps signing.
const DefaultRotationOverlap = 24 * time.Hour

// MaxSecrets bounds the signatures on one delivery: rotating again and again within the overlap drops the oldest.
const MaxSecrets = 5

// Secret is one signing secret of an endpoint.
type Secret struct {
	Value     string    `json:"value"` // "whsec_" + base64 of 24 to 64 random bytes
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero for the current secret
}

// NewSecret returns "whsec_" and the standard base64 of 32 random bytes.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ParseSecret returns the HMAC key of a whsec_ secret: the base64 after the prefix, 24 to 64 bytes.
func ParseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New("webhook secret is not valid base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("webhook secret has %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}

// SigningSecrets are the secrets that sign a delivery made at now: the current one and every previous one
// not yet expired, current first.
func (e *Endpoint) SigningSecrets(now time.Time) []string {
	out := make([]string, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

// RotateSecrets returns the secrets after a rotation at now: next becomes current, every still valid secret keeps
// signing until previousUntil (or its own earlier expiry), expired ones are dropped, and at most MaxSecrets are
// kept. A Store's RotateSecret applies exactly this.
func RotateSecrets(secrets []Secret, next Secret, previousUntil, now time.Time) []Secret {
	next.ExpiresAt = time.Time{}
	out := []Secret{next}
	for _, s := range secrets {
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		if s.ExpiresAt.IsZero() || previousUntil.Before(s.ExpiresAt) {
			s.ExpiresAt = previousUntil
		}
		if len(out) < MaxSecrets {
			out = append(out, s)
		}
	}
	return out
}

// RotateSecret gives endpoint id a new secret through s; the old one keeps signing for overlap
// (DefaultRotationOverlap when zero). It returns the new secret, to be shown once.
func RotateSecret(ctx context.Context, s Store, id string, now time.Time, overlap time.Duration) (string, error) {
	if overlap <= 0 {
		overlap = DefaultRotationOverlap
	}
	now = now.UTC()
	next := Secret{Value: NewSecret(), CreatedAt: now}
	if _, err := s.RotateSecret(ctx, id, next, now.Add(overlap), now); err != nil {
		return "", fmt.Errorf("rotating secret of endpoint %s: %w", id, err)
	}
	return next.Value, nil
}
