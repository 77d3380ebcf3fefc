#!/usr/bin/env bash
# Raw server rates, the yardstick for the store benchmarks in
# docs/benchmarks.md: what Redis and PostgreSQL do on this machine with the
# same payload and no Helix code in the way. The bare SQLite insert loop is
# BenchmarkRawInsert in store/sqlitestore.
#
#   bench/rawservers.sh            # Redis on 127.0.0.1:6379, PostgreSQL test db
set -euo pipefail
payload='{"type":"text_delta","sessionId":"bench-1","runId":"run-1","agentType":"bench","step":1,"timestamp":1700000000000,"delta":"Hello, wor"}'

echo "== redis-benchmark: XADD of one chunk, 200k requests, 8 clients"
for p in 1 16; do
	printf 'pipeline %-3s ' "$p"
	redis-benchmark -h 127.0.0.1 -p 6379 -q -c 8 -n 200000 -P "$p" XADD helix:rawbench '*' data "$payload" | tr -d '\r' | grep -o '[0-9.]* requests per second.*' | tail -1
done
redis-cli -h 127.0.0.1 -p 6379 DEL helix:rawbench >/dev/null

echo "== pgbench: INSERT of one chunk per transaction and 16 per transaction, 8 clients, 10 s"
psql -q -h 127.0.0.1 -U postgres test <<'SQL'
DROP TABLE IF EXISTS rawbench_chunks;
CREATE TABLE rawbench_chunks (sid bigint NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY, data text NOT NULL, PRIMARY KEY (sid, seq));
SQL
dir=$(mktemp -d)
echo "INSERT INTO rawbench_chunks (sid, data) VALUES (:client_id, '$payload');" > "$dir/one.sql"
{
	echo "BEGIN;"
	for _ in $(seq 16); do echo "INSERT INTO rawbench_chunks (sid, data) VALUES (:client_id, '$payload');"; done
	echo "COMMIT;"
} > "$dir/tx16.sql"
echo "INSERT INTO rawbench_chunks (sid, data) SELECT :client_id, '$payload' FROM generate_series(1, 16);" > "$dir/multi16.sql"
for f in one tx16 multi16; do
	printf '%-8s ' "$f"
	pgbench -h 127.0.0.1 -U postgres -n -c 8 -j 2 -T 10 -f "$dir/$f.sql" test 2>/dev/null | grep -E '^tps' | sed 's/ (without initial connection time)//'
done
psql -q -h 127.0.0.1 -U postgres test -c 'DROP TABLE rawbench_chunks'
rm -rf "$dir"
echo "(rows/s = tps for 'one', 16 × tps for 'tx16' and 'multi16')"
