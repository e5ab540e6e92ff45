package ledger

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Webhook secrets are encrypted at rest. Signing needs each secret itself, so it cannot be hashed as API keys
// are; instead the secrets column holds AES-256-GCM ciphertext under a key kept in its own file, outside the
// database. A copy of the database (a backup, a file handed to support) then gives away no tenant's secret.
// The endpoint's id is the ciphertext's associated data: secrets moved to another endpoint's row do not open.
//
// The key file holds 32 random bytes in standard base64 (`head -c 32 /dev/urandom | base64`). When it does
// not exist, Open creates it (mode 0600), by default next to the database. Losing it loses the webhook secrets:
// endpoints then need new ones (rotate), and Open refuses a key that does not open the secrets already stored.
// To change the key, open once with the new key file and the old one as Options.PreviousSecretsKeyFile: every
// secret is re-encrypted under the new key in one transaction.

// sealedPrefix starts an encrypted secrets column; a column written before encryption is a JSON array.
const sealedPrefix = "aesgcm1:"

// secretBox seals and opens webhook secrets.
type secretBox struct{ aead cipher.AEAD }

// DefaultSecretsKeyFile is where the key for the database at dbPath is kept unless configured.
func DefaultSecretsKeyFile(dbPath string) string { return dbPath + ".key" }

// loadSecretBox reads the key at path; with create, it makes the file with a new random key when there is none.
func loadSecretBox(path string, create bool) (*secretBox, error) {
	raw, err := os.ReadFile(path)
	if create && errors.Is(err, fs.ErrNotExist) {
		raw, err = createKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook secrets key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("webhook secrets key %s: want 32 bytes in base64 (head -c 32 /dev/urandom | base64)", path)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secretBox{aead}, nil
}

// createKeyFile writes a new random key to path, readable by its owner only. The key is written whole to a
// temporary file and linked into place, so another process starting at once reads either no file or the whole
// key; when it linked first, its key is the one used.
func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".helix-key-*") // mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	key := make([]byte, 32)
	rand.Read(key)
	text := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return text, nil
}

// seal encrypts the secrets column value plain of endpoint id.
func (b *secretBox) seal(plain []byte, id string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	rand.Read(nonce)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plain, []byte(id)))
}

// errWrongSecretsKey is opening secrets sealed under another key, or for another endpoint.
var errWrongSecretsKey = errors.New("webhook secrets do not open with this key")

// open decrypts a secrets column value of endpoint id; a value written before encryption is returned as is.
func (b *secretBox) open(stored, id string) ([]byte, error) {
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return []byte(stored), nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, fmt.Errorf("endpoint %s: malformed encrypted secrets", id)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", id, errWrongSecretsKey)
	}
	return plain, nil
}

// sealSecrets brings every stored secret under the store's key. It encrypts those still in the clear (written by
// a build before encryption) and, given the previous key, re-encrypts those only that one opens (a rotation of
// the key). It checks that the key opens what is already encrypted, so that a wrong key file stops the start
// rather than every delivery: one row without a previous key, every row with one.
func (s *Store) sealSecrets(ctx context.Context, previous *secretBox, previousFile string) error {
	var id, stored string
	query := `SELECT id, secrets FROM webhook_endpoints`
	if previous == nil {
		switch err := s.w.QueryRowContext(ctx, query+` WHERE secrets LIKE ? LIMIT 1`, sealedPrefix+"%").Scan(&id, &stored); {
		case err == nil:
			if _, err := s.box.open(stored, id); err != nil {
				return s.wrongKey(err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		query += ` WHERE secrets NOT LIKE '` + sealedPrefix + `%'`
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	found := map[string]string{}
	for rows.Next() {
		if err := rows.Scan(&id, &stored); err != nil {
			rows.Close()
			return err
		}
		found[id] = stored
	}
	if err := rows.Err(); err != nil {
		return err
	}
	resealed := 0
	for id, stored := range found {
		plain := []byte(stored)
		if strings.HasPrefix(stored, sealedPrefix) {
			_, err := s.box.open(stored, id)
			if err == nil {
				continue
			}
			if previous == nil { // not reached: without a previous key only the secrets in the clear are read
				return s.wrongKey(err)
			}
			if plain, err = previous.open(stored, id); err != nil {
				return fmt.Errorf("%w (neither %s nor the previous key, %s)", err, s.keyFile, previousFile)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET secrets = ? WHERE id = ?`, s.box.seal(plain, id), id); err != nil {
			return fmt.Errorf("encrypting the secrets of endpoint %s: %w", id, err)
		}
		resealed++
	}
	if resealed == 0 {
		return nil
	}
	return tx.Commit()
}

// wrongKey is the error of a start whose key does not open the stored secrets.
func (s *Store) wrongKey(err error) error {
	return fmt.Errorf("%w (is %s the key these secrets were written with?)", err, s.keyFile)
}
