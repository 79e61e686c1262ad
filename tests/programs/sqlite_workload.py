#!/usr/bin/env python3
"""sqlite3 on ffalloc: a generated SQL workload (two tables, 160k rows, indexes, updates, deletes,
a multi-threaded sort, window functions, JSON aggregation, VACUUM) run by the sqlite3 shell under
LD_PRELOAD=libffalloc.so. Checks: PRAGMA integrity_check is ok, the aggregates equal the values
computed here in Python, and every query result and the database hash (.sha3sum) equal those of
the same workload run on glibc's malloc.

  sqlite_workload.py LIBFFALLOC_SO WORKDIR
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import progtest as t  # noqa: E402

CUSTOMERS = 20000
ORDERS = 140000

# Every value is a function of the row number: the database is the same on every run.
SQL = f"""
PRAGMA page_size = 4096;
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
PRAGMA threads = 2;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER, note TEXT,
                    data BLOB);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {CUSTOMERS})
INSERT INTO customers SELECT x, printf('customer-%06d', x), 'city-' || (x * 7919 % 97),
                             (x * 2654435761 % 1000003) / 1000.0 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ORDERS})
INSERT INTO orders SELECT x, 1 + (x * 48271 % {CUSTOMERS}), x * 16807 % 100000,
                          printf('%.*c', x % 500, 'n'), CAST(printf('%0*d', x % 2000, x) AS BLOB)
                   FROM c;
COMMIT;
CREATE INDEX orders_customer ON orders(customer, amount);
CREATE INDEX customers_city ON customers(city, score);
CREATE INDEX orders_note ON orders(note);
BEGIN;
UPDATE orders SET amount = amount + 1, note = note || '-u' WHERE id % 3 = 0;
DELETE FROM orders WHERE id % 7 = 0;
DELETE FROM customers WHERE id % 11 = 0 AND id NOT IN (SELECT customer FROM orders);
COMMIT;
CREATE TABLE ranked AS
  SELECT customer, sum(amount) AS total, count(*) AS n FROM orders
  GROUP BY customer ORDER BY total DESC, customer;
CREATE TABLE running AS
  SELECT id, customer, sum(amount) OVER (PARTITION BY customer ORDER BY id) AS run FROM orders;
CREATE TABLE docs AS
  SELECT customer, json_group_array(json_object('id', id, 'amount', amount)) AS doc
  FROM orders GROUP BY customer;
SELECT 'sorted', count(*), sum(length(x)) FROM (SELECT note || hex(data) AS x FROM orders
                                             ORDER BY x DESC LIMIT 50000);
VACUUM;
PRAGMA integrity_check;
SELECT 'orders', count(*), sum(amount), sum(length(note)), sum(length(data)) FROM orders;
SELECT 'ranked', count(*), sum(total), sum(n) FROM ranked;
SELECT 'running', sum(run) % 1000000007 FROM running;
SELECT 'docs', sum(json_array_length(doc)) FROM docs;
SELECT 'cities', city, count(*), round(avg(score), 3) FROM customers
  GROUP BY city ORDER BY city LIMIT 5;
SELECT 'top', customer, total FROM ranked LIMIT 3;
.sha3sum
"""


def expected_orders():
    """count, sum(amount), sum(length(note)), sum(length(data)) of the orders left, in Python."""
    n = amount = note = data = 0
    for x in range(1, ORDERS + 1):
        if x % 7 == 0:
            continue
        upd = x % 3 == 0
        n += 1
        amount += x * 16807 % 100000 + upd
        note += max(x % 500, 1) + 2 * upd  # printf("%.*c", 0, ...) still prints one
        data += max(x % 2000, len(str(x)))
    return f"orders|{n}|{amount}|{note}|{data}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    so, work = sys.argv[1], os.path.join(sys.argv[2], "sqlite-workload")
    sqlite3 = t.need("sqlite3")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = {}
    for name, env in (("glibc", t.env_plain()), ("ffalloc", t.env_preload(so))):
        p = t.run([sqlite3, "-bail", os.path.join(work, name + ".db")], env,
                  f"sqlite3 on {name}", stdin=SQL)
        if name == "ffalloc":
            t.require_ffalloc(p, "sqlite3 on ffalloc", processes=1, min_spans=50)
        # journal_mode prints "wal" first; keep the rest
        out[name] = p
    lines = out["ffalloc"].stdout.splitlines()
    if "ok" not in lines:
        t.fail("PRAGMA integrity_check did not print ok", out["ffalloc"])
    want = expected_orders()
    if want not in lines:
        t.fail(f"orders aggregates: expected {want!r}", out["ffalloc"])
    n = int(want.split("|")[1])
    if f"docs|{n}" not in lines or not any(l.startswith(f"ranked|") and l.endswith(f"|{n}")
                                           for l in lines):
        t.fail(f"docs/ranked totals do not add up to {n} orders", out["ffalloc"])
    if out["ffalloc"].stdout != out["glibc"].stdout:
        t.fail("output differs from the glibc run:\n--- glibc\n" + out["glibc"].stdout,
               out["ffalloc"])
    if t.strip_reports(out["ffalloc"].stderr).strip():
        t.fail("sqlite3 wrote to stderr", out["ffalloc"])
    shutil.rmtree(work)
    print(f"sqlite3 ok: integrity ok, {n} orders, {len(lines)} result lines equal to glibc's")


if __name__ == "__main__":
    main()
