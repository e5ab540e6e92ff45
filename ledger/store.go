// Package ledger is Helix's durable record: one SQLite database holding tenants, API keys, operation
// records and daily usage. It has exactly one writing connection, used by the batched Writer and by the
// admin API's small transactions, and a separate read-only pool for queries.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/helixgateway/caddy-ai-gateway/webhooks"
)

// ErrNotFound is returned when a tenant, key or record does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating something whose id is taken.
var ErrExists = errors.New("already exists")

// Store is an open ledger database.
type Store struct {
	path string
	w    *sql.DB // one connection: SQLite has one writer; queueing here is cheaper than SQLITE_BUSY
	r    *sql.DB // read-only pool, WAL lets readers run beside the writer
	now  func() time.Time

	box     *secretBox // webhook secrets at rest
	keyFile string     // where box's key is kept

	hooksOnce sync.Once
	hooks     *WebhookStore
	announce  atomic.Pointer[func([]webhooks.Delivery)] // hands committed deliveries to the dispatcher
}

// OnDeliveries sets what is told of webhook deliveries once the transaction that created them has committed
// (the dispatcher's Notify).
func (s *Store) OnDeliveries(fn func([]webhooks.Delivery)) { s.announce.Store(&fn) }

func (s *Store) announceDeliveries(ds []webhooks.Delivery) {
	if fn := s.announce.Load(); fn != nil && len(ds) > 0 {
		(*fn)(ds)
	}
}

// Options are how a Store is opened; the zero value is the defaults.
type Options struct {
	// SecretsKeyFile holds the key that encrypts webhook secrets at rest (see secrets.go). Default:
	// DefaultSecretsKeyFile(path), created when missing.
	SecretsKeyFile string
	// PreviousSecretsKeyFile, when set, holds the key the secrets were encrypted with before SecretsKeyFile's:
	// Open re-encrypts them under the new one. Default: none.
	PreviousSecretsKeyFile string
}

// Open opens (creating if needed) the database at path with the default Options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if needed) the database at path, upgrades its schema, and pings both pools so that a
// binary built without cgo (where go-sqlite3 is a stub) fails here, at start, rather than on the first request.
func OpenWith(path string, o Options) (*Store, error) {
	if o.SecretsKeyFile == "" {
		o.SecretsKeyFile = DefaultSecretsKeyFile(path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating ledger directory %s: %w", dir, err)
		}
	}
	w, err := sql.Open("sqlite3", dsn(path, url.Values{
		"_txlock":       {"immediate"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"on"},
		// No SQLite mutex around each call on this connection (multi-thread mode): database/sql and the writer's
		// Raw hand the one connection to one goroutine at a time, which is all that mode asks. Each bind and step
		// locked and unlocked one: 11% of a record's insert (BenchmarkWriterBatch 5.0 -> 4.5 µs).
		"_mutex": {"no"},
	}))
	if err != nil {
		return nil, fmt.Errorf("opening ledger %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening ledger %s (is the binary built with CGO_ENABLED=1?): %w", path, err)
	}
	s := &Store{path: path, w: w, now: time.Now, keyFile: o.SecretsKeyFile}
	if err := s.migrate(context.Background()); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrating ledger %s: %w", path, err)
	}
	var previous *secretBox
	if s.box, err = loadSecretBox(o.SecretsKeyFile, true); err == nil && o.PreviousSecretsKeyFile != "" {
		previous, err = loadSecretBox(o.PreviousSecretsKeyFile, false)
	}
	if err == nil {
		err = s.sealSecrets(context.Background(), previous, o.PreviousSecretsKeyFile)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening ledger %s: %w", path, err)
	}
	r, err := sql.Open("sqlite3", dsn(path, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {"5000"},
		"_query_only":   {"1"},
		// 1 MiB of page cache per reader instead of SQLite's 2 MiB: 8 readers each caching the keys table
		// after a burst of cold keys held 16 MiB; the OS caches the file anyway.
		"_cache_size": {"-1024"},
	}))
	if err == nil {
		err = r.Ping()
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening ledger %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.r = r
	return s, nil
}

func dsn(path string, params url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// SecretsKeyFile is the file of the key that encrypts webhook secrets.
func (s *Store) SecretsKeyFile() string { return s.keyFile }

// Close closes both pools. Stop the Writer first.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique)
}
