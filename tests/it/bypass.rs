//! Attempts that must fail: a table of ways an analyst might try to read
//! what the sharing model keeps from them, each run through `lagoa query
//! --token`, each denied with its reason and on the audit trail. And the
//! personal-data key withheld from a session whose grants do not give it,
//! even to a plan built by hand.

use crate::support::*;
use std::path::Path;

fn query_as(lake: &Path, token: &str, purpose: Option<&str>, sql: &str) -> std::process::Output {
    query_in(lake, &[], (token, purpose, sql))
}

pub struct People {
    pub carla: String,
    pub maria: String,
    pub joao: String,
    pub ana: String,
    pub op: String,
}

pub const PURPOSE: &str = "investigação de óbito infantil";

/// Who asks, with which purpose, what SQL, and the CSV header expected or
/// part of the refusal.
pub type Case<'a> = (&'a str, Option<&'a str>, &'a str, Result<&'a str, &'a str>);

pub fn setup(dir: &Path, lake: &Path) -> People {
    ingest_obitos_especial(dir, lake);
    ingest_populacao_amplo(dir, lake);
    let escolas = write_file(dir, "escolas.csv", "municipio,escolas\n260005,12\n");
    ingest(lake, &escolas, "escolas", &["--level", "corporativo"]);
    let mut tokens = agreement(
        lake,
        &[
            ("saude", "provider"),
            ("educ", "consumer"),
            ("seplag", "coordinator"),
        ],
        &[
            ("maria", "saude", "steward"),
            ("joao", "educ", "analyst"),
            ("ana", "educ", "analyst"),
            ("op", "educ", "operator"),
            ("carla", "seplag", "analyst"),
        ],
    );
    let mut token = |u: &str| tokens.remove(u).unwrap();
    let people = People {
        carla: token("carla"),
        maria: token("maria"),
        joao: token("joao"),
        ana: token("ana"),
        op: token("op"),
    };
    grant_through_request(
        lake,
        &people.maria,
        &people.joao,
        "obitos",
        "saude",
        PURPOSE,
        &["--columns", "ano,municipio,cpf", "--personal"],
    );
    // A second especial dataset, granted to joao for another purpose.
    let nascidos = write_file(
        dir,
        "nascidos.csv",
        "municipio,ano,consultas\n260005,2024,7\n260055,2024,3\n",
    );
    ingest(lake, &nascidos, "nascidos", &["--level", "especial"]);
    grant_through_request(
        lake,
        &people.maria,
        &people.joao,
        "nascidos",
        "saude",
        OTHER_PURPOSE,
        &[],
    );
    people
}

const OTHER_PURPOSE: &str = "avaliação do pré-natal";

/// The steward (`token`) revokes the grant on `dataset`.
fn revoke_grant_on(lake: &Path, token: &str, dataset: &str) {
    let grants = lagoa_ok(lake, &["grant", "list"]);
    let grant = grants
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(dataset))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no grant on {dataset}: {grants}"))
        .to_owned();
    ok(
        lagoa_env(
            lake,
            &["grant", "revoke", &grant, "--reason", "fim"],
            &[("LAGOA_TOKEN", token)],
        ),
        &["grant", "revoke"],
    );
}

/// A statement over the guard's length limit.
pub fn long_statement() -> String {
    format!("SELECT 1 {}", " ".repeat(70 * 1024))
}

/// The attempts and the allowed reads, with what each must give.
pub fn cases<'a>(p: &'a People, long: &'a str) -> Vec<Case<'a>> {
    vec![
        (
            &p.ana,
            None,
            "SELECT count(*) FROM obitos",
            Err("especial: it is read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "WITH x AS (SELECT * FROM obitos) SELECT count(*) FROM x",
            Err("read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM (SELECT cpf FROM obitos) s",
            Err("read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "SELECT p.habitantes FROM populacao p JOIN obitos o ON p.municipio = o.municipio",
            Err("read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "SELECT table_name, column_name FROM information_schema.columns",
            Ok("table_name,column_name"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM system.files",
            Err("system schema"),
        ),
        (
            &p.ana,
            None,
            "CREATE VIEW v AS SELECT * FROM obitos",
            Err("not allowed"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM 'store/obitos/x.parquet'",
            Err("reading files"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM read_parquet('store/obitos/x.parquet')",
            Err("table functions"),
        ),
        (
            &p.ana,
            None,
            "SELECT 1; SELECT 2",
            Err("one statement at a time"),
        ),
        (&p.ana, None, long, Err("the limit is 65536")),
        (
            &p.ana,
            None,
            "SELECT count(*) FROM public.obitos",
            Err("read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "SELECT count(*) FROM datafusion.public.obitos",
            Err("read only through a grant"),
        ),
        (
            &p.ana,
            None,
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM obitos)",
            Err("read only through a grant"),
        ),
        (
            &p.op,
            None,
            "SELECT * FROM escolas",
            Err("operators run ingestion and read only amplo data"),
        ),
        (
            &p.joao,
            Some(OTHER_PURPOSE),
            "SELECT ano FROM obitos",
            Err("no live grant of yours is for the purpose"),
        ),
        (
            &p.joao,
            None,
            "SELECT ano FROM obitos",
            Err("declare the purpose"),
        ),
        (
            &p.joao,
            Some("pesquisa acadêmica"),
            "SELECT ano FROM obitos",
            Err("no live grant of yours is for the purpose"),
        ),
        (
            &p.joao,
            Some(PURPOSE),
            "SELECT nome FROM obitos",
            Err("obitos.nome is not available to you"),
        ),
        (
            &p.joao,
            Some(PURPOSE),
            "SELECT upper(nome) FROM obitos",
            Err("obitos.nome is not available to you"),
        ),
        (
            &p.joao,
            Some(PURPOSE),
            "SELECT CAST(causa_cid AS VARCHAR) FROM obitos",
            Err("obitos.causa_cid is not available to you"),
        ),
        // The coordinator reads the audit trail; others may not.
        (
            &p.ana,
            None,
            "SELECT count(*) FROM system.audit",
            Err("system schema"),
        ),
        (
            &p.carla,
            None,
            "SELECT count(*) > 0 AS refusals FROM system.audit WHERE outcome = 'denied' AND action = 'query'",
            Ok("refusals"),
        ),
        // What is allowed, and only that.
        (
            &p.joao,
            Some(PURPOSE),
            "SELECT * FROM obitos LIMIT 1",
            Ok("municipio,ano,cpf"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM populacao ORDER BY municipio",
            Ok("municipio,ano,habitantes"),
        ),
        (
            &p.ana,
            None,
            "SELECT * FROM escolas",
            Ok("municipio,escolas"),
        ),
        (
            &p.op,
            None,
            "SELECT * FROM populacao ORDER BY municipio",
            Ok("municipio,ano,habitantes"),
        ),
        (
            &p.joao,
            Some(OTHER_PURPOSE),
            "SELECT * FROM nascidos ORDER BY municipio",
            Ok("municipio,ano,consultas"),
        ),
    ]
}

pub fn query_in(
    lake: &Path,
    env: &[(&str, &str)],
    (token, purpose, sql): (&str, Option<&str>, &str),
) -> std::process::Output {
    let mut args = vec!["query", sql, "--format", "csv"];
    if let Some(p) = purpose {
        args.extend(["--purpose", p]);
    }
    let mut env = env.to_vec();
    env.push(("LAGOA_TOKEN", token));
    lagoa_env(lake, &args, &env)
}

/// Runs `cases` through `lagoa query` with `env`, checking each answer or
/// refusal and its audit entry; returns how many were refused.
pub fn run_cases(lake: &Path, cases: &[Case], env: &[(&str, &str)]) -> usize {
    let mut denied = 0;
    for (i, (who, purpose, sql, expected)) in cases.iter().enumerate() {
        let out = query_in(lake, env, (who, *purpose, sql));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        match expected {
            Ok(header) => {
                assert!(
                    out.status.success(),
                    "case {i} ({sql:.60}) failed: {stderr}"
                );
                assert_eq!(stdout.lines().next(), Some(*header), "case {i}");
            }
            Err(reason) => {
                denied += 1;
                assert!(
                    !out.status.success(),
                    "case {i} ({sql:.60}) passed:\n{stdout}"
                );
                assert!(stderr.contains(reason), "case {i} ({sql:.60}): {stderr}");
                assert!(stdout.is_empty(), "case {i}: nothing is returned");
            }
        }
        // Each attempt is on record, with its outcome and, if refused, why.
        let entry = last_audit(lake);
        assert_eq!(entry["action"], "query", "case {i}: {entry}");
        match expected {
            Ok(_) => assert_eq!(entry["outcome"], "ok", "case {i}: {entry}"),
            Err(reason) => {
                assert_eq!(entry["outcome"], "denied", "case {i}: {entry}");
                assert!(
                    entry["reason"].as_str().is_some_and(|r| r.contains(reason)),
                    "case {i}: {entry}"
                );
            }
        }
    }

    denied
}

/// The newest entry of the audit trail.
#[test]
fn attempts_to_read_what_the_sharing_model_withholds_are_denied_and_audited() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let long = long_statement();
    let denied = run_cases(&lake, &cases(&p, &long), &[]);
    // What was read is recorded from the plan, however the statement names it.
    for sql in [
        "SELECT count(*) FROM public.obitos",
        "WITH populacao AS (SELECT ano FROM obitos) SELECT count(*) FROM populacao",
        "SELECT (SELECT count(*) FROM obitos) AS n",
    ] {
        ok(query_as(&lake, &p.joao, Some(PURPOSE), sql), &["query"]);
        let entry = last_audit(&lake);
        assert_eq!(
            entry["datasets"],
            serde_json::json!(["obitos"]),
            "{sql}: {entry}"
        );
        assert!(
            !entry["grants"].as_array().unwrap().is_empty(),
            "{sql}: {entry}"
        );
    }

    // SHOW and DESCRIBE show a reader its own tables and columns, no more.
    let tables = ok(query_as(&lake, &p.ana, None, "SHOW TABLES"), &["query"]);
    assert!(
        tables.contains("populacao") && tables.contains("escolas"),
        "{tables}"
    );
    assert!(
        !tables.contains("obitos") && !tables.contains("nascidos"),
        "{tables}"
    );
    let columns = ok(
        query_as(&lake, &p.joao, Some(PURPOSE), "SHOW COLUMNS FROM obitos"),
        &["query"],
    );
    assert!(
        columns.contains("cpf") && columns.contains("municipio"),
        "{columns}"
    );
    assert!(!columns.contains("nome"), "{columns}");
    let out = query_as(&lake, &p.ana, None, "DESCRIBE obitos");
    assert!(
        !out.status.success(),
        "DESCRIBE of a table one may not read"
    );
    assert!(out.stdout.is_empty());

    // The coordinator's view of the trail holds the refusals just made.
    let trail = ok(
        query_as(
            &lake,
            &p.carla,
            None,
            "SELECT count(*) AS n FROM system.audit WHERE outcome = 'denied' AND reason LIKE '%read only through a grant%'",
        ),
        &["query"],
    );
    assert!(
        trail
            .lines()
            .nth(1)
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n >= 4),
        "{trail}"
    );

    // The granted personal column comes in clear, and only for its rows.
    let out = ok(
        query_as(
            &lake,
            &p.joao,
            Some(PURPOSE),
            "SELECT cpf FROM obitos ORDER BY cpf LIMIT 1",
        ),
        &["query"],
    );
    assert!(
        out.lines().nth(1).is_some_and(|cpf| cpf.len() >= 11),
        "{out}"
    );

    // Revocation takes effect on the next query; so does expiry.
    revoke_grant_on(&lake, &p.maria, "obitos");
    let out = query_as(&lake, &p.joao, Some(PURPOSE), "SELECT ano FROM obitos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read only through a grant"), "{stderr}");
    let filed = ok(
        lagoa_env(
            &lake,
            &[
                "request",
                "file",
                "obitos",
                "--purpose",
                PURPOSE,
                "--legal-basis",
                "b",
                "--until",
                "2020-01-01",
            ],
            &[("LAGOA_TOKEN", &p.joao)],
        ),
        &["request", "file"],
    );
    ok(
        lagoa_env(
            &lake,
            &[
                "request",
                "approve",
                &word_after(&filed, "request "),
                "--reason",
                "ok",
            ],
            &[("LAGOA_TOKEN", &p.maria)],
        ),
        &["approve"],
    );
    let out = query_as(&lake, &p.joao, Some(PURPOSE), "SELECT ano FROM obitos");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read only through a grant"),
        "an expired grant is no grant"
    );

    // Tokens revoked, forged or of a disabled principal.
    let listed = lagoa_ok(&lake, &["token", "list", "--principal", "ana"]);
    let ana_token_id = first_id(&listed);
    let forged = forged(&p.ana);
    let out = query_as(&lake, &forged, None, "SELECT * FROM populacao");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown token"));
    lagoa_ok(&lake, &["token", "revoke", &ana_token_id]);
    let out = query_as(&lake, &p.ana, None, "SELECT * FROM populacao");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was revoked"));
    lagoa_ok(&lake, &["user", "disable", "op"]);
    let out = query_as(&lake, &p.op, None, "SELECT 1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"));
    let short = lagoa_ok(&lake, &["token", "create", "carla", "--expires-days", "1"]);
    expire_tokens_of(&lake, "carla");
    let out = query_as(&lake, short.trim(), None, "SELECT * FROM populacao");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    // Every query is on record with its outcome and reason; no token, no value.
    let audit: Vec<serde_json::Value> =
        lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1000"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let queries: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|r| r["entry"]["action"] == "query")
        .collect();
    let refusals = queries
        .iter()
        .filter(|r| r["entry"]["outcome"] == "denied")
        .count();
    // The table's denials, the revoked and expired grants, and the four
    // refused tokens.
    assert!(
        refusals >= denied + 6,
        "{refusals} denials recorded for {denied} denied cases"
    );
    assert!(queries.iter().any(|r| {
        r["entry"]["principal"] == "joao"
            && r["entry"]["outcome"] == "ok"
            && r["entry"]["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "obitos.cpf")
            && !r["entry"]["grants"].as_array().unwrap().is_empty()
    }));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains(&p.joao) && !text.contains("MARIA DA SILVA"),
        "no token or value in the audit trail"
    );
    assert!(lagoa_ok(&lake, &["audit", "verify"]).contains("intact"));
}

#[tokio::test]
async fn a_session_without_the_grant_cannot_decrypt_personal_columns_even_by_hand() {
    let (dir, lake_dir) = new_lake();
    ingest_obitos_especial(dir.path(), &lake_dir);
    let lake = lagoa_lake::Lake::open(&lake_dir).await.unwrap();
    let (info, files) = dataset_and_files(&lake, "obitos").await;
    // The table provider itself, not a view: any column can be asked for.
    let table = lagoa_lake::table::LakeTable::new(
        info,
        files,
        lagoa_sql::session::crypto_without_personal_keys(&lake),
        std::sync::Arc::clone(&lake.store.store),
    )
    .unwrap();
    let ctx = lagoa_lake::session::new_context(&lake, false).unwrap();
    ctx.register_table("t", std::sync::Arc::new(table)).unwrap();
    let rows = ctx
        .sql("SELECT count(ano) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows[0].num_rows(), 1, "ordinary columns decrypt");
    let e = match ctx.sql("SELECT cpf FROM t").await.unwrap().collect().await {
        Ok(_) => panic!("a personal column was decrypted without its key"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("not released to this session"), "{e}");
}

#[test]
fn providers_see_who_read_their_datasets_for_which_purpose() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    for sql in [
        "SELECT ano FROM obitos LIMIT 3",
        "SELECT count(*) FROM obitos",
    ] {
        ok(query_as(&lake, &p.joao, Some(PURPOSE), sql), &["query"]);
    }
    ok(
        query_as(&lake, &p.ana, None, "SELECT * FROM populacao"),
        &["query"],
    );
    // A refused query is not consumption.
    assert!(
        !query_as(&lake, &p.ana, None, "SELECT * FROM obitos")
            .status
            .success()
    );
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::Sao_Paulo)
        .format("%Y-%m")
        .to_string();
    let args = [
        "report",
        "consumption",
        "--provider",
        "saude",
        "--month",
        &month,
        "--format",
        "json",
    ];
    let report = ok(lagoa_env(&lake, &args, &[("LAGOA_TOKEN", &p.maria)]), &args);
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{report}");
    let l = &lines[0];
    assert_eq!(
        (
            l["institution"].as_str(),
            l["dataset"].as_str(),
            l["purpose"].as_str()
        ),
        (Some("educ"), Some("obitos"), Some(PURPOSE))
    );
    assert_eq!(
        (l["queries"].as_i64(), l["rows"].as_i64()),
        (Some(2), Some(4))
    );
    assert_eq!(l["principals"], serde_json::json!(["joao"]));
    // Another month is empty; an analyst may not see it.
    let text = ok(
        lagoa_env(
            &lake,
            &[
                "report",
                "consumption",
                "--provider",
                "saude",
                "--month",
                "2020-01",
            ],
            &[("LAGOA_TOKEN", &p.maria)],
        ),
        &["report"],
    );
    assert!(text.contains("no query read these datasets"), "{text}");
    let out = lagoa_env(&lake, &args, &[("LAGOA_TOKEN", &p.ana)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("may not see saude's consumption"));
}

/// Moves the expiry of `principal`'s tokens into the past, as time would.
fn expire_tokens_of(lake: &Path, principal: &str) {
    let sql = format!(
        "UPDATE lagoa_token SET expires_at = 1 WHERE principal = '{principal}' AND expires_at IS NOT NULL"
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(tamper(lake, &sql));
}

#[test]
fn the_limits_of_a_governed_query_end_it_clearly_and_are_audited() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    // (setting, value, sql, part of the refusal, audited outcome)
    let cases = [
        (
            "LAGOA__QUERY__MAX_ROWS",
            "1",
            "SELECT * FROM populacao",
            "more than 1 rows",
            "error",
        ),
        (
            "LAGOA__QUERY__TIMEOUT_SECONDS",
            "1",
            "SELECT count(*) FROM (SELECT unnest(range(1, 100000)) AS a) x, (SELECT unnest(range(1, 100000)) AS b) y",
            "ran longer than 1s",
            "timeout",
        ),
        (
            "LAGOA__QUERY__MEMORY_LIMIT",
            "2MiB",
            "SELECT count(DISTINCT x) FROM (SELECT unnest(range(1, 3000000)) AS x) t",
            "needs more memory than query.memory_limit (2MiB)",
            "error",
        ),
    ];
    for (setting, value, sql, refusal, outcome) in cases {
        let out = lagoa_env(
            &lake,
            &["query", sql, "--format", "csv"],
            &[("LAGOA_TOKEN", &p.ana), (setting, value)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{setting}: the query passed");
        assert!(stderr.contains(refusal), "{setting}: {stderr}");
        assert!(out.stdout.is_empty(), "{setting}: nothing is returned");
        let entry = last_audit(&lake);
        assert_eq!(entry["outcome"], outcome, "{setting}: {entry}");
        assert!(
            entry["reason"]
                .as_str()
                .is_some_and(|r| r.contains(refusal)),
            "{setting}: {entry}"
        );
    }
}

/// Time travel for analysts: the data as it was at an earlier moment, on
/// the CLI and over HTTP, under the policy in force now (a grant revoked
/// since is not honoured in the past either), and on the record.
#[tokio::test]
async fn an_analyst_reads_an_earlier_state_under_the_policy_in_force_now() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let then = populacao_grows(dir.path(), &lake);

    let count = |as_of: Option<&str>, dataset: &str, purpose: Option<&str>| {
        let sql = format!("SELECT count(*) AS n FROM {dataset}");
        let mut args = vec!["query", &sql, "--format", "csv"];
        if let Some(a) = as_of {
            args.extend(["--as-of", a]);
        }
        if let Some(p) = purpose {
            args.extend(["--purpose", p]);
        }
        lagoa_env(&lake, &args, &[("LAGOA_TOKEN", p.joao.as_str())])
    };
    let rows = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        csv_rows(&String::from_utf8_lossy(&out.stdout))
    };
    assert_eq!(rows(count(None, "populacao", None)), vec![vec!["3"]]);
    assert_eq!(rows(count(Some(&then), "populacao", None)), vec![vec!["2"]]);
    let entry = last_audit(&lake);
    assert!(
        entry["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("as of snapshot ")),
        "the record says which state was read: {entry}"
    );
    assert_eq!(
        rows(count(Some(&then), "obitos", Some(PURPOSE))),
        vec![vec!["6"]]
    );

    // Over HTTP, the same state.
    let (_server, base) = serve(&lake, None);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let ask = |body: serde_json::Value| {
        http.post(format!("{base}/api/v1/query?format=csv"))
            .bearer_auth(&p.joao)
            .json(&body)
            .send()
    };
    let answer =
        ask(serde_json::json!({ "sql": "SELECT count(*) AS n FROM populacao", "as_of": then }))
            .await
            .unwrap();
    assert!(answer.status().is_success());
    assert_eq!(csv_rows(&answer.text().await.unwrap()), vec![vec!["2"]]);
    let answer = ask(serde_json::json!({ "sql": "SELECT 1", "as_of": "ontem" }))
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);

    // The grant is revoked now: the past is closed to joao too.
    revoke_grant_on(&lake, &p.maria, "obitos");
    let out = count(Some(&then), "obitos", Some(PURPOSE));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read only through a grant"), "{stderr}");
}

/// The catalogs a BI tool browses (`information_schema`, PostgreSQL's
/// `pg_catalog`) are built from the reader's own session: a dataset without
/// a grant is not there, not even its name, and of a granted dataset only
/// the columns the grant gives; statistics reveal nothing of the lake.
#[test]
fn the_catalogs_list_only_what_the_reader_may_read() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let names = |token: &str, purpose: Option<&str>, sql: &str| -> Vec<String> {
        let out = query_as(&lake, token, purpose, sql);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        csv_rows(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .map(|r| r.join("."))
            .collect()
    };
    let tables = "SELECT table_name FROM information_schema.tables \
                  WHERE table_schema = 'public' ORDER BY table_name";
    let pg_tables = "SELECT c.relname FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
                     WHERE n.nspname = 'public' ORDER BY c.relname";
    let columns = |dataset: &str| {
        format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_name = '{dataset}' ORDER BY column_name"
        )
    };
    let attributes = |dataset: &str| {
        format!(
            "SELECT a.attname FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
             WHERE c.relname = '{dataset}' AND a.attnum > 0 ORDER BY a.attname"
        )
    };
    // ana holds no grant on obitos: it is nowhere in her catalogs.
    for sql in [tables, pg_tables] {
        let seen = names(&p.ana, None, sql);
        assert!(seen.contains(&"populacao".to_owned()), "{sql}: {seen:?}");
        assert!(
            !seen.iter().any(|t| t == "obitos" || t == "nascidos"),
            "{sql}: {seen:?}"
        );
    }
    assert!(names(&p.ana, None, &columns("obitos")).is_empty());
    assert!(names(&p.ana, None, &attributes("obitos")).is_empty());
    // joao's grant gives ano, municipio and cpf (under its purpose): those,
    // and not nome or idade.
    let granted = vec!["ano".to_owned(), "cpf".into(), "municipio".into()];
    assert_eq!(names(&p.joao, Some(PURPOSE), &columns("obitos")), granted);
    assert_eq!(
        names(&p.joao, Some(PURPOSE), &attributes("obitos")),
        granted
    );
    // Statistics: nothing of the lake's tables (the rows there are
    // PostgreSQL's own system catalogs', below the first user OID).
    let stats = names(
        &p.joao,
        Some(PURPOSE),
        "SELECT count(*) FROM pg_catalog.pg_statistic WHERE starelid >= 16384",
    );
    assert_eq!(stats, vec!["0".to_owned()], "{stats:?}");
    // Browsing the catalog is on the record as a query, not a denial.
    let entry = last_audit(&lake);
    assert_eq!(entry["outcome"], "ok", "{entry}");
}
