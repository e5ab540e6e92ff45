package ledger

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stepClock is the injected clock: now returns the current time and then moves it on by step.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newStepClock(start time.Time, step time.Duration) *stepClock {
	return &stepClock{t: start, step: step}
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// peek is the time the next call to now will return.
func (c *stepClock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

var testEpoch = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// openTestStore opens a fresh ledger in a temporary directory, closed when the test ends.
func openTestStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newTestWriter starts a writer closed at the end of the test, before its store (cleanups run last-in first-out).
func newTestWriter(tb testing.TB, s *Store, o WriterOptions) *Writer {
	tb.Helper()
	w, err := s.NewWriter(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return w
}

// rawDB is a second, independent connection to the same file, for what the Store must not be able to do
// (obstruct commits, inspect pragmas, forge a schema version).
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}

func userVersion(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func tableExists(tb testing.TB, db *sql.DB, name string) bool {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n == 1
}

func TestOpenCreatesDirectoryFileAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "does", "not", "exist", "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("database file not created: %v", err)
	}
	if got := userVersion(t, s.r); got != SchemaVersion || SchemaVersion < 1 {
		t.Errorf("user_version = %d, want SchemaVersion %d (>= 1)", got, SchemaVersion)
	}
	for _, table := range []string{"tenants", "api_keys", "operations", "daily_usage"} {
		if !tableExists(t, s.r, table) {
			t.Errorf("table %s missing", table)
		}
	}
	// Readers beside the writer need WAL; the mode is persistent, so a fresh connection sees it.
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenPathWithSpecialCharacters(t *testing.T) {
	// The DSN is a file: URI; a path with '?', '#', '%' or a space must not be cut short or misread as parameters.
	path := filepath.Join(t.TempDir(), "a dir#1", "led?ger%20.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %q: %v", path, err)
	}
}

func TestOpenReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &Tenant{ID: "acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Tenant(ctx, "acme")
	if err != nil {
		t.Fatalf("tenant lost across reopen: %v", err)
	}
	if got.Plan != "pro" {
		t.Errorf("plan = %q, want pro", got.Plan)
	}
	if v := userVersion(t, s.r); v != SchemaVersion {
		t.Errorf("user_version after reopen = %d, want %d", v, SchemaVersion)
	}
}

func TestOpenUpgradesVersionZeroDatabaseWithOtherTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	raw := rawDB(t, path)
	if _, err := raw.Exec(`CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, raw); v != 0 {
		t.Fatalf("setup: user_version = %d, want 0", v)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open refused a version-0 database with unrelated tables: %v", err)
	}
	defer s.Close()
	if v := userVersion(t, s.r); v != SchemaVersion {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion)
	}
	var body string
	if err := s.r.QueryRow(`SELECT body FROM notes`).Scan(&body); err != nil || body != "keep me" {
		t.Errorf("unrelated table damaged: %q, %v", body, err)
	}
	if err := s.CreateTenant(context.Background(), &Tenant{ID: "acme", Plan: "free"}); err != nil {
		t.Errorf("upgraded database not usable: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) string // returns the path to open
		wantErr string
		check   func(t *testing.T, path string) // the refused database is left as it was
	}{
		{
			name: "schema newer than this build",
			prepare: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "ledger.db")
				if _, err := rawDB(t, path).Exec(`CREATE TABLE future (x); PRAGMA user_version = ` + strconv.Itoa(SchemaVersion+1)); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantErr: "newer than this build",
			check: func(t *testing.T, path string) {
				if v := userVersion(t, rawDB(t, path)); v != SchemaVersion+1 {
					t.Errorf("user_version changed to %d", v)
				}
			},
		},
		{
			// The last table of migration 1 already exists: the migration fails part way and must roll back whole.
			name: "migration fails part way",
			prepare: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "ledger.db")
				if _, err := rawDB(t, path).Exec(`CREATE TABLE daily_usage (x)`); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantErr: "schema version 1",
			check: func(t *testing.T, path string) {
				raw := rawDB(t, path)
				if v := userVersion(t, raw); v != 0 {
					t.Errorf("user_version = %d after a failed migration, want 0", v)
				}
				if tableExists(t, raw, "tenants") {
					t.Error("failed migration left table tenants behind: not run in one transaction")
				}
			},
		},
		{
			name: "not a database",
			prepare: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "ledger.db")
				if err := os.WriteFile(path, []byte(strings.Repeat("this is not sqlite\n", 512)), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantErr: "opening ledger",
		},
		{
			name: "directory cannot be created",
			prepare: func(t *testing.T, dir string) string {
				file := filepath.Join(dir, "file")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(file, "sub", "ledger.db")
			},
			wantErr: "creating ledger directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.prepare(t, t.TempDir())
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, path)
			}
		})
	}
}
