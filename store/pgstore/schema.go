package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migration is one forward-only step of the schema. Its SQL refers to the
// schema as {s}.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists every migration in order; versions are 1, 2, 3, …
// Never edit a released migration: add a new one.
var migrations = []migration{
	{1, "initial tables", `
CREATE TABLE {s}.sessions (
	id            text COLLATE "C" PRIMARY KEY,
	principal     text COLLATE "C" NOT NULL,
	agent_type    text COLLATE "C" NOT NULL,
	status        text COLLATE "C" NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	version       bigint NOT NULL,
	n_messages    integer NOT NULL DEFAULT 0,
	n_checkpoints integer NOT NULL DEFAULT 0,
	control_kind  text COLLATE "C",
	control       bytea,
	record        bytea NOT NULL
);
CREATE INDEX sessions_created_idx ON {s}.sessions (created_at DESC, id DESC);
CREATE INDEX sessions_principal_idx ON {s}.sessions (principal, created_at DESC, id DESC);

CREATE TABLE {s}.streams (
	session_id text COLLATE "C" PRIMARY KEY,
	fence      bigint NOT NULL DEFAULT 0,
	last_seq   bigint NOT NULL DEFAULT 0,
	status     text COLLATE "C" NOT NULL DEFAULT 'active'
);

CREATE TABLE {s}.messages (
	session_id text COLLATE "C" NOT NULL,
	idx        integer NOT NULL,
	data       bytea NOT NULL,
	PRIMARY KEY (session_id, idx)
);

CREATE TABLE {s}.runs (
	session_id text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	ord        integer NOT NULL,
	data       bytea NOT NULL,
	PRIMARY KEY (session_id, id),
	UNIQUE (session_id, ord)
);

CREATE TABLE {s}.checkpoints (
	session_id text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	ord        integer NOT NULL,
	data       bytea NOT NULL,
	PRIMARY KEY (session_id, id),
	UNIQUE (session_id, ord)
);

CREATE TABLE {s}.chunks (
	session_id text COLLATE "C" NOT NULL,
	seq        bigint NOT NULL,
	data       bytea NOT NULL,
	PRIMARY KEY (session_id, seq)
);
`},
	{2, "sessions by update time, for retention (Options.TTL)", `
CREATE INDEX sessions_updated_idx ON {s}.sessions (updated_at);
`},
}

// errNewerSchema reports a schema migrated by a newer version of this
// package.
var errNewerSchema = errors.New("the schema was migrated by a newer version of pgstore; upgrade this program")

// lockKey is the advisory lock key that serializes migrations of schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("helix-go/store/pgstore migrate " + schema))
	return int64(h.Sum64())
}

// migrate brings the schema up to date. Each migration runs in its own
// transaction holding a transaction-scoped advisory lock, so concurrent
// starters apply it once.
func (s *Store) migrate(ctx context.Context) error {
	schema := pgx.Identifier{s.o.Schema}.Sanitize()
	table := schema + ".schema_migrations"
	latest := migrations[len(migrations)-1].version

	// Fast path: an up-to-date schema costs one query and no lock.
	var v int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+table).Scan(&v)
	switch {
	case err == nil && v == latest:
		return nil
	case err == nil && v > latest:
		return fmt.Errorf("version %d, this program knows up to %d: %w", v, latest, errNewerSchema)
	case err != nil && !isUndefined(err):
		return err
	}

	for _, m := range migrations {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.o.Schema)); err != nil {
				return err
			}
			// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on
			// the database even when the schema exists: ask first.
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.o.Schema).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var cur int
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+table).Scan(&cur); err != nil {
				return err
			}
			switch {
			case cur > latest:
				return fmt.Errorf("version %d, this program knows up to %d: %w", cur, latest, errNewerSchema)
			case cur >= m.version:
				return nil // applied already, by us earlier or by another process
			case cur != m.version-1:
				return fmt.Errorf("schema at version %d cannot take migration %d", cur, m.version)
			}
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{s}", schema)); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+table+" (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// isUndefined reports whether err says a table or schema does not exist.
func isUndefined(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000")
}

// statements holds the SQL of every query, with the schema filled in.
type statements struct {
	createSession, getSession, commit                                          string
	startSession, commitStrict, fenceAndVersion, rewind                        string
	listSessions                                                               [8]string // by filter mask: principal 1, agent type 2, status 4
	listMessages, getRun, listRuns                                             string
	getCheckpoint, latestCheckpoint, listCheckpoints                           string
	requestControl, getControl, nextFence                                      string
	appendOne, appendMany, streamHead, readChunks, setStreamStatus, streamInfo string
	trimChunks, expire                                                         string
}

func buildStatements(schema string) statements {
	r := strings.NewReplacer("{s}", schema)
	var st statements
	// The sessions row and the streams row are created together.
	st.createSession = r.Replace(`
WITH s AS (
	INSERT INTO {s}.sessions (id, principal, agent_type, status, created_at, updated_at, version, record)
	VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
	ON CONFLICT (id) DO NOTHING
	RETURNING id
)
INSERT INTO {s}.streams (session_id) SELECT id FROM s`)
	// startSession creates the session and its stream with the first
	// fencing token, 1; an existing id is a unique violation, which ends
	// StartSession's transaction (nothing of it is written).
	st.startSession = r.Replace(`
WITH s AS (
	INSERT INTO {s}.sessions (id, principal, agent_type, status, created_at, updated_at, version, record)
	VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
	RETURNING id
)
INSERT INTO {s}.streams (session_id, fence) SELECT id, 1 FROM s`)
	st.fenceAndVersion = r.Replace(`
SELECT t.fence, s.version FROM {s}.sessions s JOIN {s}.streams t ON t.session_id = s.id WHERE s.id = $1`)
	st.getSession = r.Replace(`
SELECT record, version, created_at, updated_at FROM {s}.sessions WHERE id = $1`)
	// $1 id, $2 principal, $3 agent type, $4 status, $5 record,
	// $6 expected version, $7 fence, $8 message count, $9 messages,
	// $10 number of messages, $11 run id, $12 run, $13 checkpoint id,
	// $14 checkpoint, $15 clear control.
	//
	// l share-locks the streams row, which NextFence updates: a token
	// issued while the commit runs waits for it, and the commit checks the
	// newest token. cur reads the sessions row as of the statement's
	// snapshot, to explain a failed update; upd re-checks every condition
	// on the locked, newest row, and the inserts happen only if it
	// updated.
	st.commit = r.Replace(`
WITH l AS (
	SELECT fence FROM {s}.streams WHERE session_id = $1 FOR SHARE
), cur AS (
	SELECT version, n_messages FROM {s}.sessions WHERE id = $1
), upd AS (
	UPDATE {s}.sessions SET
		principal = $2, agent_type = $3, status = $4, record = $5,
		version = version + 1, updated_at = now(),
		n_messages = n_messages + $10::integer,
		n_checkpoints = n_checkpoints + CASE WHEN $13::text IS NULL THEN 0 ELSE 1 END,
		control_kind = CASE WHEN $15::boolean THEN NULL ELSE control_kind END,
		control = CASE WHEN $15::boolean THEN NULL ELSE control END
	WHERE id = $1 AND version = $6::bigint AND n_messages + $10::integer = $8::integer
		AND ($7::bigint = 0 OR $7::bigint >= (SELECT fence FROM l))
	RETURNING version, n_messages - $10::integer AS first_idx, n_checkpoints
), msgs AS (
	INSERT INTO {s}.messages (session_id, idx, data)
	SELECT $1, upd.first_idx + m.ord::integer - 1, m.data
	FROM upd, unnest($9::bytea[]) WITH ORDINALITY AS m(data, ord)
), run AS (
	INSERT INTO {s}.runs (session_id, id, ord, data)
	SELECT $1, $11::text, coalesce((SELECT max(ord) FROM {s}.runs WHERE session_id = $1), 0) + 1, $12::bytea
	FROM upd WHERE $11::text IS NOT NULL
	ON CONFLICT (session_id, id) DO UPDATE SET data = excluded.data
), cp AS (
	INSERT INTO {s}.checkpoints (session_id, id, ord, data)
	SELECT $1, $13::text, upd.n_checkpoints, $14::bytea
	FROM upd WHERE $13::text IS NOT NULL
)
SELECT l.fence, cur.version, cur.n_messages, (SELECT version FROM upd) FROM l, cur`)
	// rewind is the store.Rewind of a commit that runs next in the same
	// transaction ($1 id, $2 expected version, $3 messages kept): it
	// deletes the messages from $3 on and the newest checkpoints that
	// count more (the highest ords: a session's checkpoints count more and
	// more messages), and counts what is left, so that the commit appends
	// from $3. With another version or fewer messages stored it changes
	// nothing, and the commit then fails.
	st.rewind = r.Replace(`
WITH s AS (
	SELECT id FROM {s}.sessions WHERE id = $1 AND version = $2::bigint AND n_messages >= $3::integer
), m AS (
	DELETE FROM {s}.messages WHERE session_id IN (SELECT id FROM s) AND idx >= $3::integer
), c AS (
	DELETE FROM {s}.checkpoints WHERE session_id IN (SELECT id FROM s)
		AND (convert_from(data, 'UTF8')::jsonb ->> 'messageCount')::integer > $3::integer
	RETURNING 1
)
UPDATE {s}.sessions SET n_messages = $3::integer, n_checkpoints = n_checkpoints - (SELECT count(*) FROM c)
WHERE id IN (SELECT id FROM s)`)
	// commitStrict is commit, failing (division by zero) when it does not
	// update the session: a refused commit then aborts the rest of its
	// pipeline (StartSession, EndRun), which PostgreSQL runs as one
	// transaction. It locks the streams row for update, not share: the
	// pipeline updates that row next (the append, the stream status), and
	// upgrading a share lock that a concurrent Commit also holds, while
	// that Commit waits for the sessions row, deadlocks (found by review:
	// 64 deadlocks in 400 racing rounds with FOR SHARE).
	st.commitStrict = mustReplace(mustReplace(st.commit,
		"(SELECT version FROM upd) FROM l, cur", "(SELECT version FROM upd), 1 / (SELECT count(*) FROM upd) FROM l, cur"),
		"WHERE session_id = $1 FOR SHARE", "WHERE session_id = $1 FOR NO KEY UPDATE")

	for mask := range 8 {
		var conds []string
		n := 0
		if mask&1 != 0 {
			n++
			conds = append(conds, fmt.Sprintf("principal = $%d", n))
		}
		if mask&2 != 0 {
			n++
			conds = append(conds, fmt.Sprintf("agent_type = $%d", n))
		}
		if mask&4 != 0 {
			n++
			conds = append(conds, fmt.Sprintf("status = $%d", n))
		}
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		st.listSessions[mask] = r.Replace(fmt.Sprintf(`
SELECT t.total, p.record, p.version, p.created_at, p.updated_at
FROM (SELECT count(*) AS total FROM {s}.sessions%[1]s) t
LEFT JOIN LATERAL (
	SELECT id, record, version, created_at, updated_at FROM {s}.sessions%[1]s
	ORDER BY created_at DESC, id DESC OFFSET $%[2]d LIMIT $%[3]d
) p ON true
ORDER BY p.created_at DESC, p.id DESC`, where, n+1, n+2))
	}

	// Reads of a session's rows join the sessions row, so that one query
	// tells an unknown session (no row) from an empty list (one row of
	// NULLs).
	st.listMessages = r.Replace(`
SELECT s.n_messages, m.data FROM {s}.sessions s
LEFT JOIN LATERAL (
	SELECT idx, data FROM {s}.messages WHERE session_id = s.id AND idx >= $2::bigint
	ORDER BY idx LIMIT $3::bigint
) m ON true
WHERE s.id = $1 ORDER BY m.idx`)
	st.getRun = r.Replace(`
SELECT r.data FROM {s}.sessions s LEFT JOIN {s}.runs r ON r.session_id = s.id AND r.id = $2
WHERE s.id = $1`)
	st.listRuns = r.Replace(`
SELECT r.data FROM {s}.sessions s LEFT JOIN {s}.runs r ON r.session_id = s.id
WHERE s.id = $1 ORDER BY r.ord`)
	st.getCheckpoint = r.Replace(`
SELECT c.data FROM {s}.sessions s LEFT JOIN {s}.checkpoints c ON c.session_id = s.id AND c.id = $2
WHERE s.id = $1`)
	st.latestCheckpoint = r.Replace(`
SELECT c.data FROM {s}.sessions s
LEFT JOIN LATERAL (
	SELECT data FROM {s}.checkpoints WHERE session_id = s.id ORDER BY ord DESC LIMIT 1
) c ON true
WHERE s.id = $1`)
	st.listCheckpoints = r.Replace(`
SELECT s.n_checkpoints, c.data FROM {s}.sessions s
LEFT JOIN LATERAL (
	SELECT ord, data FROM {s}.checkpoints WHERE session_id = s.id AND ord > $2::bigint
	ORDER BY ord LIMIT $3::bigint
) c ON true
WHERE s.id = $1 ORDER BY c.ord`)

	// An abort replaces an interrupt, never the reverse.
	st.requestControl = r.Replace(`
UPDATE {s}.sessions SET
	control_kind = CASE WHEN control_kind = 'abort' AND $2::text = 'interrupt' THEN control_kind ELSE $2::text END,
	control = CASE WHEN control_kind = 'abort' AND $2::text = 'interrupt' THEN control ELSE $3::bytea END
WHERE id = $1`)
	st.getControl = r.Replace(`SELECT control FROM {s}.sessions WHERE id = $1`)
	st.nextFence = r.Replace(`UPDATE {s}.streams SET fence = fence + 1 WHERE session_id = $1 RETURNING fence`)

	// appendOne is a batch of one append: $1 id, $2 fence, $3 number of
	// chunks, $4 chunks, $5 channel, $6 payload. cur reads the fence as of
	// the statement's snapshot, to explain a failed update (streams are
	// never deleted, so only the token can fail it); upd locks the streams
	// row and re-checks the token on its newest version.
	st.appendOne = r.Replace(`
WITH cur AS (
	SELECT fence FROM {s}.streams WHERE session_id = $1
), upd AS (
	UPDATE {s}.streams SET last_seq = last_seq + $3::bigint
	WHERE session_id = $1 AND ($2::bigint = 0 OR fence <= $2::bigint)
	RETURNING last_seq
), ins AS (
	INSERT INTO {s}.chunks (session_id, seq, data)
	SELECT $1, upd.last_seq - $3::bigint + c.ord, c.data
	FROM upd, unnest($4::bytea[]) WITH ORDINALITY AS c(data, ord)
), n AS (
	SELECT pg_notify($5, $6) FROM upd
)
SELECT 1::bigint, cur.fence, (SELECT last_seq FROM upd), (SELECT count(*) FROM n) FROM cur`)

	// appendMany appends for many sessions, one append per session:
	// $1 session ids, $2 fences, $3 chunk counts (one element per
	// append); $4 chunks, $5 the index (1-based) of each chunk's append,
	// $6 its position (1-based) in the append; $7 channel, $8 payloads
	// naming the sessions (see notifyPayloads).
	//
	// l locks the streams rows in id order (so batches sharing sessions
	// cannot deadlock) and reads their newest fence; upd moves last_seq of
	// those whose token holds, so concurrent appends to one stream (from
	// any process) take consecutive sequence ranges; the result has one row
	// per append: no fence for an unknown session, no last sequence for a
	// stale token.
	st.appendMany = r.Replace(`
WITH r AS (
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(id, fence, n, i)
), l AS (
	SELECT session_id AS id, fence FROM {s}.streams WHERE session_id = ANY($1::text[])
	ORDER BY session_id FOR NO KEY UPDATE
), upd AS (
	UPDATE {s}.streams s SET last_seq = s.last_seq + r.n
	FROM r JOIN l ON l.id = r.id
	WHERE s.session_id = r.id AND (r.fence = 0 OR l.fence <= r.fence)
	RETURNING r.i, s.session_id AS id, s.last_seq - r.n AS base, s.last_seq
), ins AS (
	INSERT INTO {s}.chunks (session_id, seq, data)
	SELECT upd.id, upd.base + c.pos, c.data
	FROM unnest($4::bytea[], $5::bigint[], $6::bigint[]) AS c(data, req, pos) JOIN upd ON upd.i = c.req
), n AS (
	SELECT pg_notify($7, p) FROM unnest($8::text[]) AS p WHERE EXISTS (SELECT FROM upd)
)
SELECT r.i, l.fence, upd.last_seq, (SELECT count(*) FROM n)
FROM r LEFT JOIN l ON l.id = r.id LEFT JOIN upd ON upd.i = r.i
ORDER BY r.i`)
	st.streamHead = r.Replace(`SELECT fence, last_seq FROM {s}.streams WHERE session_id = $1`)
	st.readChunks = r.Replace(`
SELECT c.seq, c.data FROM {s}.streams s
LEFT JOIN LATERAL (
	SELECT seq, data FROM {s}.chunks WHERE session_id = s.session_id AND seq > $2
	ORDER BY seq LIMIT $3::bigint
) c ON true
WHERE s.session_id = $1 ORDER BY c.seq`)
	// $1 id, $2 fence, $3 status, $4 channel, $5 payload.
	st.setStreamStatus = r.Replace(`
WITH cur AS (
	SELECT fence FROM {s}.streams WHERE session_id = $1
), upd AS (
	UPDATE {s}.streams SET status = $3
	WHERE session_id = $1 AND ($2::bigint = 0 OR fence <= $2::bigint)
	RETURNING 1
), n AS (
	SELECT pg_notify($4, $5) FROM upd
)
SELECT cur.fence, (SELECT count(*) FROM n) FROM cur`)
	st.streamInfo = r.Replace(`SELECT status, last_seq,
	coalesce((SELECT min(seq) FROM {s}.chunks WHERE session_id = $1), 0)
FROM {s}.streams WHERE session_id = $1`)
	st.trimChunks = r.Replace(`
DELETE FROM {s}.chunks c USING {s}.streams st
WHERE c.session_id = ANY($1) AND st.session_id = c.session_id AND c.seq <= st.last_seq - $2`)
	st.expire = r.Replace(`
WITH gone AS (
	DELETE FROM {s}.sessions WHERE id IN
		(SELECT p.id FROM {s}.sessions p WHERE p.updated_at < $1
		 AND NOT (p.status = 'running' AND EXISTS
			(SELECT 1 FROM {s}.streams st WHERE st.session_id = p.id AND st.status = 'active'))
		 ORDER BY p.updated_at LIMIT $2)
	-- Checked again on the row as this statement finds it: a commit that
	-- raced the sweep (and that this statement waited for) keeps it.
	AND updated_at < $1
	RETURNING id
), m AS (DELETE FROM {s}.messages WHERE session_id IN (SELECT id FROM gone)),
r AS (DELETE FROM {s}.runs WHERE session_id IN (SELECT id FROM gone)),
c AS (DELETE FROM {s}.checkpoints WHERE session_id IN (SELECT id FROM gone)),
k AS (DELETE FROM {s}.chunks WHERE session_id IN (SELECT id FROM gone)),
t AS (DELETE FROM {s}.streams WHERE session_id IN (SELECT id FROM gone))
SELECT id FROM gone`)
	return st
}

// mustReplace replaces the one old in s with new, and panics if s holds
// no old: a statement derived from another must not silently stay a copy
// of it when that one is edited.
func mustReplace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("pgstore: statement to derive from lacks " + old)
	}
	return strings.Replace(s, old, new, 1)
}
