"""Replays a client's captured statements (tests/replays/*.sql) against a
PostgreSQL server, one connection, autocommit, the extended protocol as
psycopg speaks it. Prints one JSON object: for each statement, either its
rows (as text) or the error's SQLSTATE and message.

    replay.py FILE PORT USER PASSWORD [PURPOSE]
"""

import json
import re
import sys

import psycopg


def statements(path):
    text = "\n".join(
        line for line in open(path, encoding="utf-8").read().splitlines()
        if not line.startswith("--")
    )
    return [s.strip() for s in re.split(r";[ \t]*$", text, flags=re.M) if s.strip()]


def main():
    path, port, user, password = sys.argv[1:5]
    options = ""
    if len(sys.argv) > 5:
        options = "-c lagoa.purpose=" + sys.argv[5].replace(" ", "\\ ")
    answers = []
    with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password,
                         dbname="lagoa", options=options, autocommit=True,
                         connect_timeout=10) as conn:
        for sql in statements(path):
            try:
                cur = conn.execute(sql, prepare=False)
                rows = cur.fetchall() if cur.description else []
                answers.append({"sql": sql, "rows": [[None if v is None else str(v) for v in r] for r in rows]})
            except psycopg.Error as e:
                answers.append({"sql": sql, "sqlstate": e.sqlstate, "error": str(e).strip()})
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
