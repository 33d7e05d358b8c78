//! Contracts in practice: a municipality's Latin-1 SIM extraction checked
//! against its contract, bad rows in quarantine, the quality report, the
//! rejected-share limit, replay after a contract fix, quarantine release,
//! versions announced ahead of their date, drift policies, and an
//! incremental PostgreSQL source whose watermark moves with the commits.

use crate::support::*;
use lagoa_schemas::validators::{cns_from_seed, cpf_from_base};
use std::path::{Path, PathBuf};

fn example_contract() -> String {
    std::fs::read_to_string(repo_root().join("schemas/examples/sim_obitos.toml")).unwrap()
}

/// A contract variant: the example with some text replaced.
fn contract_with(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = example_contract();
    for (from, to) in edits {
        assert!(text.contains(from), "the example contract lacks {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const HEADER: &str = "NUMERODO;CODMUNRES;DTOBITO;IDADE;SEXO;RACACOR;CAUSABAS;CPF;CNS;NOME;CUSTO";

/// A SIM-like extraction as a municipality exports it: Latin-1, `;`,
/// DATASUS names, DDMMYYYY dates, decimal commas. `bad` rows carry an
/// invalid CPF (changed check digit) and `f_rows` a sex code the contract
/// does not list.
fn sim_extraction(rows: usize, bad: usize, f_rows: usize, first: u32) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        let n = first + i as u32;
        let mut cpf = cpf_from_base(100_000_000 + n);
        if i < bad {
            // Break the last check digit.
            let last = cpf.pop().unwrap().to_digit(10).unwrap();
            cpf.push(char::from_digit((last + 1) % 10, 10).unwrap());
        }
        let sexo = if i >= bad && i < bad + f_rows {
            "F"
        } else {
            ["1", "2"][i % 2]
        };
        text.push_str(&format!(
            "{:08};{};{:02}{:02}2024;4{:02};{sexo};{};I{:02};{cpf};{};Jos\u{e9} da Concei\u{e7}\u{e3}o {n};{},{:02}\n",
            n,
            ["120040", "120050", "260005"][i % 3],
            1 + i % 28,
            1 + i % 12,
            20 + i % 70,
            1 + i % 5,
            10 + i % 80,
            cns_from_seed(n as u64),
            100 + i,
            i % 100,
        ));
    }
    // Latin-1: every character here is below U+0100.
    text.chars().map(|c| c as u32 as u8).collect()
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn count(lake: &Path, sql: &str) -> String {
    let out = lagoa_ok(lake, &["query", sql, "--format", "csv"]);
    csv_rows(&out)[0][0].clone()
}

/// The run id printed at the end of an ingest's outcome line.
fn run_id(output: &str) -> String {
    output
        .rsplit("run ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .map(|s| s.trim_end_matches(['.', ';']).to_owned())
        .unwrap_or_else(|| panic!("no run id in {output}"))
}

#[test]
fn a_latin1_sim_extraction_lands_with_bad_rows_in_quarantine_and_a_report() {
    let (dir, lake) = new_lake();
    let contract = repo_root().join("schemas/examples/sim_obitos.toml");
    let file = write_bytes(dir.path(), "DOAC2024.csv", &sim_extraction(200, 3, 0, 1));
    let out = ingest(
        &lake,
        &file,
        "sim_obitos",
        &["--contract", contract.to_str().unwrap()],
    );
    assert!(
        out.contains("ingested 197 rows") && out.contains("3 rejected"),
        "{out}"
    );
    let run = run_id(&out);

    // Typed by the contract: dates from DDMMYYYY, decimals from commas,
    // accents from Latin-1, codes with their zeros.
    assert_eq!(count(&lake, "SELECT count(*) FROM sim_obitos"), "197");
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM sim_obitos WHERE nome LIKE 'José da Conceição%'"
        ),
        "197"
    );
    assert_eq!(
        count(&lake, "SELECT min(dtobito) FROM sim_obitos"),
        "2024-01-01"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT arrow_typeof(custo) = 'Decimal128(12, 2)' FROM sim_obitos LIMIT 1"
        ),
        "true"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM sim_obitos WHERE numerodo = '00000100'"
        ),
        "1"
    );

    // The quality report, in JSON for machines and HTML for the municipality.
    let json = lagoa_ok(&lake, &["report", &run, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["rows_read"], 200);
    assert_eq!(report["rows_rejected"], 3);
    assert_eq!(report["rejected_by_reason"][0]["column"], "cpf");
    assert_eq!(
        report["rejected_by_reason"][0]["reason"],
        "not a valid cpf (check digits)"
    );
    assert_eq!(report["rejected_by_reason"][0]["examples"][0], "line 2");
    assert_eq!(report["period"][0], "2024-01-01");
    assert_eq!(report["contract_version"], 1);
    let nome = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nome")
        .unwrap();
    assert_eq!(nome["personal"], true);
    assert!(
        nome["min"].is_null(),
        "no range for personal columns: {nome}"
    );
    let html_path = dir.path().join("relatorio.html");
    lagoa_ok(
        &lake,
        &[
            "report",
            &run,
            "--format",
            "html",
            "--output",
            html_path.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("Relatório de qualidade") && html.contains("not a valid cpf"));
    assert!(
        !html.contains("José"),
        "the report holds no personal values"
    );

    // The rejected rows, decrypted for the steward, with their line.
    let shown = lagoa_ok(&lake, &["quarantine", "show", &run, "--json"]);
    let rows: Vec<serde_json::Value> = shown
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["location"], "line 2");
    assert_eq!(rows[0]["row"]["NUMERODO"], "00000001");
    // ...and encrypted at rest: no file of the store holds a name in clear.
    for file in all_files(&lake.join("store")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(4)
                .any(|w| w == b"Jos\xe9" || w == "José".as_bytes()),
            "{} holds a name in clear",
            file.display()
        );
    }
    let runs = lagoa_ok(&lake, &["runs", "--json"]);
    assert!(
        runs.contains("\"status\":\"committed\"") && runs.contains("\"rows_rejected\":3"),
        "{runs}"
    );
}

#[test]
fn too_many_bad_rows_reject_the_delivery_until_a_replay_with_a_fixed_contract() {
    let (dir, lake) = new_lake();
    let strict = repo_root().join("schemas/examples/sim_obitos.toml");
    // 20 of 100 rows use "F" for female: the contract only knows 0/1/2/9.
    let file = write_bytes(dir.path(), "DOAC2024.csv", &sim_extraction(100, 0, 20, 1));
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "sim_obitos",
            "--contract",
            strict.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains(
            "rejected: 20 of 100 rows rejected (20.00%), over the contract's limit of 5.00%"
        ) && err.contains("column sexo: not one of the contract's values"),
        "{err}"
    );
    let run = run_id(&err);
    // Nothing became visible; the delivery and its rows are kept.
    let datasets = lagoa_ok(&lake, &["datasets", "--format", "csv"]);
    assert!(!datasets.contains("sim_obitos"), "{datasets}");
    let raw = lagoa_ok(&lake, &["raw", "list", "--json"]);
    assert!(raw.contains("\"status\":\"failed\""), "{raw}");

    // The office agrees with the municipality that F means female.
    let fixed = contract_with(
        dir.path(),
        "fixed.toml",
        &[(
            "values = [\"0\", \"1\", \"2\", \"9\"]",
            "values = [\"0\", \"1\", \"2\", \"9\", \"F\"]",
        )],
    );
    let out = lagoa_ok(
        &lake,
        &["replay", &run, "--contract", fixed.to_str().unwrap()],
    );
    assert!(out.contains("ingested 100 rows"), "{out}");
    assert_eq!(
        count(&lake, "SELECT count(*) FROM sim_obitos WHERE sexo = 'F'"),
        "20"
    );
    let runs = lagoa_ok(&lake, &["runs", "--json"]);
    assert!(
        runs.contains("\"trigger\":\"replay\"")
            && runs.contains(&format!("\"replay_of\":\"{run}\"")),
        "{runs}"
    );
}

#[test]
fn quarantined_rows_are_released_after_a_contract_fix_exactly_once() {
    let (dir, lake) = new_lake();
    let strict = repo_root().join("schemas/examples/sim_obitos.toml");
    // 2 of 100 rows with "F": within the 5% limit, so they go to quarantine.
    let file = write_bytes(dir.path(), "DOAC2024.csv", &sim_extraction(100, 0, 2, 1));
    let out = ingest(
        &lake,
        &file,
        "sim_obitos",
        &["--contract", strict.to_str().unwrap()],
    );
    assert!(out.contains("ingested 98 rows"), "{out}");
    let run = run_id(&out);
    let listed = lagoa_ok(&lake, &["quarantine", "list"]);
    assert!(
        listed.contains(&run) && listed.contains(" 2  no"),
        "{listed}"
    );

    // Released against the strict contract, they fail again: nothing admitted.
    let err = lagoa_err(&lake, &["quarantine", "release", &run]);
    assert!(err.contains("no quarantined rows were admitted"), "{err}");

    let fixed = contract_with(
        dir.path(),
        "fixed.toml",
        &[(
            "values = [\"0\", \"1\", \"2\", \"9\"]",
            "values = [\"0\", \"1\", \"2\", \"9\", \"F\"]",
        )],
    );
    let out = lagoa_ok(
        &lake,
        &[
            "quarantine",
            "release",
            &run,
            "--contract",
            fixed.to_str().unwrap(),
        ],
    );
    assert!(out.contains("ingested 2 rows"), "{out}");
    assert_eq!(count(&lake, "SELECT count(*) FROM sim_obitos"), "100");
    let err = lagoa_err(
        &lake,
        &[
            "quarantine",
            "release",
            &run,
            "--contract",
            fixed.to_str().unwrap(),
        ],
    );
    assert!(err.contains("already released"), "{err}");
    assert_eq!(count(&lake, "SELECT count(*) FROM sim_obitos"), "100");
}

#[test]
fn a_contract_version_is_announced_ahead_and_applies_from_its_date() {
    let (dir, lake) = new_lake();
    let v1 = repo_root().join("schemas/examples/sim_obitos.toml");
    let v2 = contract_with(
        dir.path(),
        "v2.toml",
        &[
            ("version = 1", "version = 2"),
            (
                "effective_from = \"2020-01-01\"",
                "effective_from = \"2099-01-01\"",
            ),
            (
                "[[columns]]\nname = \"custo\"",
                "[[columns]]\nname = \"escolaridade\"\ntype = \"string\"\nnullable = false\n\n[[columns]]\nname = \"custo\"",
            ),
        ],
    );
    lagoa_ok(&lake, &["contract", "register", v1.to_str().unwrap()]);
    let out = lagoa_ok(&lake, &["contract", "register", v2.to_str().unwrap()]);
    assert!(out.contains("v2 (in force from 2099-01-01)"), "{out}");
    let listed = lagoa_ok(&lake, &["contract", "list", "sim_obitos"]);
    assert!(
        listed.contains("in force") && listed.contains("announced"),
        "{listed}"
    );
    let diff = lagoa_ok(&lake, &["contract", "diff", "sim_obitos"]);
    assert!(
        diff.contains("v1 -> v2 (from 2099-01-01)")
            && diff.contains("column escolaridade added (string, required)"),
        "{diff}"
    );
    // Registering the same version again is harmless; other content under
    // a taken version number is refused.
    lagoa_ok(&lake, &["contract", "register", v2.to_str().unwrap()]);
    let v2b = contract_with(
        dir.path(),
        "v2b.toml",
        &[
            ("version = 1", "version = 2"),
            ("frequency = \"monthly\"", "frequency = \"weekly\""),
        ],
    );
    let err = lagoa_err(&lake, &["contract", "register", v2b.to_str().unwrap()]);
    assert!(
        err.contains("version 2 is already registered with other content"),
        "{err}"
    );

    // Today the registered v1 applies (no --contract needed)...
    let file = write_bytes(dir.path(), "DOAC2024.csv", &sim_extraction(30, 0, 0, 1));
    let out = ingest(&lake, &file, "sim_obitos", &[]);
    assert!(out.contains("ingested 30 rows"), "{out}");
    // ...and a delivery for 2099 is checked against v2, which needs a column
    // this extraction does not have.
    let later = write_bytes(dir.path(), "DOAC2099.csv", &sim_extraction(30, 0, 0, 1000));
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            later.to_str().unwrap(),
            "--dataset",
            "sim_obitos",
            "--reference-date",
            "2099-02-01",
        ],
    );
    assert!(
        err.contains("missing column escolaridade (not delivered; required)"),
        "{err}"
    );
}

#[test]
fn drift_follows_the_contract_policy() {
    let (dir, lake) = new_lake();
    let mut bytes = sim_extraction(20, 0, 0, 1);
    // A new column appears at the end of every line.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let with_new: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l};GESTANTE\n")
            } else {
                format!("{l};N\n")
            }
        })
        .collect();
    bytes = with_new.chars().map(|c| c as u32 as u8).collect();
    let file = write_bytes(dir.path(), "DOAC2024.csv", &bytes);

    // reject (the example's policy): the run fails, naming the column.
    let reject = repo_root().join("schemas/examples/sim_obitos.toml");
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "sim_obitos",
            "--contract",
            reject.to_str().unwrap(),
        ],
    );
    assert!(err.contains("new column gestante"), "{err}");

    // hold: nothing visible, the run waits for a steward.
    let hold = contract_with(
        dir.path(),
        "hold.toml",
        &[("drift = \"reject\"", "drift = \"hold\"")],
    );
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "sim_obitos",
            "--contract",
            hold.to_str().unwrap(),
        ],
    );
    assert!(err.contains(": held: "), "{err}");
    let runs = lagoa_ok(&lake, &["runs", "--json"]);
    assert!(runs.contains("\"status\":\"held\""), "{runs}");

    // evolve: the column joins the dataset.
    let evolve = contract_with(
        dir.path(),
        "evolve.toml",
        &[("drift = \"reject\"", "drift = \"evolve\"")],
    );
    let out = ingest(
        &lake,
        &file,
        "sim_obitos",
        &["--contract", evolve.to_str().unwrap()],
    );
    assert!(out.contains("ingested 20 rows"), "{out}");
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM sim_obitos WHERE gestante = 'N'"
        ),
        "20"
    );
}

#[test]
fn an_untagged_column_of_cpf_numbers_is_flagged() {
    let (dir, lake) = new_lake();
    let mut text = String::from("municipio;documento\n");
    for i in 0..50 {
        text.push_str(&format!("120040;{}\n", cpf_from_base(200_000_000 + i)));
    }
    let file = write_file(dir.path(), "x.csv", &text);
    let out = lagoa(
        &lake,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "cadastro",
            "--level",
            "especial",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "column documento holds what look like CPF numbers but is not tagged personal"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_incremental_postgres_source_takes_each_row_once_and_replays_from_arrow() {
    let Some(pg) =
        postgres("an_incremental_postgres_source_takes_each_row_once_and_replays_from_arrow").await
    else {
        return;
    };
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::query(
        "CREATE TABLE notificacao (id BIGINT PRIMARY KEY, codmun TEXT NOT NULL, valor NUMERIC(10,2), atualizado_em TIMESTAMP NOT NULL)",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let insert = |from: i64, to: i64, at: &'static str| {
        format!(
            "INSERT INTO notificacao SELECT g, '1200' || (g % 10), g * 1.5, TIMESTAMP '{at}' FROM generate_series({from}, {to}) g"
        )
    };
    sqlx::query(&insert(1, 500, "2026-01-01 10:00:00"))
        .execute(&mut db)
        .await
        .unwrap();

    let (dir, lake) = new_lake();
    let source = dir.path().join("notificacao.toml");
    std::fs::write(
        &source,
        format!(
            "name = \"esus_notificacao\"\ndataset = \"notificacao\"\n[source]\ntype = \"postgres\"\nurl = \"{}\"\ntable = \"notificacao\"\nincremental = {{ cursor = \"atualizado_em\", primary_key = [\"id\"] }}\nchunk_rows = 128\n",
            pg.url
        ),
    )
    .unwrap();
    let source = source.to_str().unwrap();
    lagoa_ok(&lake, &["source", "check", source]);
    // No contract and no dataset yet: inferred, so a level is needed.
    let err = lagoa_err(&lake, &["source", "run", source]);
    assert!(err.contains("needs a sharing level"), "{err}");
    let contract = dir.path().join("notificacao_contract.toml");
    std::fs::write(
        &contract,
        "[dataset]\nname = \"notificacao\"\nlevel = \"corporativo\"\nprimary_key = [\"id\"]\n\n[[columns]]\nname = \"id\"\ntype = \"integer\"\nnullable = false\n\n[[columns]]\nname = \"codmun\"\ntype = \"string\"\npattern = \"^[0-9]{5}$\"\n\n[[columns]]\nname = \"valor\"\ntype = \"decimal(10,2)\"\n\n[[columns]]\nname = \"atualizado_em\"\ntype = \"timestamp\"\n",
    )
    .unwrap();
    lagoa_ok(&lake, &["contract", "register", contract.to_str().unwrap()]);
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(out.contains("ingested 500 rows"), "{out}");

    // New rows at the same cursor value and later ones: each taken once.
    sqlx::query(&insert(501, 520, "2026-01-01 10:00:00"))
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(&insert(521, 600, "2026-01-02 08:00:00"))
        .execute(&mut db)
        .await
        .unwrap();
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(out.contains("ingested 100 rows"), "{out}");
    assert_eq!(count(&lake, "SELECT count(*) FROM notificacao"), "600");
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT id) FROM notificacao"),
        "600"
    );
    assert_eq!(
        count(&lake, "SELECT sum(valor) FROM notificacao"),
        format!("{:.2}", (1..=600).sum::<i64>() as f64 * 1.5)
    );

    // A bad extraction (codes that break the contract's pattern) fails and
    // does not move the watermark; the replay after a contract fix reads
    // the rows back from the raw zone's Arrow copy, not from the database.
    sqlx::query(
        "INSERT INTO notificacao SELECT g, 'X' || g, 1, TIMESTAMP '2026-01-03 08:00:00' FROM generate_series(601, 700) g",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let err = lagoa_err(&lake, &["source", "run", source]);
    assert!(
        err.contains("column codmun: does not match the contract's pattern"),
        "{err}"
    );
    let failed = run_id(&err);
    sqlx::query("DELETE FROM notificacao WHERE id > 600")
        .execute(&mut db)
        .await
        .unwrap();
    let relaxed = dir.path().join("relaxed.toml");
    std::fs::write(
        &relaxed,
        std::fs::read_to_string(&contract)
            .unwrap()
            .replace("pattern = \"^[0-9]{5}$\"\n", ""),
    )
    .unwrap();
    let out = lagoa_ok(
        &lake,
        &["replay", &failed, "--contract", relaxed.to_str().unwrap()],
    );
    assert!(out.contains("ingested 100 rows"), "{out}");
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM notificacao WHERE codmun LIKE 'X%'"
        ),
        "100"
    );
}
