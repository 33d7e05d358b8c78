//! Server-side cursors stream: a cursor hands out more rows than one
//! query may return (`query.max_rows`), as the client fetches them, with
//! an audit entry when it opens and one when it closes that counts the
//! rows handed out; a cursor left without a FETCH is stopped and says so;
//! a closed one frees its place among the running queries.

use crate::pg::{PURPOSE, setup};
use crate::support::*;
use std::process::Command;

const SCRIPT: &str = r#"
import json, sys, time
import psycopg
port, token, purpose = sys.argv[1], sys.argv[2], sys.argv[3]
# 2 municipalities × 20 000: several batches, more than max_rows in all.
query = ("SELECT p.municipio, v.n FROM populacao p CROSS JOIN "
         "(SELECT unnest(range(1, 20001)) AS n) v ORDER BY p.municipio, v.n")
out = {}
def connect():
    return psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                           dbname="lagoa", connect_timeout=10)
with connect() as conn:
    try:
        conn.execute(query).fetchall()
        out["plain"] = "answered"
    except psycopg.Error as e:
        out["plain"] = e.sqlstate
        conn.rollback()
    with conn.cursor(name="paginas") as cur:
        cur.itersize = 100
        cur.execute(query)
        first = cur.fetchmany(150)
        # One FETCH gives at most max_rows: FETCH ALL is refused, the cursor stays.
        try:
            cur.fetchall()
            out["fetch_all"] = "answered"
        except psycopg.Error as e:
            out["fetch_all"] = e.sqlstate
        rest = list(cur)
        out["streamed"] = [len(first), len(rest), list(first[0]), list(rest[-1])]
    conn.commit()
    # Closed after a page: its place is freed (max_per_principal is 1 here).
    with conn.cursor(name="um") as cur:
        cur.execute(query)
        out["early"] = len(cur.fetchmany(10))
    conn.commit()
    out["after_close"] = conn.execute("SELECT count(*) FROM populacao").fetchone()[0]
    conn.commit()
    # Left without a FETCH past cursor_idle_seconds: stopped, and it says so.
    conn.autocommit = True
    conn.execute("BEGIN")
    conn.execute("DECLARE parado CURSOR FOR " + query)
    conn.execute("FETCH 5 FROM parado")
    # One open cursor per principal here (cursor_max_per_principal = 1).
    try:
        conn.execute("DECLARE outro CURSOR FOR SELECT municipio FROM populacao")
        out["second"] = "declared"
    except psycopg.Error as e:
        out["second"] = [e.sqlstate, str(e)]
    time.sleep(4)
    # Stopped, its place freed while it is still declared (max_per_principal is 1).
    out["after_idle"] = conn.execute("SELECT count(*) FROM populacao").fetchone()[0]
    try:
        rows = conn.execute("FETCH 100 FROM parado").fetchall()
        out["idle"] = f"{len(rows)} rows"
    except psycopg.Error as e:
        out["idle"] = [e.sqlstate, str(e)]
    conn.execute("ROLLBACK")
    # A personal column stays behind the policy: no purpose, no cursor.
    try:
        conn.execute("DECLARE c CURSOR WITH HOLD FOR SELECT cpf FROM obitos")
        out["cpf"] = "declared"
    except psycopg.Error as e:
        out["cpf"] = e.sqlstate
print(json.dumps(out), flush=True)
"#;

#[test]
fn a_cursor_streams_past_max_rows_and_is_audited_when_it_opens_and_closes() {
    let test = "a_cursor_streams_past_max_rows_and_is_audited_when_it_opens_and_closes";
    let Some(python) = python() else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
        return;
    };
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    let port = free_port();
    let (_server, _base) = serve_with(
        &lake,
        Some(port),
        &[
            ("LAGOA__QUERY__MAX_ROWS", "500"),
            ("LAGOA__QUERY__CURSOR_IDLE_SECONDS", "2"),
            ("LAGOA__QUERY__MAX_PER_PRINCIPAL", "1"),
            ("LAGOA__QUERY__QUEUE_TIMEOUT_SECONDS", "3"),
            ("LAGOA__QUERY__CURSOR_MAX_PER_PRINCIPAL", "1"),
        ],
    );
    let got = json_printed_by(Command::new(python).args([
        "-c",
        SCRIPT,
        &port.to_string(),
        &s.joao,
        PURPOSE,
    ]));

    // More than max_rows in one answer, not in a cursor.
    assert_eq!(got["plain"], "54000", "{got}");
    assert_eq!(
        got["streamed"],
        serde_json::json!([150, 39850, [260005, 1], [260055, 20000]]),
        "{got}"
    );
    assert_eq!(got["early"], 10, "{got}");
    assert_eq!(
        got["after_close"], 2,
        "the closed cursor freed its place: {got}"
    );
    assert_eq!(got["fetch_all"], "54000", "{got}");
    let second = &got["second"];
    assert_eq!(second[0], "53000", "{got}");
    assert!(
        second[1]
            .as_str()
            .is_some_and(|m| m.contains("query.cursor_max_per_principal")),
        "a second cursor of the principal is refused, and says why: {got}"
    );
    let idle = &got["idle"];
    assert_eq!(idle[0], "57014", "{got}");
    assert!(
        idle[1]
            .as_str()
            .is_some_and(|m| m.contains("query.cursor_idle_seconds")),
        "an idle cursor is stopped and says why: {got}"
    );
    assert_eq!(
        got["after_idle"], 2,
        "the idle cursor freed its place: {got}"
    );
    assert_eq!(got["cpf"], "42501", "{got}");

    let entries = crate::support::audit_entries(&lake, 40);
    let closed: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["action"] == "cursor_closed" && e["principal"] == "joao")
        .collect();
    let opened = entries
        .iter()
        .filter(|e| {
            e["action"] == "query"
                && e["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("server-side cursor opened"))
        })
        .count();
    assert_eq!(opened, 3, "one opening entry per cursor: {entries:#?}");
    let rows: Vec<i64> = closed.iter().map(|e| e["rows"].as_i64().unwrap()).collect();
    assert!(rows.contains(&40000), "the whole cursor: {closed:#?}");
    assert!(
        rows.contains(&10),
        "the one closed after a page: {closed:#?}"
    );
    let idle_entry = closed
        .iter()
        .find(|e| e["outcome"] != "ok")
        .unwrap_or_else(|| panic!("the idle cursor's end is on the record: {closed:#?}"));
    assert_eq!(idle_entry["outcome"], "cancelled", "{idle_entry}");
    assert_eq!(idle_entry["rows"], 5, "{idle_entry}");
    for entry in &closed {
        assert_eq!(
            entry["datasets"],
            serde_json::json!(["populacao"]),
            "{entry}"
        );
    }
}
