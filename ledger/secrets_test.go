package ledger

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

const testSecret = "whsec_dGhpcyBpcyB0aGUgdGVuYW50J3Mgc2VjcmV0IQ=="

// rawSecrets is the secrets column of endpoint id as stored.
func rawSecrets(t *testing.T, s *Store, id string) string {
	t.Helper()
	var raw string
	if err := s.w.QueryRow(`SELECT secrets FROM webhook_endpoints WHERE id = ?`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func createTestEndpoint(t *testing.T, s *Store, id string) {
	t.Helper()
	ep := webhooks.Endpoint{ID: id, TenantID: "acme", URL: "https://a.example/h", CreatedAt: testEpoch,
		Secrets: []webhooks.Secret{{Value: testSecret, CreatedAt: testEpoch}}}
	if err := s.Webhooks().CreateEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
}

func endpointSecret(t *testing.T, s *Store, id string) string {
	t.Helper()
	ep, err := s.Webhooks().Endpoint(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Secrets) != 1 {
		t.Fatalf("endpoint %s: %d secrets", id, len(ep.Secrets))
	}
	return ep.Secrets[0].Value
}

// A webhook secret is stored encrypted, under a key in its own file (mode 0600), and reads back as it was.
func TestWebhookSecretsEncryptedAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helix.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createTestEndpoint(t, s, "ep_1")
	raw := rawSecrets(t, s, "ep_1")
	if !strings.HasPrefix(raw, sealedPrefix) || strings.Contains(raw, "whsec_") || strings.Contains(raw, testSecret[6:]) {
		t.Errorf("stored secrets column %q: want ciphertext", raw)
	}
	if got := endpointSecret(t, s, "ep_1"); got != testSecret {
		t.Errorf("secret read back %q, want %q", got, testSecret)
	}
	fi, err := os.Stat(DefaultSecretsKeyFile(path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), testSecret) {
		t.Error("the database file holds the secret in the clear")
	}
}

// Secrets written in the clear by a build before encryption are encrypted when the ledger opens, and still read.
func TestPlaintextSecretsEncryptedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helix.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	createTestEndpoint(t, s, "ep_old")
	old := `[{"value":"` + testSecret + `","created_at":1,"expires_at":0}]`
	if _, err := s.w.Exec(`UPDATE webhook_endpoints SET secrets = ? WHERE id = 'ep_old'`, old); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if raw := rawSecrets(t, s, "ep_old"); !strings.HasPrefix(raw, sealedPrefix) {
		t.Errorf("secrets column after opening %q: want ciphertext", raw)
	}
	if got := endpointSecret(t, s, "ep_old"); got != testSecret {
		t.Errorf("secret read back %q, want %q", got, testSecret)
	}
}

// Ciphertext is bound to its endpoint: a secrets column copied to another endpoint's row does not open there.
func TestSecretsBoundToTheirEndpoint(t *testing.T) {
	s := openTestStore(t)
	createTestEndpoint(t, s, "ep_victim")
	createTestEndpoint(t, s, "ep_attacker")
	if _, err := s.w.Exec(`UPDATE webhook_endpoints SET secrets = (SELECT secrets FROM webhook_endpoints WHERE id = 'ep_victim')
		WHERE id = 'ep_attacker'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhooks().Endpoint(context.Background(), "ep_attacker"); !errors.Is(err, errWrongSecretsKey) {
		t.Errorf("reading an endpoint holding another's secrets: %v, want %v", err, errWrongSecretsKey)
	}
}

// Open refuses a key that does not open the stored secrets, and a key file that is not a key, with errors that
// say so; a key file given in Options is the one used.
func TestOpenChecksTheSecretsKey(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "helix.db"), filepath.Join(dir, "keys", "webhooks.key")
	s, err := OpenWith(path, Options{SecretsKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	createTestEndpoint(t, s, "ep_1")
	s.Close()
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("configured key file: %v", err)
	}
	if _, err := os.Stat(DefaultSecretsKeyFile(path)); err == nil {
		t.Error("a default key file was made beside the configured one")
	}

	if _, err := Open(path); !errors.Is(err, errWrongSecretsKey) || !strings.Contains(err.Error(), DefaultSecretsKeyFile(path)) {
		t.Errorf("opening with another key: %v, want %v naming the key file", err, errWrongSecretsKey)
	}
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWith(path, Options{SecretsKeyFile: keyFile}); err == nil || !strings.Contains(err.Error(), "32 bytes in base64") {
		t.Errorf("opening with a malformed key file: %v", err)
	}

	// The way back from a lost key (README, Webhooks): empty the secrets, start with a new key, rotate.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE webhook_endpoints SET secrets = '[]'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.Remove(keyFile)
	if s, err = OpenWith(path, Options{SecretsKeyFile: keyFile}); err != nil {
		t.Fatalf("opening with a new key after emptying the secrets: %v", err)
	}
	defer s.Close()
	secret, err := webhooks.RotateSecret(context.Background(), s.Webhooks(), "ep_1", testEpoch, 0)
	if err != nil || endpointSecret(t, s, "ep_1") != secret {
		t.Errorf("rotating after a lost key: %q, %v", secret, err)
	}
}

// Two stores opening one database at once, the first creating the key, end up with the same key.
func TestKeyFileCreatedOnce(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k")
	boxes := make(chan *secretBox, 8)
	for range cap(boxes) {
		go func() {
			b, err := loadSecretBox(keyFile, true)
			if err != nil {
				t.Error(err)
			}
			boxes <- b
		}()
	}
	first := <-boxes
	sealed := first.seal([]byte("x"), "ep")
	for range cap(boxes) - 1 {
		if b := <-boxes; b != nil {
			if _, err := b.open(sealed, "ep"); err != nil {
				t.Errorf("a store made its own key: %v", err)
			}
		}
	}
}

// A new key with the old one as the previous: Open re-encrypts every secret under the new key, after which the
// old key is not needed. A secret that neither key opens stops the start.
func TestSecretsKeyRotation(t *testing.T) {
	dir := t.TempDir()
	path, oldKey, newKey := filepath.Join(dir, "helix.db"), filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	s, err := OpenWith(path, Options{SecretsKeyFile: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	createTestEndpoint(t, s, "ep_1")
	createTestEndpoint(t, s, "ep_2")
	before := rawSecrets(t, s, "ep_1")
	s.Close()

	if _, err := OpenWith(path, Options{SecretsKeyFile: newKey, PreviousSecretsKeyFile: filepath.Join(dir, "missing.key")}); err == nil {
		t.Error("a previous key file that does not exist was accepted")
	}
	if s, err = OpenWith(path, Options{SecretsKeyFile: newKey, PreviousSecretsKeyFile: oldKey}); err != nil {
		t.Fatalf("rotating: %v", err)
	}
	if raw := rawSecrets(t, s, "ep_1"); raw == before || !strings.HasPrefix(raw, sealedPrefix) {
		t.Errorf("after rotating, the secrets column is %q (was %q)", raw, before)
	}
	s.Close()
	if s, err = OpenWith(path, Options{SecretsKeyFile: newKey}); err != nil {
		t.Fatalf("opening with the new key alone: %v", err)
	}
	for _, id := range []string{"ep_1", "ep_2"} {
		if got := endpointSecret(t, s, id); got != testSecret {
			t.Errorf("%s after rotating: %q", id, got)
		}
	}
	// A row sealed under a third key: neither the new key nor the previous one opens it.
	third, err := loadSecretBox(filepath.Join(dir, "third.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE webhook_endpoints SET secrets = ? WHERE id = 'ep_2'`, third.seal([]byte("[]"), "ep_2")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenWith(path, Options{SecretsKeyFile: newKey, PreviousSecretsKeyFile: oldKey}); !errors.Is(err, errWrongSecretsKey) {
		t.Errorf("a secret neither key opens: %v, want %v", err, errWrongSecretsKey)
	}
}
