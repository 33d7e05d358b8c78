//! The PostgreSQL port of `lagoa serve` with the real clients analysts
//! use: `psql` (simple protocol) and psycopg 3 from PyPI (extended protocol
//! with bound parameters). Token authentication, the purpose as a session
//! parameter, refusals with their SQLSTATE, and a revocation that stops the
//! next statement of an open connection.

use crate::support::*;
use std::path::Path;
use std::process::Command;

pub const PURPOSE: &str = "investigação de óbito infantil";

pub struct Setup {
    pub joao: String,
    pub maria: String,
}

pub fn setup(dir: &Path, lake: &Path) -> Setup {
    ingest_obitos_especial(dir, lake);
    ingest_populacao_amplo(dir, lake);
    let mut tokens = agreement(
        lake,
        &[("saude", "provider"), ("educ", "consumer")],
        &[("maria", "saude", "steward"), ("joao", "educ", "analyst")],
    );
    let (maria, joao) = (
        tokens.remove("maria").unwrap(),
        tokens.remove("joao").unwrap(),
    );
    grant_through_request(
        lake,
        &maria,
        &joao,
        "obitos",
        "saude",
        PURPOSE,
        &["--columns", "municipio,ano,causa_cid,cpf"],
    );
    Setup { joao, maria }
}

pub fn psql(port: u16, user: &str, password: &str, commands: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        user,
        "-d",
        "lagoa",
    ])
    .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
    .env("PGPASSWORD", password)
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGOPTIONS");
    for c in commands {
        cmd.args(["-c", c]);
    }
    cmd.output()
        .expect("psql runs (scripts/bootstrap installs postgresql-client)")
}

/// What psql prints on stderr for `commands` as joao, which must fail
/// (verbosely: the SQLSTATE is in it).
fn psql_error(port: u16, token: &str, commands: &[&str]) -> String {
    let mut all = vec!["\\set VERBOSITY verbose"];
    all.extend_from_slice(commands);
    let out = psql(port, "joao", token, &all);
    assert!(!out.status.success(), "{commands:?} passed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What psql prints on stdout for `commands` as joao, which must succeed.
pub fn psql_output(port: u16, token: &str, commands: &[&str]) -> String {
    let out = psql(port, "joao", token, commands);
    assert!(
        out.status.success(),
        "{commands:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn psql_reads_through_the_postgresql_port_under_the_same_policy() {
    let Some(Served {
        dir,
        lake,
        s,
        port,
        _server,
    }) = served_for_psql("psql_reads_through_the_postgresql_port_under_the_same_policy")
    else {
        return;
    };

    let out = psql(port, "joao", &s.joao, &["SELECT count(*) FROM populacao"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");

    // especial: the purpose is a session parameter.
    let out = psql(port, "joao", &s.joao, &["SELECT count(*) FROM obitos"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("declare the purpose"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = format!("SET lagoa.purpose = '{PURPOSE}'");
    let out = psql(
        port,
        "joao",
        &s.joao,
        &[&set, "SELECT count(*), count(DISTINCT cpf) FROM obitos"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}|{}", 2 * PEOPLE.len(), PEOPLE.len())
    );
    // The CPF comes as its pseudonym (the grant does not give personal values).
    let out = psql(
        port,
        "joao",
        &s.joao,
        &[&set, "SELECT cpf FROM obitos LIMIT 1"],
    );
    let cpf = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(cpf.starts_with('p') && cpf.len() == 33, "{cpf}");

    // Refusals: a column outside the grant, a write, a path.
    for (sql, needle) in [
        ("SELECT nome FROM obitos", "not available to you"),
        ("DROP TABLE populacao", "denied"),
        ("SELECT * FROM '/etc/passwd'", "denied"),
    ] {
        let out = psql(port, "joao", &s.joao, &[&set, sql]);
        assert!(!out.status.success(), "{sql} passed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{sql}: {err}");
    }

    // A refusal is 42501 (insufficient privilege); a statement that does
    // not parse is 42601 (syntax error), a mistake rather than a refusal.
    for (sql, code) in [("SELECT nome FROM obitos", "42501"), ("SELEC 1", "42601")] {
        let out = psql(
            port,
            "joao",
            &s.joao,
            &["\\set VERBOSITY verbose", &set, sql],
        );
        assert!(!out.status.success(), "{sql} passed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(code), "{sql}: {err}");
    }

    // An earlier state is a session setting: `lagoa.as_of`.
    let then = populacao_grows(dir.path(), &lake);
    let set_then = format!("SET lagoa.as_of = '{then}'");
    let out = psql(
        port,
        "joao",
        &s.joao,
        &[
            "SELECT count(*) FROM populacao",
            &set_then,
            "SHOW lagoa.as_of",
            "SELECT count(*) FROM populacao",
            "RESET lagoa.as_of",
            "SELECT count(*) FROM populacao",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        vec!["3", then.as_str(), "2", "3"]
    );
    let out = psql(
        port,
        "joao",
        &s.joao,
        &["\\set VERBOSITY verbose", "SET lagoa.as_of = 'ontem'"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("22023"), "{err}");

    // psql's catalog commands show the analyst's lake: the tables the
    // purpose opens, and of obitos only the granted columns.
    let listed = |cmd: &str| {
        let out = psql(port, "joao", &s.joao, &[&set, cmd]);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tables = listed("\\dt");
    assert!(
        tables.contains("|obitos|table|") && tables.contains("|populacao|table|"),
        "{tables}"
    );
    let columns = |cmd: &str| -> Vec<String> {
        listed(cmd)
            .lines()
            .filter_map(|l| l.split('|').next())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(columns("\\d populacao"), ["municipio", "ano", "habitantes"]);
    let mut obitos = columns("\\d obitos");
    obitos.sort();
    assert_eq!(
        obitos,
        ["ano", "causa_cid", "cpf", "municipio"],
        "the grant's columns"
    );

    // Wrong passwords: another user's token, a forged one.
    for (user, password) in [("joao", s.maria.as_str()), ("joao", &forged(&s.joao))] {
        let out = psql(port, user, password, &["SELECT 1"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.to_lowercase()
                .contains("password authentication failed"),
            "{err}"
        );
        assert!(!err.contains(password));
    }
    let trail = lagoa_ok(&lake, &["audit", "list", "--limit", "100", "--json"]);
    assert!(
        trail.contains("\"sign_in\"") && trail.contains("postgres from 127.0.0.1"),
        "refused logins are audited"
    );
    assert!(!trail.contains(&s.joao) && !trail.contains(&s.maria));
}

/// A lake with [`setup`]'s datasets and grants, served (its PostgreSQL
/// port included). Bound by name (not `..`) in tests, so the lake and the
/// server live to the end.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub lake: std::path::PathBuf,
    pub s: Setup,
    pub port: u16,
    pub _server: Killed,
}

pub fn served() -> Served {
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    let port = free_port();
    let (server, _base) = serve(&lake, Some(port));
    Served {
        dir,
        lake,
        s,
        port,
        _server: server,
    }
}

/// [`served`], for a test that drives `psql`; `None` (said why) without it.
pub fn served_for_psql(test: &str) -> Option<Served> {
    if Command::new("psql").arg("--version").output().is_err() {
        skip(test, "no psql: run scripts/bootstrap (postgresql-client)");
        return None;
    }
    Some(served())
}

/// A served lake with the agreement of [`setup`], and the project's Python
/// (for psycopg); `None` (said why) when Python is not there.
struct Psycopg {
    python: std::path::PathBuf,
    _dir: tempfile::TempDir,
    lake: std::path::PathBuf,
    s: Setup,
    port: u16,
    _server: Killed,
}

fn psycopg(test: &str) -> Option<Psycopg> {
    let Some(python) = python() else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
        return None;
    };
    let Served {
        dir,
        lake,
        s,
        port,
        _server,
    } = served();
    Some(Psycopg {
        python,
        _dir: dir,
        lake,
        s,
        port,
        _server,
    })
}

/// Runs `script` (Python, the project's virtualenv) as joao against a
/// served lake with `setup`'s datasets and grants: it gets the port and
/// joao's token as arguments and prints one JSON object, returned here.
fn joao_runs(test: &str, script: &str) -> Option<serde_json::Value> {
    let Psycopg {
        python,
        _dir,
        lake: _,
        s,
        port,
        _server,
    } = psycopg(test)?;
    Some(json_printed_by(Command::new(python).args([
        "-c",
        script,
        &port.to_string(),
        &s.joao,
    ])))
}

#[test]
fn psycopg_binds_parameters_and_a_revocation_stops_an_open_connection() {
    // Bound by name (not `..`), so the lake and the server live to the end.
    let Some(Psycopg {
        python,
        _dir,
        lake,
        s,
        port,
        _server,
    }) = psycopg("psycopg_binds_parameters_and_a_revocation_stops_an_open_connection")
    else {
        return;
    };
    let grant = first_id(&lagoa_ok(&lake, &["grant", "list"]));

    // The script connects, queries, then waits for a line on stdin (the
    // test revokes the grant meanwhile) and queries again.
    let script = r#"
import json, sys, psycopg
port, token, purpose = sys.argv[1], sys.argv[2], sys.argv[3]
options = "-c lagoa.purpose=" + purpose.replace(" ", "\\ ")
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                     dbname="lagoa", options=options, connect_timeout=10) as conn:
    cur = conn.cursor()
    cur.execute("SELECT municipio, count(*) AS n FROM obitos WHERE ano = %s "
                "GROUP BY municipio ORDER BY municipio", (2024,))
    out["by_municipio"] = cur.fetchall()
    out["columns"] = [d.name for d in cur.description]
    cur.execute("SELECT habitantes > %s AS big, municipio FROM populacao ORDER BY municipio", (1500,))
    out["flags"] = cur.fetchall()
    for _ in range(6):  # past psycopg's prepare threshold: named statements
        cur.execute("SELECT count(*) FROM populacao WHERE municipio = %s", (260005,))
    out["prepared"] = cur.fetchone()[0]
    try:
        cur.execute("SELECT cpf, nome FROM obitos")
    except psycopg.Error as e:
        out["refused"] = [e.sqlstate, str(e)]
        conn.rollback()
    print(json.dumps(out), flush=True)
    sys.stdin.readline()
    try:
        cur.execute("SELECT count(*) FROM obitos WHERE ano = %s", (2024,))
        out["after_revocation"] = ["ok", cur.fetchone()[0]]
    except psycopg.Error as e:
        out["after_revocation"] = [e.sqlstate, str(e)]
print(json.dumps(out), flush=True)
"#;
    let mut child = Command::new(python)
        .args(["-c", script, &port.to_string(), &s.joao, PURPOSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let before: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|_| {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
        panic!("psycopg script failed: {first}{err}")
    });
    assert_eq!(before["columns"], serde_json::json!(["municipio", "n"]));
    assert_eq!(
        before["by_municipio"],
        serde_json::json!([[260005, 2], [260055, 2], [260105, 2]])
    );
    assert_eq!(
        before["flags"],
        serde_json::json!([[false, 260005], [true, 260055]])
    );
    assert_eq!(before["prepared"], 1);
    assert_eq!(before["refused"][0], "42501", "{before}");
    assert!(
        before["refused"][1]
            .as_str()
            .unwrap()
            .contains("obitos.nome")
    );

    ok(
        lagoa_env(
            &lake,
            &["grant", "revoke", &grant, "--reason", "fim"],
            &[("LAGOA_TOKEN", &s.maria)],
        ),
        &["grant", "revoke"],
    );
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut second = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut second).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let after: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(after["after_revocation"][0], "42501", "{after}");
    assert!(
        after["after_revocation"][1]
            .as_str()
            .unwrap()
            .contains("read only through a grant"),
        "{after}"
    );
}

#[test]
fn a_statement_after_the_token_was_revoked_is_refused_and_on_the_record() {
    // Bound by name (not `..`), so the lake and the server live to the end.
    let Some(Psycopg {
        python,
        _dir,
        lake,
        s,
        port,
        _server,
    }) = psycopg("a_statement_after_the_token_was_revoked_is_refused_and_on_the_record")
    else {
        return;
    };
    let script = r#"
import sys, psycopg
port, token = sys.argv[1], sys.argv[2]
with psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                     dbname="lagoa", connect_timeout=10, autocommit=True) as conn:
    print(conn.execute("SELECT count(*) FROM populacao").fetchone()[0], flush=True)
    sys.stdin.readline()
    try:
        conn.execute("SELECT count(*) FROM populacao")
        print("answered", flush=True)
    except psycopg.Error as e:
        print("refused", e.sqlstate, flush=True)
"#;
    let mut child = Command::new(python)
        .args(["-c", script, &port.to_string(), &s.joao])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "2");
    let listing = lagoa_ok(&lake, &["token", "list", "--principal", "joao"]);
    let token_id = first_id(&listing);
    lagoa_ok(&lake, &["token", "revoke", &token_id]);
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let _ = child.wait();
    assert_eq!(line.trim(), "refused 28000", "{line}");
    let entry: serde_json::Value =
        serde_json::from_str(lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1"]).trim())
            .unwrap();
    assert_eq!(entry["entry"]["principal"], "joao", "{entry}");
    assert_eq!(entry["entry"]["outcome"], "denied", "{entry}");
    assert!(
        entry["entry"]["reason"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{entry}"
    );
}

/// What a client asks about the server and its session as it connects
/// (psycopg here, on the extended protocol): a PostgreSQL version, who it
/// is, its settings, harmless SETs reflected back, an unknown setting
/// refused with PostgreSQL's code.
#[test]
fn clients_learn_the_server_and_their_session_as_from_postgresql() {
    let script = r#"
import json, sys, psycopg
port, token = sys.argv[1], sys.argv[2]
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                     dbname="lagoa", connect_timeout=10, autocommit=True) as conn:
    out["version_number"] = conn.info.server_version
    out["superuser"] = conn.info.parameter_status("is_superuser")
    cur = conn.cursor()
    cur.execute("SELECT version(), current_user, current_schema(), current_database()")
    out["who"] = list(cur.fetchone())
    # As SQLAlchemy and psql call them: qualified, and the catalog's own.
    cur.execute("SELECT pg_catalog.version(), pg_catalog.format_type(23, NULL)")
    out["qualified"] = list(cur.fetchone())
    for name in ["TimeZone", "search_path", "transaction_isolation", "standard_conforming_strings", "server_version"]:
        cur.execute("SHOW " + name)
        out[name] = cur.fetchone()[0]
    cur.execute("SET TIME ZONE 'America/Sao_Paulo'")
    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cur.execute("SHOW TimeZone")
    out["TimeZone after"] = cur.fetchone()[0]
    cur.execute("SHOW TRANSACTION ISOLATION LEVEL")
    out["isolation"] = cur.fetchone()[0]
    # psycopg's nested transactions are savepoints; one rolled back too.
    with conn.transaction():
        with conn.transaction():
            cur.execute("SELECT 1")
            out["nested"] = cur.fetchone()[0]
        try:
            with conn.transaction():
                cur.execute("SELECT 2")
                raise RuntimeError("undo")
        except RuntimeError:
            out["rolled_back_to_savepoint"] = True
    try:
        cur.execute("SHOW no_such_setting")
    except psycopg.Error as e:
        out["unknown"] = e.sqlstate
    # Binary results (pgJDBC switches to them after five executions): the
    # same values as text, for every type the lake holds.
    typed = ("SELECT DATE '2024-03-15' AS d, TIMESTAMP '2024-03-15 10:20:30.123456' AS ts, "
             "CAST(-1234.50 AS DECIMAL(10,2)) AS n, CAST(0.05 AS DECIMAL(10,2)) AS small, true AS b, "
             "CAST(1.5 AS DOUBLE) AS f, CAST(42 AS BIGINT) AS i, CAST(7 AS INT) AS i4, 'ação' AS t")
    rows = {}
    for binary in (False, True):
        c = conn.cursor(binary=binary)
        c.execute(typed)
        rows[binary] = [repr(v) for v in c.fetchone()]
    out["text_rows"], out["binary_rows"] = rows[False], rows[True]
    c = conn.cursor(binary=True)
    c.execute("SELECT municipio, habitantes FROM populacao ORDER BY municipio")
    out["binary_populacao"] = [list(r) for r in c.fetchall()]
print(json.dumps(out), flush=True)
"#;
    let Some(got) = joao_runs(
        "clients_learn_the_server_and_their_session_as_from_postgresql",
        script,
    ) else {
        return;
    };
    assert_eq!(got["version_number"], 160000, "{got}");
    assert_eq!(got["superuser"], "off", "{got}");
    let who = &got["who"];
    assert!(
        who[0]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL 16.0 (Lagoa"),
        "{got}"
    );
    assert_eq!(who[1], "joao");
    assert_eq!((&who[2], &who[3]), (&"public".into(), &"lagoa".into()));
    assert_eq!(got["qualified"][0], who[0], "{got}");
    assert_eq!(got["qualified"][1], "integer", "{got}");
    assert_eq!(got["search_path"], "public", "{got}");
    assert_eq!(got["transaction_isolation"], "read committed", "{got}");
    assert_eq!(got["standard_conforming_strings"], "on", "{got}");
    assert!(
        got["server_version"].as_str().unwrap().starts_with("16.0"),
        "{got}"
    );
    assert_eq!(got["TimeZone after"], "America/Sao_Paulo", "{got}");
    assert_eq!(got["unknown"], "42704", "{got}");
    assert_eq!(got["isolation"], "read committed", "{got}");
    assert_eq!(got["nested"], 1, "{got}");
    assert_eq!(got["rolled_back_to_savepoint"], true, "{got}");
    assert_eq!(got["binary_rows"], got["text_rows"], "{got}");
    let text_rows = got["text_rows"].to_string();
    for value in [
        "datetime.date(2024, 3, 15)",
        "datetime.datetime(2024, 3, 15, 10, 20, 30, 123456)",
        "Decimal('-1234.50')",
        "Decimal('0.05')",
        "True",
        "1.5",
        "42",
        "'ação'",
    ] {
        assert!(text_rows.contains(value), "{value} in {text_rows}");
    }
    assert_eq!(
        got["binary_populacao"].as_array().unwrap().len(),
        2,
        "{got}"
    );
}

/// The real pgJDBC driver (Debian's `libpostgresql-jdbc-java`, what DBeaver
/// and most Java BI tools embed): prepared statements executed twenty
/// times (binary results from the sixth), integer, numeric and date
/// parameters, and a syntax error answered as one.
#[test]
fn pgjdbc_runs_prepared_statements_past_its_binary_switch() {
    let test = "pgjdbc_runs_prepared_statements_past_its_binary_switch";
    let driver = Path::new(PGJDBC);
    if !pgjdbc_here(test) {
        return;
    }
    let Served {
        dir,
        lake: _,
        s,
        port,
        _server,
    } = served();
    let classes = javac(dir.path(), "JdbcClient.java");
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{}", driver.display(), classes.display()))
        .args(["JdbcClient", &port.to_string(), "joao", &s.joao])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("server 16.0"), "{stdout}");
    assert!(
        stdout.contains("numeric and int parameters, 20 runs: 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "date parameter and typed results, 20 runs: 2024-01-02 2024-03-15 1500.50 1234.50 true 1.5"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("syntax error: 42601"), "{stdout}");
    // What DBeaver's browser sees: the analyst's tables only (obitos needs
    // a purpose this connection did not declare), with PostgreSQL types.
    assert!(stdout.contains("schemas: pg_catalog,public\n"), "{stdout}");
    assert!(stdout.contains("tables: populacao\n"), "{stdout}");
    assert!(
        stdout.contains("columns of populacao: municipio,ano,habitantes typed int8,int8,int8\n"),
        "{stdout}"
    );
    assert!(stdout.contains("columns of obitos: \n"), "{stdout}");
    assert!(stdout.contains("catalogs: lagoa\n"), "{stdout}");
    // A lake's tables declare no keys or indexes; the server's types are
    // PostgreSQL's.
    for none in ["primary keys", "indexes", "imported keys", "exported keys"] {
        assert!(
            stdout.contains(&format!("{none} of populacao: \n")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("type info: bool,int8,int4,numeric,float8,text,varchar,date,timestamp\n"),
        "{stdout}"
    );
    assert!(stdout.contains("table types: true\n"), "{stdout}");
}

/// Debian's pgJDBC driver, which Java BI tools embed.
pub const PGJDBC: &str = "/usr/share/java/postgresql.jar";

/// Whether pgJDBC and a JDK are here; if not, `test` is skipped (said why).
pub fn pgjdbc_here(test: &str) -> bool {
    if Path::new(PGJDBC).exists() && Command::new("javac").arg("-version").output().is_ok() {
        return true;
    }
    skip(
        test,
        "no pgJDBC or JDK: run scripts/bootstrap (libpostgresql-jdbc-java, default-jdk-headless)",
    )
}

/// Compiles `tests/java/<source>` against pgJDBC into `<dir>/classes`,
/// which it returns.
pub fn javac(dir: &Path, source: &str) -> std::path::PathBuf {
    let classes = dir.join("classes");
    let javac = Command::new("javac")
        .arg("-cp")
        .arg(PGJDBC)
        .arg("-d")
        .arg(&classes)
        .arg(repo_root().join("tests/java").join(source))
        .output()
        .unwrap();
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    classes
}

/// SQLAlchemy 2 (what pandas, Jupyter's SQL magics and Superset connect
/// through): its connection start-up (version, settings, psycopg's type
/// lookups), a query, then the inspector listing the analyst's tables and
/// their columns, no more.
#[test]
fn sqlalchemy_connects_and_lists_only_what_the_analyst_may_read() {
    let script = r#"
import json, sys
from urllib.parse import quote
import sqlalchemy as sa
port, token = sys.argv[1], sys.argv[2]
engine = sa.create_engine(f"postgresql+psycopg://joao:{quote(token, safe='')}@127.0.0.1:{port}/lagoa")
out = {}
with engine.connect() as conn:
    out["one"] = conn.execute(sa.text("SELECT 1 AS one")).scalar()
inspector = sa.inspect(engine)
out["tables"] = sorted(inspector.get_table_names())
out["columns"] = [[c["name"], str(c["type"])] for c in inspector.get_columns("populacao")]
out["has_obitos"] = inspector.has_table("obitos")
print(json.dumps(out), flush=True)
"#;
    let Some(got) = joao_runs(
        "sqlalchemy_connects_and_lists_only_what_the_analyst_may_read",
        script,
    ) else {
        return;
    };
    assert_eq!(got["one"], 1, "{got}");
    let tables = got["tables"].as_array().unwrap();
    assert!(tables.contains(&"populacao".into()), "{got}");
    assert!(
        !tables.contains(&"obitos".into()),
        "no purpose declared: {got}"
    );
    assert_eq!(
        got["columns"],
        serde_json::json!([
            ["municipio", "BIGINT"],
            ["ano", "BIGINT"],
            ["habitantes", "BIGINT"]
        ]),
        "{got}"
    );
    assert_eq!(got["has_obitos"], false, "{got}");
}

/// psql pages through a cursor in the simple protocol and exports with
/// `\copy`: the rows of the governed query, the export on the record, and
/// the port refusing to take data in or to write files.
#[test]
fn psql_pages_through_a_cursor_and_exports_with_copy() {
    let Some(Served {
        dir: _dir,
        lake,
        s,
        port,
        _server,
    }) = served_for_psql("psql_pages_through_a_cursor_and_exports_with_copy")
    else {
        return;
    };
    let set = format!("SET lagoa.purpose = '{PURPOSE}'");

    let out = psql_output(
        port,
        &s.joao,
        &[
            "BEGIN",
            &set,
            "DECLARE pagina CURSOR FOR SELECT municipio, ano FROM obitos ORDER BY municipio, ano",
            "FETCH 2 FROM pagina",
            "MOVE 1 IN pagina",
            "FETCH ALL FROM pagina",
            "FETCH NEXT FROM pagina",
            "CLOSE pagina",
            "COMMIT",
        ],
    );
    let fetched: Vec<&str> = out.lines().collect();
    assert_eq!(
        fetched.len(),
        2 * PEOPLE.len() - 1,
        "every row but the one moved over: {fetched:?}"
    );
    let mut sorted = fetched.clone();
    sorted.sort();
    assert_eq!(fetched, sorted, "in the query's order");

    for (commands, code) in [
        // A cursor outlives nothing: gone after its transaction.
        (
            &[
                "BEGIN",
                "DECLARE c CURSOR FOR SELECT municipio FROM populacao",
                "COMMIT",
                "FETCH 1 FROM c",
            ][..],
            "34000",
        ),
        // Backwards and scrolling are not available (not a syntax error).
        (&["DECLARE c SCROLL CURSOR FOR SELECT 1"], "0A000"),
        // A cursor's query is governed like any other: no purpose, no obitos.
        (
            &["DECLARE c CURSOR FOR SELECT cpf FROM obitos"],
            "declare the purpose",
        ),
        // The port only reads, and writes only to its client.
        (&["COPY populacao FROM STDIN"], "42501"),
        (&["COPY populacao TO '/tmp/lagoa-copy-escape'"], "42501"),
        (&["COPY (SELECT cpf FROM obitos) TO STDOUT"], "42501"),
        (&["COPY (SELECT 1) TO STDOUT (FORMAT binary)"], "0A000"),
    ] {
        let err = psql_error(port, &s.joao, commands);
        assert!(err.contains(code), "{commands:?}: {err}");
    }

    let out = psql_output(
        port,
        &s.joao,
        &[
            "\\copy (SELECT municipio, habitantes FROM populacao ORDER BY municipio) TO STDOUT WITH CSV HEADER",
        ],
    );
    assert_eq!(out, "municipio,habitantes\n260005,1000\n260055,2000\n");
    let export = last_audit(&lake);
    assert_eq!(export["outcome"], "ok", "{export}");
    assert_eq!(export["rows"], 2, "{export}");
    assert!(
        export["subject"]
            .as_str()
            .is_some_and(|s| s.contains("COPY TO STDOUT (csv)")),
        "the export is on the record: {export}"
    );
    let out = psql_output(port, &s.joao, &["COPY populacao TO STDOUT"]);
    assert_eq!(out, "260005\t2024\t1000\n260055\t2024\t2000\n");
    assert!(!Path::new("/tmp/lagoa-copy-escape").exists());
}

/// What notebooks do with a large answer: psycopg 3's named (server-side)
/// cursors, text and binary, psycopg2's, `pandas.read_sql` with
/// `chunksize` over SQLAlchemy streaming results, and psycopg's `copy()`;
/// columns named as PostgreSQL names them.
#[test]
fn notebooks_page_through_server_side_cursors_and_copy_out() {
    let script = r#"
import json, sys
from urllib.parse import quote
import pandas as pd
import psycopg, psycopg2
import sqlalchemy as sa
port, token = sys.argv[1], sys.argv[2]
values = ",".join(f"({i})" for i in range(1, 501))
query = ("SELECT p.municipio, v.n FROM populacao p CROSS JOIN (VALUES " + values
         + ") AS v(n) ORDER BY p.municipio, v.n")
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user="joao", password=token,
                     dbname="lagoa", connect_timeout=10) as conn:
    with conn.cursor(name="paginas") as cur:
        cur.execute(query)
        out["cursor_columns"] = [d.name for d in cur.description]
        first = cur.fetchmany(7)
        rest = cur.fetchall()
        out["psycopg"] = [len(first), len(rest), list(first[0]), list(rest[-1])]
    with conn.cursor(name="binario", binary=True) as cur:
        cur.execute("SELECT municipio, habitantes FROM populacao WHERE habitantes > %s", (1500,))
        out["binary"] = [list(r) for r in cur.fetchall()]
    conn.commit()
    cur = conn.cursor()
    cur.execute("SELECT 1, count(*), max(habitantes), habitantes::bigint FROM populacao GROUP BY habitantes ORDER BY 3")
    out["names"] = [d.name for d in cur.description]
    with cur.copy("COPY (SELECT municipio, habitantes FROM populacao ORDER BY municipio) "
                  "TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        out["copy"] = b"".join(bytes(block) for block in copy).decode()
    try:
        with cur.copy("COPY populacao FROM STDIN") as copy:
            copy.write("1\t2\t3\n")
    except psycopg.Error as e:
        out["copy_in"] = e.sqlstate
        conn.rollback()

with psycopg2.connect(host="127.0.0.1", port=port, user="joao", password=token,
                      dbname="lagoa", connect_timeout=10) as conn:
    with conn.cursor(name="psycopg2_cursor") as cur:
        cur.itersize = 64
        cur.execute(query)
        out["psycopg2"] = sum(1 for _ in cur)

engine = sa.create_engine(f"postgresql+psycopg2://joao:{quote(token, safe='')}@127.0.0.1:{port}/lagoa")
with engine.connect().execution_options(stream_results=True) as conn:
    chunks = list(pd.read_sql(sa.text(query), conn, chunksize=300))
out["pandas"] = [len(c) for c in chunks]
out["pandas_columns"] = list(chunks[0].columns)
out["pandas_sum"] = int(sum(c["n"].sum() for c in chunks))
print(json.dumps(out), flush=True)
"#;
    let Some(got) = joao_runs(
        "notebooks_page_through_server_side_cursors_and_copy_out",
        script,
    ) else {
        return;
    };
    assert_eq!(got["cursor_columns"], serde_json::json!(["municipio", "n"]));
    assert_eq!(
        got["psycopg"],
        serde_json::json!([7, 993, [260005, 1], [260055, 500]]),
        "{got}"
    );
    assert_eq!(got["binary"], serde_json::json!([[260055, 2000]]), "{got}");
    assert_eq!(
        got["names"],
        serde_json::json!(["?column?", "count", "max", "habitantes"]),
        "{got}"
    );
    assert_eq!(
        got["copy"], "municipio,habitantes\n260005,1000\n260055,2000\n",
        "{got}"
    );
    assert_eq!(got["copy_in"], "42501", "{got}");
    assert_eq!(got["psycopg2"], 1000, "{got}");
    assert_eq!(
        got["pandas"],
        serde_json::json!([300, 300, 300, 100]),
        "{got}"
    );
    assert_eq!(got["pandas_columns"], serde_json::json!(["municipio", "n"]));
    assert_eq!(got["pandas_sum"], 2 * (500 * 501 / 2), "{got}");
}

/// The bypass suite on the catalog: a dataset the analyst may not read
/// (no purpose declared) has no columns in `pg_attribute` or
/// `information_schema.columns`; a column outside the grant is in neither
/// once it is readable; the statistics tables hold nothing of the lake.
/// psql's listing commands answer.
#[test]
fn the_catalog_shows_only_what_the_policy_gives() {
    let Some(Served {
        dir: _dir,
        lake,
        s,
        port,
        _server,
    }) = served_for_psql("the_catalog_shows_only_what_the_policy_gives")
    else {
        return;
    };
    let set = format!("SET lagoa.purpose = '{PURPOSE}'");
    let answer = |purpose: bool, sql: &str| -> String {
        let commands = if purpose {
            vec![set.as_str(), sql]
        } else {
            vec![sql]
        };
        psql_output(port, &s.joao, &commands).trim().to_owned()
    };
    let attributes = "SELECT a.attname FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
         WHERE c.relname = 'obitos' AND a.attnum > 0 ORDER BY a.attname";
    let columns = "SELECT column_name FROM information_schema.columns \
         WHERE table_name = 'obitos' ORDER BY column_name";
    for sql in [attributes, columns] {
        assert_eq!(answer(false, sql), "", "{sql}: obitos is not readable");
        assert_eq!(
            answer(true, sql).lines().collect::<Vec<_>>(),
            ["ano", "causa_cid", "cpf", "municipio"],
            "{sql}: only the grant's columns"
        );
    }
    let trail = last_audit(&lake);
    assert_eq!(
        trail["outcome"], "ok",
        "reading the catalog is no denial: {trail}"
    );

    // Statistics: whatever the catalog keeps, none of it is the lake's.
    let statistics = answer(true, "SELECT * FROM pg_catalog.pg_statistic");
    let of_the_lake = answer(
        true,
        "SELECT count(*) FROM pg_catalog.pg_statistic s JOIN pg_catalog.pg_class c \
         ON s.starelid = c.oid WHERE c.relname IN ('obitos', 'populacao')",
    );
    assert_eq!(of_the_lake, "0");
    for (cpf, nome) in PEOPLE {
        assert!(!statistics.contains(cpf) && !statistics.contains(nome));
    }

    // psql's listings: the database, the schema, no user functions.
    assert!(answer(false, "\\l").contains("lagoa"));
    assert!(answer(false, "\\dn").starts_with("public|"));
    assert_eq!(answer(false, "\\df"), "");
    // \du: the analyst's own role, no one else's name, no superuser.
    assert_eq!(answer(false, "\\du").trim(), "joao||");
    assert_eq!(
        answer(false, "SELECT rolname, rolsuper FROM pg_catalog.pg_roles"),
        "joao|f"
    );
    assert!(answer(false, "\\dt").contains("|populacao|table|"));
    assert!(!answer(false, "\\dt").contains("obitos"));

    // OIDs: populacao keeps its own whether obitos (listed before it) is
    // readable or not, and a regclass cast finds it.
    let oid_of = "SELECT oid FROM pg_catalog.pg_class WHERE relname = 'populacao'";
    let without_obitos = answer(false, oid_of);
    assert!(
        without_obitos.parse::<i64>().is_ok_and(|o| o >= 16384),
        "{without_obitos}"
    );
    assert_eq!(answer(true, oid_of), without_obitos);
    assert_eq!(
        answer(
            true,
            &format!("SELECT relname FROM pg_catalog.pg_class WHERE oid = {without_obitos}")
        ),
        "populacao"
    );
    assert_eq!(
        answer(
            true,
            "SELECT count(*) FROM pg_catalog.pg_attribute \
             WHERE attrelid = 'populacao'::regclass AND attnum > 0"
        ),
        answer(
            true,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'populacao'"
        )
    );
}

/// Node's `pg` package (from npm, installed by scripts/bootstrap):
/// parameterised queries with typed rows and a refusal's SQLSTATE.
#[test]
fn node_pg_runs_parameterised_queries() {
    let test = "node_pg_runs_parameterised_queries";
    let client = repo_root().join("tests/node/client.js");
    if !repo_root().join("tests/node/node_modules/pg").exists()
        || Command::new("node").arg("--version").output().is_err()
    {
        skip(
            test,
            "no node or tests/node/node_modules: run scripts/bootstrap",
        );
        return;
    }
    let Served {
        dir: _dir,
        lake: _,
        s,
        port,
        _server,
    } = served();
    let got = json_printed_by(Command::new("node").arg(&client).args([
        &port.to_string(),
        "joao",
        &s.joao,
    ]));
    assert_eq!(
        got["rows"],
        serde_json::json!([{"municipio": "260055", "habitantes": "2000"}]),
        "{got}"
    );
    assert_eq!(
        got["fields"],
        serde_json::json!(["municipio", "habitantes"])
    );
    assert_eq!(
        got["dated"],
        serde_json::json!(["2024-03-15", "2"]),
        "{got}"
    );
    assert_eq!(got["refused"], "42501", "{got}");
}
