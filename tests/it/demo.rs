//! The README's main command, `lagoa demo run`: a generated state taken in
//! by its sources, categorised, granted, its indicators computed; every
//! indicator then checked against an independent recomputation from the
//! raw deliveries, and shown by the console and the HTTP API. And the same
//! state with its vaccination in an e-SUS-like PostgreSQL database.

use crate::support::*;
use std::path::Path;

const INDICATORS: &[&str] = &[
    "abandono_escolar",
    "cobertura_vacinal",
    "distorcao_idade_serie",
    "homicidios",
    "mortalidade_infantil",
    "mortes_violentas_intencionais",
    "pre_natal_7_consultas",
];

/// The state the demo test runs on.
const STATE: [&str; 8] = [
    "demo",
    "run",
    "--municipalities",
    "6",
    "--years",
    "2022-2024",
    "--seed",
    "11",
];

fn tokens(lake: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(lake.join("demo-tokens.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[3].to_owned())
        })
        .collect()
}

fn export(lake: &Path, out: &Path) {
    export_all(lake, out, INDICATORS);
}

/// The independent recomputation and attacker over the tables exported to
/// `published` (DuckDB and scipy, not Lagoa's code).
fn recompute(
    python: &Path,
    lake: &Path,
    published: &Path,
    definitions: &Path,
) -> std::process::Command {
    let mut check = std::process::Command::new(python);
    check
        .arg(repo_root().join("tests/py/recompute_indicators.py"))
        .arg("--deliveries")
        .arg(lake.join("entregas"))
        .arg("--published")
        .arg(published)
        .arg("--definitions")
        .arg(definitions);
    check
}

/// Each of `names`' published table as `ind_<name>.csv` in `out`.
fn export_all(lake: &Path, out: &Path, names: &[&str]) {
    std::fs::create_dir_all(out).unwrap();
    for name in names {
        let file = out.join(format!("ind_{name}.csv"));
        lagoa_ok(
            lake,
            &[
                "query",
                &format!("SELECT * FROM ind_{name}"),
                "--format",
                "csv",
                "--output",
                file.to_str().unwrap(),
            ],
        );
    }
}

#[tokio::test]
async fn the_demo_tells_the_whole_story_and_an_independent_recomputation_agrees() {
    let Some(python) = python() else {
        skip(
            "demo",
            "the Python virtualenv is missing (scripts/bootstrap)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = lagoa_ok(&lake, &STATE);
    for part in [
        "6 municipalities of Pernambuco (PE), 2022-2024",
        "ses_sim",
        "==> summary",
        "Taxa de mortalidade infantil",
        "Sign in as ana (admin)",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    assert_eq!(out.matches(": committed, 18 cells").count(), 7, "{out}");

    // Independent recomputation from the raw files (DuckDB, not Lagoa's SQL).
    let published = dir.path().join("published");
    export(&lake, &published);
    let check = recompute(
        &python,
        &lake,
        &published,
        &repo_root().join("sql/indicators"),
    )
    .output()
    .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "the recomputation disagrees:\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for name in INDICATORS {
        assert!(report.contains(name), "{name} was not checked: {report}");
    }
    println!("{report}");
    assert!(
        report.contains("narrowest range an attacker reaches"),
        "the attacker ran: {report}"
    );

    // Running it again takes nothing twice and publishes nothing new.
    let again = lagoa_ok(&lake, &STATE);
    assert_eq!(again.matches(": unchanged").count(), 7, "{again}");

    // The console and the API show the indicators to a signed-in analyst.
    let people = tokens(&lake);
    let (_server, base) = serve(&lake, None);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let get = |path: &str, who: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(&people[who])
            .send()
    };
    let list: serde_json::Value = get("/api/v1/indicators", "lucia")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), INDICATORS.len(), "{list}");
    // How many withheld cells were small is not public: with one label for
    // all it would tell which are.
    for indicator in list.as_array().unwrap() {
        let run = &indicator["last_run"];
        assert!(
            run["withheld"].is_i64() && run.get("suppressed_primary").is_none(),
            "{run}"
        );
    }
    let csv = get(
        "/api/v1/indicators/mortalidade_infantil/values?format=csv&ano=2024",
        "lucia",
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        csv.starts_with("municipio,nome,ano,numerador,denominador,valor,supressao,total_estado\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 6 + 1, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",2024,")), "{csv}");
    // Municipalities are named from IBGE's table (the state total has no name).
    let names: Vec<String> = csv_rows(&csv)
        .into_iter()
        .filter(|r| r[7] == "false")
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(names.len(), 6, "{csv}");
    assert!(names.iter().all(|n| !n.is_empty()), "unnamed: {csv}");
    let page = get("/indicators/mortalidade_infantil", "lucia")
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for part in [
        "id=\"ranking\"",
        "id=\"series-chart\"",
        "id=\"formula\"",
        "sim_obitos",
        "valores.csv",
        "Total do estado",
        // What was withheld, and how narrow an attacker can get.
        "id=\"protection\"",
        "a menor faixa que um atacante",
    ] {
        assert!(html.contains(part), "{part} not on the page");
    }
    assert!(
        names.iter().all(|n| html.contains(&format!(">{n}</a>"))),
        "the ranking names its municipalities"
    );
    // A published table has a categorisation of its own (the office is its
    // provider), and the datasets the sources delivered name theirs.
    let history = lagoa_ok(&lake, &["dataset", "history", "ind_mortalidade_infantil"]);
    assert!(
        history.contains("amplo") && history.contains("provider seplag"),
        "{history}"
    );
    let history = lagoa_ok(&lake, &["dataset", "history", "sim_obitos"]);
    assert!(history.contains("provider ses"), "{history}");
    // Suppressed cells are marked.
    let suppressed = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM ind_mortalidade_infantil WHERE supressao IS NOT NULL",
            "--format",
            "csv",
        ],
    );
    if csv_rows(&suppressed)[0][0] != "0" {
        assert!(
            html.contains("data-suppressed=\"suprimido\""),
            "suppressed cells are marked, one label for every reason"
        );
    }
    let download = get("/indicators/homicidios/valores.json", "otavio")
        .await
        .unwrap();
    assert_eq!(
        download.status(),
        200,
        "amplo indicators are for every principal"
    );
    let values: Vec<serde_json::Value> = download.json().await.unwrap();
    assert!(
        values
            .iter()
            .any(|v| v["total_estado"] == true && v["valor"].is_number())
    );

    // The analyst's grant: deaths for one purpose, CPFs only as pseudonyms.
    let out = lagoa_env(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n, count(DISTINCT cpf) AS pessoas, min(cpf) AS um FROM sim_obitos",
            "--format",
            "csv",
            "--purpose",
            "vigilância do óbito infantil",
        ],
        &[("LAGOA_TOKEN", &people["lucia"])],
    );
    let text = ok(out, &["query"]);
    let row = &csv_rows(&text)[0];
    assert!(row[0].parse::<i64>().unwrap() > 1000, "{text}");
    assert!(
        row[2].starts_with('p') && row[2].len() == 33,
        "a pseudonym, not a CPF: {text}"
    );

    // Every view, export and run is in the intact audit trail.
    let audit = lagoa_ok(&lake, &["audit", "list", "--limit", "500"]);
    for action in [
        "indicator_run",
        "indicator_export",
        "indicator_view",
        "categorise",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
    assert!(lagoa_ok(&lake, &["audit", "verify"]).contains("intact"));
    // Nothing in the store is readable: no name of the generated people.
    for path in all_files(&lake.join("store")) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes
                .windows(8)
                .any(|w| w == b"Severino" || w == b"Gon\xe7alve"),
            "{} holds a name in clear",
            path.display()
        );
    }
}

#[tokio::test]
async fn vaccination_from_an_esus_database_gives_the_same_coverage_as_the_files() {
    let Some(pg) = postgres("demo_esus").await else {
        return;
    };
    let args = [
        "--municipalities",
        "3",
        "--years",
        "2023-2024",
        "--seed",
        "5",
    ];
    let dir = tempfile::tempdir().unwrap();
    let (files_lake, esus_lake) = (dir.path().join("files"), dir.path().join("esus"));
    let mut run = vec!["demo", "run"];
    run.extend_from_slice(&args);
    lagoa_ok(&files_lake, &run);
    run.extend_from_slice(&["--esus-postgres", &pg.url]);
    let out = lagoa_ok(&esus_lake, &run);
    assert!(out.contains("e-SUS database (schema esus)"), "{out}");
    assert!(
        esus_lake
            .join("sources/esus_vacinacao.source.toml")
            .exists()
    );
    let coverage = |lake: &Path| {
        lagoa_ok(
            lake,
            &[
                "query",
                "SELECT municipio, ano, numerador, denominador, valor, supressao FROM ind_cobertura_vacinal ORDER BY 1, 2",
                "--format",
                "csv",
            ],
        )
    };
    assert_eq!(coverage(&files_lake), coverage(&esus_lake));
    let rows = |lake: &Path| {
        lagoa_ok(
            lake,
            &[
                "query",
                "SELECT count(*) FROM pni_vacinacao",
                "--format",
                "csv",
            ],
        )
    };
    assert_eq!(rows(&files_lake), rows(&esus_lake));
    // The database source is incremental: a second run finds nothing new.
    lagoa_ok(&esus_lake, &["run", "esus_vacinacao"]);
    let runs = source_runs(&esus_lake, &[], "esus_vacinacao");
    assert_eq!(runs.last().unwrap()["status"], "empty", "{runs:?}");
}

/// Indicators linked to the reference set, added by the test: infant
/// deaths again with a lower minimum (3: counts of 3 and 4 the reference
/// withholds would be published on their own), live births again without
/// a minimum (every birth count would be), and infant mortality again
/// over two-year periods (2022–2023 and 2023–2024 overlap each other and
/// every year the reference publishes).
const LINKED: [(&str, &str, &str, &str); 3] = [
    (
        "obitos_infantis_minimo_3",
        "mortalidade_infantil",
        "-- min_cell: 5",
        "-- min_cell: 3",
    ),
    (
        "pre_natal_sem_minimo",
        "pre_natal_7_consultas",
        "-- min_cell: 5",
        "-- min_cell: 0",
    ),
    (
        "mortalidade_infantil_bienal",
        "mortalidade_infantil",
        "-- min_cell: 5",
        "-- min_cell: 5\n-- period: 2",
    ),
];

/// A test indicator whose counts are sums of named counts, one of them
/// published by other indicators (`tests/indicators/`).
const PERINATAL: &str = "mortalidade_perinatal";

/// Publishes the reference indicators, the linked ones and perinatal
/// mortality for a generated state, and runs the independent attacker on
/// everything published: the withheld small counts it bounded.
fn attack_a_state(python: &Path, municipalities: &str, seed: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    lagoa_ok(
        &lake,
        &[
            "demo",
            "run",
            "--municipalities",
            municipalities,
            "--years",
            "2022-2024",
            "--seed",
            seed,
        ],
    );
    let mut names: Vec<&str> = INDICATORS.to_vec();
    for (name, reference, from, to) in LINKED {
        let text =
            std::fs::read_to_string(lake.join(format!("indicators/{reference}.sql"))).unwrap();
        assert!(text.contains(from), "{reference}: {text}");
        let text = text
            .replace(
                &format!("-- name: {reference}"),
                &format!("-- name: {name}"),
            )
            .replace(from, to);
        std::fs::write(lake.join(format!("indicators/{name}.sql")), text).unwrap();
        names.push(name);
    }
    // Perinatal mortality adds live births (published by three
    // indicators already) and fetal deaths in its denominator.
    std::fs::copy(
        repo_root().join(format!("tests/indicators/{PERINATAL}.sql")),
        lake.join(format!("indicators/{PERINATAL}.sql")),
    )
    .unwrap();
    names.push(PERINATAL);
    let mut run = vec!["indicator", "run"];
    run.extend(LINKED.iter().map(|l| l.0));
    run.push(PERINATAL);
    let out = lagoa_ok(&lake, &run);
    assert_eq!(
        out.matches(": committed").count(),
        LINKED.len() + 1,
        "{out}"
    );
    let published = dir.path().join("published");
    export_all(&lake, &published, &names);
    let mut check = recompute(python, &lake, &published, &lake.join("indicators"));
    for (name, reference, _, _) in LINKED {
        check.arg("--same-as").arg(format!("{name}={reference}"));
    }
    let check = check.output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    println!("{municipalities} municipalities:\n{report}");
    assert!(
        check.status.success(),
        "{municipalities} municipalities: the attacker or the recomputation disagrees:\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let line = report
        .lines()
        .find(|l| l.starts_with("attacker:"))
        .unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
}

/// An attacker with everything a state published at once (the reference
/// indicators, two linked ones and one whose denominator adds a count
/// others publish, counts of the same declared name being the same
/// unknowns) pins no withheld small count, at two sizes of state.
#[test]
fn an_attacker_with_every_published_table_pins_no_small_count() {
    let Some(python) = python() else {
        skip(
            "demo",
            "the Python virtualenv is missing (scripts/bootstrap)",
        );
        return;
    };
    let attacked: usize = [("2", "5"), ("8", "3")]
        .into_iter()
        .map(|(municipalities, seed)| attack_a_state(&python, municipalities, seed))
        .sum();
    assert!(attacked > 0, "the states had small counts to attack");
}

/// The same at the size of a large region: 80 municipalities.
#[test]
fn an_attacker_with_every_table_of_80_municipalities_pins_no_small_count() {
    let Some(python) = python() else {
        skip(
            "demo",
            "the Python virtualenv is missing (scripts/bootstrap)",
        );
        return;
    };
    assert!(
        attack_a_state(&python, "80", "7") > 100,
        "a large state has many small counts"
    );
}
