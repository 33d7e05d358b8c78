//! BI tools and SQL clients as they start and browse, against the
//! PostgreSQL port: the statements DBeaver, Metabase, Grafana, pgAdmin and
//! pgcli send (tests/replays/*.sql, with where each was captured), replayed
//! through the driver each tool is built on (pgJDBC for the Java tools,
//! psycopg for the others); the pgJDBC metadata calls DBeaver makes;
//! SQLAlchemy's inspector as Superset reads a table; psql's tab completion
//! in a terminal; the session's settings read back as PostgreSQL's.
//!
//! Every statement must be answered, nothing of a dataset the analyst may
//! not read may appear in any answer, and browsing is no denial on the
//! audit trail.

use crate::pg::{PGJDBC, PURPOSE, Served, psql_output, served};
use crate::support::*;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// One statement's answer: its cells as text, or the error.
#[derive(Debug)]
struct Replayed {
    sql_head: String,
    answer: Result<String, String>,
}

/// The statements of a replay file, as the runners split them.
fn statement_heads(file: &Path) -> Vec<String> {
    let text: String = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    text.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(120).collect::<String>().replace('\n', " "))
        .collect()
}

fn replay_with_pgjdbc(classes: &Path, file: &Path, port: u16, token: &str) -> Vec<Replayed> {
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{PGJDBC}:{}", classes.display()))
        .arg("JdbcReplay")
        .arg(file)
        .args([&port.to_string(), "joao", token])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {stdout}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let heads = statement_heads(file);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), heads.len(), "{stdout}");
    heads
        .into_iter()
        .zip(lines)
        .map(|(sql_head, line)| Replayed {
            sql_head,
            answer: match line.strip_prefix("ok ") {
                Some(cells) => Ok(cells.to_owned()),
                None => Err(line.to_owned()),
            },
        })
        .collect()
}

fn replay_with_psycopg(python: &Path, file: &Path, port: u16, token: &str) -> Vec<Replayed> {
    let out = Command::new(python)
        .arg(repo_root().join("tests/py/replay.py"))
        .arg(file)
        .args([&port.to_string(), "joao", token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| Replayed {
            sql_head: a["sql"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect::<String>()
                .replace('\n', " "),
            answer: match a.get("rows") {
                Some(rows) => Ok(rows.to_string()),
                None => Err(format!("{} {}", a["sqlstate"], a["error"])),
            },
        })
        .collect()
}

/// A served lake (`pg::served`) and the project's Python; `None` (said
/// why) when Python is not there.
fn served_with_python(test: &str) -> Option<(PathBuf, Served)> {
    let Some(python) = python() else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
        return None;
    };
    Some((python, served()))
}

/// Runs `script` with `args`, which prints one JSON object, returned.
fn script_json(python: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many entries of the audit trail are denials.
fn denials(lake: &Path) -> usize {
    lagoa_ok(lake, &["audit", "list", "--json", "--limit", "100000"])
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["entry"]["outcome"] == "denied")
        })
        .count()
}

#[test]
fn bi_tools_start_and_browse_seeing_only_what_the_policy_gives() {
    let test = "bi_tools_start_and_browse_seeing_only_what_the_policy_gives";
    let Some(python) = python() else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
        return;
    };
    if !crate::pg::pgjdbc_here(test) {
        return;
    }
    let Served {
        dir,
        lake,
        s,
        port,
        _server,
    } = served();
    let classes = crate::pg::javac(dir.path(), "JdbcReplay.java");
    let before = denials(&lake);

    let replays = repo_root().join("tests/replays");
    let mut failed = Vec::new();
    let mut seen = String::new();
    for (tool, java) in [
        ("dbeaver", true),
        ("metabase", true),
        ("pgjdbc", true),
        ("grafana", false),
        ("pgadmin", false),
        ("pgcli", false),
    ] {
        let file = replays.join(format!("{tool}.sql"));
        let replayed = if java {
            replay_with_pgjdbc(&classes, &file, port, &s.joao)
        } else {
            replay_with_psycopg(&python, &file, port, &s.joao)
        };
        assert!(!replayed.is_empty(), "{tool}: no statements");
        for r in replayed {
            match r.answer {
                Ok(cells) => seen.push_str(&format!("{tool}: {cells}\n")),
                Err(e) => failed.push(format!("{tool}: {} <- {}", e, r.sql_head)),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "statements not answered:\n{}",
        failed.join("\n")
    );
    // What the tools list: the analyst's table, not the one that needs a
    // purpose this connection did not declare.
    assert!(seen.contains("populacao"), "{seen}");
    assert!(
        !seen.contains("obitos"),
        "an ungranted dataset is listed:\n{seen}"
    );
    assert_eq!(denials(&lake), before, "browsing is no denial");
}

/// SQLAlchemy's inspector reading everything Superset reads of a table
/// when it is added as a dataset (columns, keys, indexes, constraints,
/// comment), through psycopg2 as Superset's image ships.
#[test]
fn superset_reads_a_tables_metadata_through_sqlalchemy() {
    let Some((python, served)) =
        served_with_python("superset_reads_a_tables_metadata_through_sqlalchemy")
    else {
        return;
    };
    let (port, s) = (served.port, &served.s);
    let script = r#"
import json, sys
from urllib.parse import quote
import sqlalchemy as sa
port, token = sys.argv[1], sys.argv[2]
engine = sa.create_engine(f"postgresql+psycopg2://joao:{quote(token, safe='')}@127.0.0.1:{port}/lagoa")
i = sa.inspect(engine)
out = {
    "schemas": i.get_schema_names(),
    "tables": i.get_table_names("public"),
    "views": i.get_view_names("public"),
    "columns": [c["name"] for c in i.get_columns("populacao", "public")],
    "pk": i.get_pk_constraint("populacao", "public"),
    "fks": i.get_foreign_keys("populacao", "public"),
    "indexes": i.get_indexes("populacao", "public"),
    "unique": i.get_unique_constraints("populacao", "public"),
    "checks": i.get_check_constraints("populacao", "public"),
    "comment": i.get_table_comment("populacao", "public"),
}
print(json.dumps(out))
"#;
    let got = script_json(&python, script, &[&port.to_string(), &s.joao]);
    assert_eq!(got["tables"], serde_json::json!(["populacao"]), "{got}");
    assert_eq!(
        got["columns"],
        serde_json::json!(["municipio", "ano", "habitantes"]),
        "{got}"
    );
    // A lake's tables have no keys, indexes or constraints to declare.
    assert_eq!(
        got["pk"]["constrained_columns"],
        serde_json::json!([]),
        "{got}"
    );
    for empty in ["fks", "indexes", "unique", "checks", "views"] {
        assert_eq!(got[empty], serde_json::json!([]), "{empty}: {got}");
    }
    assert!(got["comment"]["text"].is_null(), "{got}");
}

/// psql in a terminal: Tab completes the analyst's table, and nothing of
/// one it may not read; no Tab press is a denial.
#[test]
fn psql_tab_completion_offers_only_readable_tables() {
    let test = "psql_tab_completion_offers_only_readable_tables";
    let Some(python) = python() else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
        return;
    };
    let Some(Served {
        dir: _dir,
        lake,
        s,
        port,
        _server,
    }) = crate::pg::served_for_psql(test)
    else {
        return;
    };
    let before = denials(&lake);
    let out = Command::new(python)
        .arg(repo_root().join("tests/py/psql_tab.py"))
        .args([&port.to_string(), "joao", &s.joao])
        .args(["SELECT * FROM pop\t", "SELECT * FROM obi\t", "\\d popu\t"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screens: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(screens.len(), 3, "{screens:?}");
    assert!(
        screens[0].contains("populacao"),
        "completed: {:?}",
        screens[0]
    );
    assert!(
        !screens[1].contains("obitos"),
        "completed: {:?}",
        screens[1]
    );
    assert!(
        screens[2].contains("populacao"),
        "completed: {:?}",
        screens[2]
    );
    assert_eq!(denials(&lake), before, "a Tab press is no denial");
}

/// The session's settings as PostgreSQL clients read and set them:
/// `current_setting`, `pg_settings`, `set_config` (the purpose among
/// them), and `SET lagoa.purpose = $1` bound over the extended protocol.
#[test]
fn settings_are_read_and_set_as_on_postgresql() {
    let Some((python, served)) = served_with_python("settings_are_read_and_set_as_on_postgresql")
    else {
        return;
    };
    let (port, s) = (served.port, &served.s);
    let script = r#"
import json, sys, psycopg
port, token, purpose = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
def one(conn, sql, params=None):
    try:
        return conn.execute(sql, params).fetchone()[0]
    except psycopg.Error as e:
        return ["error", e.sqlstate]
with psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                     dbname="lagoa", autocommit=True, connect_timeout=10) as conn:
    out["zone"] = one(conn, "SELECT current_setting('TimeZone')")
    conn.execute("SET TimeZone = 'America/Sao_Paulo'")
    out["zone_set"] = one(conn, "SELECT current_setting('timezone')")
    out["listed"] = one(conn, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'timezone'")
    out["keys"] = one(conn, "SELECT setting FROM pg_settings WHERE name = 'max_index_keys'")
    out["unknown"] = one(conn, "SELECT current_setting('no.such')")
    out["missing_ok"] = one(conn, "SELECT current_setting('no.such', true)")
    out["before"] = one(conn, "SELECT count(*) FROM obitos")
    out["set_config"] = one(conn, "SELECT set_config('lagoa.purpose', %s, false)", [purpose])
    out["after_set_config"] = one(conn, "SELECT count(*) FROM obitos")
    out["purpose_shown"] = one(conn, "SELECT current_setting('lagoa.purpose')")
    conn.execute("RESET lagoa.purpose")
    out["reset"] = one(conn, "SELECT count(*) FROM obitos")
    conn.execute("SET lagoa.purpose = %s", [purpose])
    out["after_bound_set"] = one(conn, "SELECT count(*) FROM obitos")
print(json.dumps(out))
"#;
    let got = script_json(&python, script, &[&port.to_string(), &s.joao, PURPOSE]);
    assert_eq!(got["zone_set"], "America/Sao_Paulo", "{got}");
    assert_eq!(got["listed"], "America/Sao_Paulo", "{got}");
    assert_ne!(got["zone"], got["zone_set"], "{got}");
    assert_eq!(got["keys"], "32", "{got}");
    assert_eq!(got["unknown"][0], "error", "{got}");
    assert!(got["missing_ok"].is_null(), "{got}");
    assert_eq!(got["before"][1], "42501", "no purpose yet: {got}");
    assert_eq!(got["set_config"], PURPOSE, "{got}");
    assert_eq!(got["after_set_config"], 6, "{got}");
    assert_eq!(got["purpose_shown"], PURPOSE, "{got}");
    assert_eq!(got["reset"][1], "42501", "{got}");
    assert_eq!(got["after_bound_set"], 6, "{got}");
    // psql reads the same, in the simple protocol.
    let shown = psql_output(
        port,
        &s.joao,
        &[
            "SELECT set_config('application_name', 'painel', false)",
            "SELECT current_setting('application_name')",
        ],
    );
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        ["painel", "painel"],
        "{shown}"
    );
}
