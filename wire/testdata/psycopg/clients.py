"""Drives psycopg 3 against Kapok's wire port (run by wire/clients_test.go).

KAPOK_WIRE_DSN is a libpq connection string to a scratch tenant whose table items holds
rows 1..10 named "item <id>"; KAPOK_WIRE_PASSWORD is the role's password. Prints one line
per case, "ok <name>" or "not ok <name>: <reason>", and exits 1 when a case failed.
"""

import os
import sys
import traceback

import psycopg

DSN = os.environ["KAPOK_WIRE_DSN"]
PASSWORD = os.environ["KAPOK_WIRE_PASSWORD"]

cases = []


def case(name):
    def register(fn):
        cases.append((name, fn))
        return fn

    return register


def connect(**kwargs):
    return psycopg.connect(DSN, password=PASSWORD, **kwargs)


@case("connects with SCRAM over TLS verified against the CA")
def _():
    with connect() as conn:
        user = conn.execute("SELECT current_user").fetchone()[0]
        assert user == conn.info.user, (user, conn.info.user)
        assert conn.pgconn.ssl_in_use, "not over TLS"


@case("a parameterised query run 20 times, prepared from the 6th, across transactions")
def _():
    # psycopg prepares a query on its 6th execution (prepare_threshold 5) and then runs
    # the prepared statement; every iteration commits, so each one is a transaction of
    # its own, and a second session holds a server connection every other time, so the
    # statement meets server connections that lack it.
    with connect() as conn, connect() as other:
        assert conn.prepare_threshold == 5, conn.prepare_threshold
        for i in range(20):
            if i % 2:
                other.execute("SELECT 1")  # opens a transaction and keeps it
            item = i % 10 + 1
            row = conn.execute("SELECT name, %s::int * 2 FROM items WHERE id = %s", (item, item)).fetchone()
            assert row == ("item %d" % item, item * 2), (i, row)
            conn.commit()
            other.commit()


@case("a statement prepared explicitly (prepare=True) across transactions")
def _():
    with connect() as conn:
        for i in range(10):
            with conn.transaction():
                row = conn.execute("SELECT count(*) FROM items WHERE id <= %s", (i + 1,), prepare=True).fetchone()
                assert row == (i + 1,), (i, row)


@case("a transaction commits, and one that raises rolls back")
def _():
    with connect(autocommit=True) as conn:
        with conn.transaction():
            conn.execute("INSERT INTO items VALUES (%s, %s, %s)", (400, "grace", "committed"))
            conn.execute("UPDATE items SET name = %s WHERE id = %s", ("committed, updated", 400))

        class Abort(Exception):
            pass

        try:
            with conn.transaction():
                conn.execute("INSERT INTO items VALUES (%s, %s, %s)", (401, "grace", "rolled back"))
                raise Abort()
        except Abort:
            pass
        rows = conn.execute("SELECT id, name FROM items WHERE id >= 400 AND id < 500 ORDER BY id").fetchall()
        assert rows == [(400, "committed, updated")], rows


@case("COPY FROM STDIN loads rows and COPY TO STDOUT reads them back")
def _():
    want = [(i, "heidi", "copied\t%d" % i) for i in range(500, 700)]
    with connect() as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY items (id, owner, name) FROM STDIN") as copy:
                for row in want:
                    copy.write_row(row)
            assert cur.rowcount == len(want), cur.rowcount
        conn.commit()
        got = []
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT id, owner, name FROM items WHERE id >= 500 AND id < 700 ORDER BY id) TO STDOUT") as copy:
                copy.set_types(["int4", "text", "text"])
                for row in copy.rows():
                    got.append(row)
        assert got == want, (len(got), got[:3])


failed = False
for name, fn in cases:
    try:
        fn()
        print("ok " + name, flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is a case's outcome
        failed = True
        reason = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " ")
        print("not ok %s: %s" % (name, reason), flush=True)
        traceback.print_exc()
sys.exit(1 if failed else 0)
