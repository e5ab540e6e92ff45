package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mattn/go-sqlite3"
)

// stmtRunner runs the writer's statements inside a transaction: driverStmts on the writer's driver
// connection, or txRunner in a migration's transaction.
type stmtRunner interface {
	exec(ctx context.Context, query string, args ...driver.Value) (driver.Result, error)
	// queryRow2 returns the two columns of query's first row, nil when there is none.
	queryRow2(ctx context.Context, query string, args ...driver.Value) (a, b []byte, err error)
}

// driverStmts runs the writer's statements on the driver connection itself rather than through database/sql,
// prepared once and bound from one reused argument slice. database/sql converted and copied every statement's
// values into a fresh slice: 2 KB of garbage a record for the insert, and a third of what a write of the
// totals allocated (60 MB with 10,000 active tenants).
type driverStmts struct {
	conn  *sqlite3.SQLiteConn // the connection the statements are prepared on
	stmts map[string]driver.Stmt
	args  []driver.NamedValue
	row   [2]driver.Value
}

// on readies d for statements on c, the writer pool's one connection: if the pool has replaced it, the
// statements went with the old one and are prepared again.
func (d *driverStmts) on(c *sqlite3.SQLiteConn) *driverStmts {
	if d.conn != c {
		d.conn, d.stmts = c, map[string]driver.Stmt{}
	}
	return d
}

func (d *driverStmts) stmt(query string) (driver.Stmt, error) {
	if st := d.stmts[query]; st != nil {
		return st, nil
	}
	st, err := d.conn.Prepare(query)
	if err != nil {
		return nil, fmt.Errorf("preparing %.60q: %w", query, err)
	}
	d.stmts[query] = st
	return st, nil
}

// bind fills the reused argument slice. The values stay referenced until the next bind or release.
func (d *driverStmts) bind(args []driver.Value) []driver.NamedValue {
	d.args = d.args[:0]
	for i, v := range args {
		d.args = append(d.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return d.args
}

// release drops the references the argument slice holds, once a transaction is over.
func (d *driverStmts) release() { clear(d.args[:cap(d.args)]) }

func (d *driverStmts) exec(ctx context.Context, query string, args ...driver.Value) (driver.Result, error) {
	st, err := d.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.(driver.StmtExecContext).ExecContext(ctx, d.bind(args))
}

func (d *driverStmts) queryRow2(ctx context.Context, query string, args ...driver.Value) (a, b []byte, err error) {
	st, err := d.stmt(query)
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, d.bind(args))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	switch err := rows.Next(d.row[:]); {
	case errors.Is(err, io.EOF):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	a, _ = d.row[0].([]byte)
	b, _ = d.row[1].([]byte)
	d.row = [2]driver.Value{}
	return a, b, nil
}

// close closes the statements, on the connection they were prepared on (which only the pool may hand out).
func (d *driverStmts) close(db *sql.DB) error {
	if len(d.stmts) == 0 {
		return nil
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		if dc != any(d.conn) {
			return nil // the pool replaced the connection, and closed the statements with it
		}
		var errs []error
		for _, st := range d.stmts {
			errs = append(errs, st.Close())
		}
		clear(d.stmts)
		return errors.Join(errs...)
	})
}

// txRunner runs the same statements through database/sql, in a migration's transaction.
type txRunner struct{ tx *sql.Tx }

func (r txRunner) exec(ctx context.Context, query string, args ...driver.Value) (driver.Result, error) {
	return r.tx.ExecContext(ctx, query, anys(args)...)
}

func (r txRunner) queryRow2(ctx context.Context, query string, args ...driver.Value) (a, b []byte, err error) {
	err = r.tx.QueryRowContext(ctx, query, anys(args)...).Scan(&a, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	return a, b, err
}

func anys(vs []driver.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// pacedRunner runs statements through stmtRunner, pausing after every slice of them for as long as the slice
// took: a long write of the totals (0.3-0.5 s with 10,000 active tenants) then takes half a core for twice as
// long instead of a whole core, and the requests that arrive meanwhile wait less for the CPU. Records queue
// meanwhile, so it is for batch durability only, where no request waits for a commit.
type pacedRunner struct {
	stmtRunner
	every int // statements a slice
	n     int
	start time.Time
	now   func() time.Time
	pause func(time.Duration)
}

// totalsSlice is how many statements a slice of a paced write runs: about 50 tenants, under a millisecond of
// work (BenchmarkTotalsWrite), short next to a request.
const totalsSlice = 128

func (p *pacedRunner) exec(ctx context.Context, query string, args ...driver.Value) (driver.Result, error) {
	if p.n == 0 {
		p.start = p.now()
	}
	res, err := p.stmtRunner.exec(ctx, query, args...)
	if p.n++; p.n%p.every == 0 {
		p.pause(p.now().Sub(p.start))
		p.start = p.now()
	}
	return res, err
}
