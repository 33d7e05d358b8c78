//! The sharing model's decisions from the command line: categorisations
//! (versioned, personal data kept especial), requests with their deadline,
//! decisions by the provider's steward only, grants and their revocation,
//! every step in the audit trail.

use crate::support::*;
use std::path::Path;

fn as_user(lake: &Path, token: &str, args: &[&str]) -> std::process::Output {
    lagoa_env(lake, args, &[("LAGOA_TOKEN", token)])
}

fn ok_as(lake: &Path, token: &str, args: &[&str]) -> String {
    ok(as_user(lake, token, args), args)
}

fn refused_as(lake: &Path, token: &str, args: &[&str]) -> String {
    let out = as_user(lake, token, args);
    assert!(!out.status.success(), "{args:?} should be refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn requests_are_decided_by_the_providers_steward_and_every_step_is_on_record() {
    let (dir, lake) = new_lake();
    ingest_obitos_especial(dir.path(), &lake);
    let mut tokens = agreement(
        &lake,
        &[
            ("saude", "provider"),
            ("educacao", "consumer"),
            ("seplag", "coordinator"),
        ],
        &[
            ("maria", "saude", "steward"),
            ("sofia", "saude", "steward"),
            ("pedro", "educacao", "steward"),
            ("joao", "educacao", "analyst"),
            ("rita", "seplag", "analyst"),
        ],
    );
    let mut token = |u: &str| tokens.remove(u).unwrap();
    let (maria, sofia, pedro, joao, rita) = (
        token("maria"),
        token("sofia"),
        token("pedro"),
        token("joao"),
        token("rita"),
    );

    // Separation of duties. A steward of another institution cannot make
    // the first categorisation naming her own institution as the provider:
    // with no delivering provider on record, only an admin names it...
    let e = refused_as(
        &lake,
        &pedro,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "educacao",
            "--reason",
            "minha",
        ],
    );
    assert!(
        e.contains("no provider is on record as delivering obitos"),
        "{e}"
    );
    // ...and once the delivering provider is on record (here named by the
    // lake's owner, as a source or `ingest --provider` would), it is the one.
    lagoa_ok(&lake, &["dataset", "provider", "obitos", "saude"]);
    let e = refused_as(
        &lake,
        &pedro,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "educacao",
            "--reason",
            "minha",
        ],
    );
    assert!(e.contains("delivered by saude, not educacao"), "{e}");
    let e = refused_as(
        &lake,
        &pedro,
        &["dataset", "categorise", "obitos", "--reason", "minha"],
    );
    assert!(e.contains("stewards of its provider (saude)"), "{e}");
    let e = lagoa_err(&lake, &["dataset", "provider", "obitos", "educacao"]);
    assert!(e.contains("delivered by institution saude"), "{e}");

    // A decision needs a person.
    let e = lagoa_err(
        &lake,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "saude",
            "--reason",
            "x",
        ],
    );
    assert!(e.contains("--token or LAGOA_TOKEN"), "{e}");
    // Personal columns keep the dataset especial.
    let e = refused_as(
        &lake,
        &maria,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "saude",
            "--level",
            "corporativo",
            "--reason",
            "abrir",
        ],
    );
    assert!(
        e.contains("personal columns (cpf, nome)") && e.contains("stays especial"),
        "{e}"
    );
    ok_as(
        &lake,
        &maria,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "saude",
            "--level",
            "especial",
            "--justification",
            "dados pessoais sensíveis de saúde (LGPD art. 11)",
            "--conditions",
            "uso restrito à vigilância",
            "--reason",
            "primeira categorização",
        ],
    );
    let e = refused_as(
        &lake,
        &pedro,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--conditions",
            "livre",
            "--reason",
            "quero",
        ],
    );
    assert!(e.contains("stewards of its provider (saude)"), "{e}");
    ok_as(
        &lake,
        &maria,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--restrictions",
            "sem exportação",
            "--reason",
            "acordo revisto",
        ],
    );
    let history = lagoa_ok(&lake, &["dataset", "history", "obitos"]);
    assert!(
        history.contains("v1") && history.contains("v2") && history.contains("acordo revisto"),
        "{history}"
    );
    assert!(
        history.contains("uso restrito à vigilância"),
        "conditions carry over to v2: {history}"
    );

    // A consumer asks; the deadline is 30 days out.
    let e = refused_as(
        &lake,
        &joao,
        &[
            "request",
            "file",
            "obitos",
            "--purpose",
            "p",
            "--legal-basis",
            "b",
            "--columns",
            "ano,salario",
        ],
    );
    assert!(e.contains("no column salario"), "{e}");
    let filed = ok_as(
        &lake,
        &joao,
        &[
            "request",
            "file",
            "obitos",
            "--purpose",
            "investigação de óbito infantil",
            "--legal-basis",
            "LGPD art. 11, II, b",
            "--columns",
            "ano,municipio,cpf",
            "--personal",
        ],
    );
    let request_id = word_after(&filed, "request ");
    let listed = lagoa_ok(&lake, &["request", "list"]);
    assert!(
        listed.contains(&request_id) && listed.contains("pending"),
        "{listed}"
    );
    assert!(!lagoa_ok(&lake, &["request", "list", "--overdue"]).contains(&request_id));

    // Nobody decides a request they filed, or one of their own institution.
    let own = ok_as(
        &lake,
        &maria,
        &[
            "request",
            "file",
            "obitos",
            "--purpose",
            "auditoria interna",
            "--legal-basis",
            "LGPD art. 7, III",
            "--personal",
        ],
    );
    let own_id = word_after(&own, "request ");
    for (who, token) in [("maria", &maria), ("sofia", &sofia)] {
        let e = refused_as(
            &lake,
            token,
            &["request", "approve", &own_id, "--reason", "ok"],
        );
        assert!(
            e.contains("nobody decides a request they filed or one of their own institution"),
            "{who}: {e}"
        );
    }

    // Only the provider's steward decides.
    let e = refused_as(
        &lake,
        &pedro,
        &["request", "approve", &request_id, "--reason", "ok"],
    );
    assert!(e.contains("may not decide"), "{e}");
    let e = refused_as(
        &lake,
        &joao,
        &["request", "approve", &request_id, "--reason", "ok"],
    );
    assert!(e.contains("may not decide"), "{e}");
    let approved = ok_as(
        &lake,
        &maria,
        &[
            "request",
            "approve",
            &request_id,
            "--reason",
            "finalidade compatível",
        ],
    );
    let grant_id = word_after(&approved, "grant ");
    let e = refused_as(
        &lake,
        &maria,
        &["request", "deny", &request_id, "--reason", "mudei de ideia"],
    );
    assert!(e.contains("was approved already"), "{e}");
    assert!(
        lagoa_ok(&lake, &["grant", "list"])
            .lines()
            .any(|l| l.contains(&grant_id) && l.contains("live") && l.contains("principal:joao"))
    );

    // Revocation by the steward, with its reason.
    ok_as(
        &lake,
        &maria,
        &[
            "grant",
            "revoke",
            &grant_id,
            "--reason",
            "projeto encerrado",
        ],
    );
    assert!(
        lagoa_ok(&lake, &["grant", "list"])
            .lines()
            .any(|l| l.contains(&grant_id) && l.contains("revoked"))
    );

    // A request nobody decides becomes overdue for the coordinator to see.
    let filed = ok_as(
        &lake,
        &joao,
        &[
            "request",
            "file",
            "obitos",
            "--purpose",
            "painel",
            "--legal-basis",
            "LGPD art. 7, III",
        ],
    );
    let late_id = word_after(&filed, "request ");
    tamper(
        &lake,
        &format!("UPDATE lagoa_request SET deadline_at = deadline_at - 31 * 86400000000 WHERE request_id = '{late_id}'"),
    )
    .await;
    let overdue = ok_as(&lake, &rita, &["request", "list", "--overdue"]);
    assert!(
        overdue.contains(&late_id)
            && overdue.contains("[OVERDUE]")
            && !overdue.contains(&request_id),
        "the coordinator sees what is overdue: {overdue}"
    );

    // Every step, refusals included, is in the intact audit trail.
    let audit = lagoa_ok(&lake, &["audit", "list", "--limit", "200"]);
    for (who, action, outcome) in [
        ("maria", "categorise", "denied"),
        ("maria", "categorise", "ok"),
        ("pedro", "categorise", "denied"),
        ("joao", "request_filed", "ok"),
        ("pedro", "request_approved", "denied"),
        ("maria", "request_approved", "ok"),
        ("maria", "request_approved", "denied"),
        ("sofia", "request_approved", "denied"),
        ("maria", "grant_revoked", "ok"),
    ] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(who) && l.contains(action) && l.contains(outcome)),
            "no {who} {action} {outcome} in:\n{audit}"
        );
    }
    // A decision's record names both people.
    assert!(
        audit.lines().any(|l| l.contains("maria")
            && l.contains("request_approved")
            && l.contains(&format!("{request_id} filed by joao of educacao"))),
        "{audit}"
    );
    assert!(lagoa_ok(&lake, &["audit", "verify"]).contains("intact"));
}

#[test]
fn a_personal_dataset_opens_only_with_its_personal_columns_removed_or_pseudonymised() {
    let (dir, lake) = new_lake();
    ingest_obitos_especial(dir.path(), &lake);
    let mut tokens = agreement(
        &lake,
        &[("saude", "provider"), ("educacao", "consumer")],
        &[
            ("maria", "saude", "steward"),
            ("ana", "educacao", "analyst"),
        ],
    );
    let (maria, ana) = (
        tokens.remove("maria").unwrap(),
        tokens.remove("ana").unwrap(),
    );
    lagoa_ok(&lake, &["dataset", "provider", "obitos", "saude"]);
    let open = |extra: &[&str]| {
        let mut args = vec![
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "saude",
            "--level",
            "corporativo",
            "--reason",
            "abrir para a rede",
        ];
        args.extend_from_slice(extra);
        // The fixture has three people: the bound on a pseudonymised
        // column's distinct values is lowered to what it holds.
        lagoa_env(
            &lake,
            &args,
            &[
                ("LAGOA_TOKEN", &maria),
                ("LAGOA__GOVERNANCE__MIN_PSEUDONYM_DISTINCT", "3"),
            ],
        )
    };
    // Each personal column needs a treatment; a name that is not personal is refused.
    let e = String::from_utf8_lossy(&open(&["--pseudonymise", "cpf"]).stderr).into_owned();
    assert!(
        e.contains("personal columns (nome)") && e.contains("--remove"),
        "{e}"
    );
    let e =
        String::from_utf8_lossy(&open(&["--pseudonymise", "cpf,ano", "--remove", "nome"]).stderr)
            .into_owned();
    assert!(e.contains("obitos.ano is not a personal column"), "{e}");
    ok(
        open(&["--pseudonymise", "cpf", "--remove", "nome"]),
        &["categorise"],
    );
    let history = lagoa_ok(&lake, &["dataset", "history", "obitos"]);
    assert!(
        history.contains("corporativo")
            && history.contains("pseudonymised: [cpf], removed: [nome]"),
        "{history}"
    );

    // An analyst of the agreement reads it: the pseudonym for cpf, no nome.
    let out = ok_as(
        &lake,
        &ana,
        &[
            "query",
            "SELECT * FROM obitos ORDER BY cpf LIMIT 1",
            "--format",
            "csv",
        ],
    );
    let rows = csv_rows(&out);
    assert_eq!(
        out.lines().next(),
        Some("municipio,data_obito,ano,causa_cid,idade,valor,cpf")
    );
    let cpf = rows[0].last().unwrap();
    assert!(cpf.starts_with('p') && cpf.len() == 33, "{cpf}");
    let e = refused_as(&lake, &ana, &["query", "SELECT upper(nome) FROM obitos"]);
    assert!(e.contains("obitos.nome is not available to you"), "{e}");
    // Back to especial: treatments are kept, access needs a grant again.
    ok_as(
        &lake,
        &maria,
        &[
            "dataset",
            "categorise",
            "obitos",
            "--level",
            "especial",
            "--reason",
            "revisão",
        ],
    );
    let e = refused_as(&lake, &ana, &["query", "SELECT count(*) FROM obitos"]);
    assert!(e.contains("read only through a grant"), "{e}");
}

/// Infant deaths with 120 children: 120 CPFs, 6 race/colour codes, birth
/// dates spread over a year, ages in days and death dates in clear.
fn infant_deaths(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("municipio,cpf,racacor,dtnasc,idade,dtobito\n");
    for i in 0..120u32 {
        let born = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()
            + chrono::Duration::days(i64::from(i * 3 % 365));
        let age = 1 + i % 300;
        let died = born + chrono::Duration::days(i64::from(age));
        csv.push_str(&format!(
            "2611606,{:011},{},{born},{age},{died}\n",
            10_000_000_000u64 + u64::from(i) * 7_919,
            1 + i % 6,
        ));
    }
    write_file(dir, "obitos_infantis.csv", &csv)
}

#[test]
fn pseudonyms_that_would_hide_nothing_are_refused_and_generalisation_is_offered() {
    let (dir, lake) = new_lake();
    let tokens = agreement(
        &lake,
        &[("saude", "provider"), ("educacao", "consumer")],
        &[
            ("maria", "saude", "steward"),
            ("ana", "educacao", "analyst"),
        ],
    );
    let file = infant_deaths(dir.path());
    // The contract names the provider (an institution of the agreement) and
    // types the birth date as a date.
    let contract = write_file(
        dir.path(),
        "obitos_infantis.toml",
        r#"[dataset]
name = "obitos_infantis"
provider = "saude"
level = "especial"

[[columns]]
name = "municipio"
type = "string"

[[columns]]
name = "cpf"
type = "string"
personal = "pessoal"

[[columns]]
name = "racacor"
type = "string"
personal = "sensivel"

[[columns]]
name = "dtnasc"
type = "date"
personal = "pessoal"

[[columns]]
name = "idade"
type = "integer"

[[columns]]
name = "dtobito"
type = "date"
"#,
    );
    ingest(
        &lake,
        &file,
        "obitos_infantis",
        &["--contract", contract.to_str().unwrap()],
    );
    let categorise = |extra: &[&str]| {
        let mut args = vec![
            "dataset",
            "categorise",
            "obitos_infantis",
            "--level",
            "corporativo",
            "--reason",
            "painel da rede",
        ];
        args.extend_from_slice(extra);
        as_user(&lake, &tokens["maria"], &args)
    };
    // Six codes: six pseudonyms, matched by frequency. Refused, with the way out.
    let out = categorise(&["--pseudonymise", "cpf,racacor,dtnasc"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("obitos_infantis.racacor has 6 distinct values")
            && e.contains("cannot be pseudonymised")
            && e.contains("--generalise"),
        "{e}"
    );
    // A generalisation must fit the column.
    let out = categorise(&[
        "--pseudonymise",
        "cpf",
        "--remove",
        "racacor",
        "--generalise",
        "dtnasc=band:10",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the generalisation band:10 is for numbers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The birth date by month: accepted, with a warning that age and death
    // date, in clear, give it back.
    let out = categorise(&[
        "--pseudonymise",
        "cpf",
        "--remove",
        "racacor",
        "--generalise",
        "dtnasc=month",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.contains("dtnasc (a birth date) is treated, but idade and dtobito stay in clear"),
        "{warned}"
    );
    let history = lagoa_ok(&lake, &["dataset", "history", "obitos_infantis"]);
    assert!(history.contains("generalised: [dtnasc=month]"), "{history}");
    let trail = lagoa_ok(&lake, &["audit", "list", "--limit", "3"]);
    assert!(trail.contains("warning: dtnasc (a birth date)"), "{trail}");

    // The analyst sees months, never a day of birth; no race/colour code.
    let out = ok_as(
        &lake,
        &tokens["ana"],
        &[
            "query",
            "SELECT dtnasc, count(*) AS n FROM obitos_infantis GROUP BY dtnasc ORDER BY dtnasc",
            "--format",
            "csv",
        ],
    );
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 12, "{out}");
    assert!(rows.iter().all(|r| r[0].ends_with("-01")), "{out}");
    let e = refused_as(
        &lake,
        &tokens["ana"],
        &["query", "SELECT racacor FROM obitos_infantis"],
    );
    assert!(
        e.contains("obitos_infantis.racacor is not available to you"),
        "{e}"
    );
    // Filtering on a day finds nothing: the filter sees the month too.
    let out = ok_as(
        &lake,
        &tokens["ana"],
        &[
            "query",
            "SELECT count(*) AS n FROM obitos_infantis WHERE dtnasc = DATE '2023-01-04'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&out)[0][0], "0", "{out}");
}
