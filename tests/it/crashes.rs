//! `kill -9` at every stage of a run, in the real binary: a fault point
//! (`LAGOA_FAULT_POINT`) kills the process there. Afterwards the run is
//! closed as abandoned by the next command, a rerun lands the delivery
//! exactly once with its original in the raw zone and its rejected rows in
//! quarantine once, and `vacuum` leaves only what the catalog names.

use crate::support::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

pub(crate) const CONTRACT: &str = r#"[dataset]
name = "entregas"
level = "especial"
primary_key = ["id"]
max_rejected_share = 0.05

[[columns]]
name = "id"
type = "integer"
nullable = false

[[columns]]
name = "municipio"
type = "string"
nullable = false

[[columns]]
name = "valor"
type = "decimal(12,2)"

[[columns]]
name = "cpf"
type = "string"
personal = "pessoal"
validator = "cpf"
"#;

/// `rows` rows, every hundredth with a CPF whose check digit is wrong
/// (quarantined); padded so that a delivery of many rows needs several
/// upload parts.
pub(crate) fn delivery(rows: usize) -> (String, usize) {
    let mut text = String::from("id,municipio,valor,cpf\n");
    let mut bad = 0;
    for i in 0..rows {
        let cpf = if i % 100 == 7 {
            bad += 1;
            broken_cpf(100_000_000 + i as u32)
        } else {
            lagoa_schemas::validators::cpf_from_base(100_000_000 + i as u32)
        };
        text.push_str(&format!(
            "{i},Município de Teste {:04} — distrito sede,{}.{:02},{cpf}\n",
            i % 5000,
            100 + i % 900,
            i % 100
        ));
    }
    (text, bad)
}

/// A CPF whose last check digit is wrong: the validator rejects it.
fn broken_cpf(base: u32) -> String {
    let mut cpf = lagoa_schemas::validators::cpf_from_base(base);
    let last = cpf.pop().and_then(|d| d.to_digit(10)).unwrap_or(0);
    cpf.push(char::from_digit((last + 1) % 10, 10).unwrap_or('0'));
    cpf
}

fn store_files(lake: &Path, zone: &str) -> Vec<PathBuf> {
    let dir = lake.join("store").join(zone);
    if !dir.exists() {
        return Vec::new();
    }
    all_files(&dir)
}

/// Staged files of uploads that never completed (`<name>#<n>`).
fn partial_uploads(lake: &Path) -> Vec<PathBuf> {
    all_files(&lake.join("store"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Kills an ingest at `point`, then checks everything the issue asks.
fn killed_at(point: &str, rows: usize) {
    let (dir, lake) = new_lake();
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    let (text, bad) = delivery(rows);
    let file = write_file(dir.path(), "entregas_2026_11.csv", &text);
    let args = [
        "ingest",
        file.to_str().unwrap(),
        "--dataset",
        "entregas",
        "--contract",
        contract.to_str().unwrap(),
    ];

    let killed = lagoa_env(&lake, &args, &[("LAGOA_FAULT_POINT", point)]);
    let stderr = String::from_utf8_lossy(&killed.stderr);
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{point}: the process should die by SIGKILL: {:?}\n{stderr}",
        killed.status
    );
    assert!(stderr.contains(&format!("fault point {point}")), "{stderr}");
    if point == "upload.part_sent" {
        assert!(
            !partial_uploads(&lake).is_empty(),
            "{point}: a killed multipart upload leaves a staged file (else this case tests nothing)"
        );
    }

    // The next command touching the runs closes the dead one.
    let runs = json_lines(&lagoa_ok(&lake, &["runs", "--json"]));
    assert_eq!(runs.len(), 1, "{point}: {runs:?}");
    let first = &runs[0];
    if point == "run.after_commit" {
        assert_eq!(
            first["status"], "committed",
            "{point}: the commit marked its run: {first}"
        );
    } else {
        assert_eq!(first["status"], "failed", "{point}: {first}");
        assert_eq!(first["error_class"], "abandoned", "{point}: {first}");
        assert!(
            first["error"].as_str().unwrap().contains("abandoned"),
            "{point}: {first}"
        );
    }

    // The rerun lands the delivery exactly once.
    let out = lagoa_ok(&lake, &args);
    if point == "run.after_commit" {
        assert!(out.contains("already"), "{point}: {out}");
    }
    let count = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*), count(DISTINCT id) FROM entregas",
            "--format",
            "csv",
        ],
    );
    let expected = (rows - bad).to_string();
    assert_eq!(
        csv_rows(&count),
        vec![vec![expected.clone(), expected]],
        "{point}: each good row exactly once"
    );
    let raw = json_lines(&lagoa_ok(&lake, &["raw", "list", "--json"]));
    let committed: Vec<_> = raw.iter().filter(|r| r["status"] == "committed").collect();
    assert_eq!(
        committed.len(),
        1,
        "{point}: the delivery's original is on record once: {raw:?}"
    );
    assert!(
        committed[0]["snapshot_id"].as_i64().is_some(),
        "{point}: {raw:?}"
    );
    let quarantine = lagoa_ok(&lake, &["quarantine", "list"]);
    let held: Vec<&str> = quarantine.lines().skip(1).collect();
    assert_eq!(
        held.len(),
        1,
        "{point}: the rejected rows are quarantined once:\n{quarantine}"
    );
    assert!(held[0].contains(&format!(" {bad} ")), "{quarantine}");
    // The raw copy reads back as the delivered bytes.
    let raw_id = committed[0]["raw_id"].as_str().unwrap();
    let back = dir.path().join("back.csv");
    lagoa_ok(
        &lake,
        &["raw", "get", raw_id, "--output", back.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&back).unwrap(), text.as_bytes(), "{point}");

    // Vacuum leaves exactly what the catalog names.
    let out = lagoa_ok(&lake, &["vacuum", "--min-age", "0s"]);
    if matches!(
        point,
        "run.raw_kept" | "run.before_commit" | "upload.part_sent"
    ) {
        assert!(
            !out.contains("0 orphan file(s) and 0 partial"),
            "{point}: the killed run left something to sweep: {out}"
        );
    }
    assert!(partial_uploads(&lake).is_empty(), "{point}: {out}");
    assert_eq!(store_files(&lake, "raw").len(), 1, "{point}: {out}");
    assert_eq!(store_files(&lake, "quarantine").len(), 1, "{point}: {out}");
    let files = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM system.files",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&files)[0][0],
        store_files(&lake, "tables").len().to_string(),
        "{point}: every data file left is a committed one: {out}"
    );
    // And the lake still answers.
    let after = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM entregas", "--format", "csv"],
    );
    assert_eq!(csv_rows(&after)[0][0], (rows - bad).to_string());
}

#[test]
fn killed_when_the_run_has_started() {
    killed_at("run.started", 500);
}

#[test]
fn killed_with_the_original_kept_in_the_raw_zone() {
    killed_at("run.raw_kept", 500);
}

#[test]
fn killed_mid_upload() {
    // About 20 MB: the raw copy needs three 8 MiB parts.
    killed_at("upload.part_sent", 260_000);
}

#[test]
fn killed_with_files_written_before_the_commit() {
    killed_at("run.before_commit", 500);
}

#[test]
fn killed_after_the_commit() {
    killed_at("run.after_commit", 500);
}

#[test]
fn init_makes_a_lake_whose_listings_work_and_end_quietly_in_a_closed_pipe() {
    let (dir, lake) = new_lake();
    assert!(lake.join("sources").is_dir(), "init creates sources/");
    lagoa_ok(&lake, &["sources"]);

    let (text, _) = delivery(3000);
    let file = write_file(dir.path(), "entregas.csv", &text);
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    for i in 0..3 {
        let copy = write_file(
            dir.path(),
            &format!("entregas_{i}.csv"),
            &text.replace(",Município", &format!(",M{i}")),
        );
        ingest(
            &lake,
            &copy,
            "entregas",
            &["--contract", contract.to_str().unwrap()],
        );
    }
    ingest(
        &lake,
        &file,
        "entregas",
        &["--contract", contract.to_str().unwrap()],
    );
    // `lagoa runs | head -1`: the reader closes the pipe after one line.
    for listing in [
        ["runs"].as_slice(),
        &["raw", "list"],
        &["quarantine", "list"],
    ] {
        let mut child = std::process::Command::new(lagoa_bin())
            .arg("--lake")
            .arg(&lake)
            .args(listing)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{listing:?}: {stderr}"
        );
    }

    // `raw get` of an unknown id leaves an existing file as it was.
    let keep = write_file(dir.path(), "keep.csv", "precious");
    let err = lagoa_err(
        &lake,
        &[
            "raw",
            "get",
            "no-such-id",
            "--output",
            keep.to_str().unwrap(),
        ],
    );
    assert!(err.contains("no delivery no-such-id"), "{err}");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "precious");
}

#[test]
fn killed_after_recording_a_rejected_delivery() {
    let (dir, lake) = new_lake();
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    // One row in five with a bad CPF: over the contract's 5 % limit.
    let mut text = String::from("id,municipio,valor,cpf\n");
    for i in 0..100u32 {
        let cpf = if i % 5 == 0 {
            broken_cpf(300_000_000 + i)
        } else {
            lagoa_schemas::validators::cpf_from_base(300_000_000 + i)
        };
        text.push_str(&format!("{i},Recife,1.00,{cpf}\n"));
    }
    let file = write_file(dir.path(), "entregas_ruim.csv", &text);
    let args = [
        "ingest",
        file.to_str().unwrap(),
        "--dataset",
        "entregas",
        "--contract",
        contract.to_str().unwrap(),
    ];
    let killed = lagoa_env(&lake, &args, &[("LAGOA_FAULT_POINT", "run.after_unlanded")]);
    assert_eq!(killed.status.signal(), Some(9), "{killed:?}");
    // The run's end went with its records: rejected, not abandoned.
    let runs = json_lines(&lagoa_ok(&lake, &["runs", "--json"]));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "rejected", "{runs:?}");
    assert!(runs[0]["raw_id"].as_str().is_some(), "{runs:?}");
    let raw = json_lines(&lagoa_ok(&lake, &["raw", "list", "--json"]));
    assert_eq!(raw.len(), 1, "{raw:?}");
    assert_eq!(raw[0]["status"], "failed");
    let quarantine = lagoa_ok(&lake, &["quarantine", "list"]);
    assert_eq!(quarantine.lines().skip(1).count(), 1, "{quarantine}");
    // Vacuum keeps the recorded original and quarantine.
    lagoa_ok(&lake, &["vacuum", "--min-age", "0s"]);
    assert_eq!(store_files(&lake, "raw").len(), 1);
    assert_eq!(store_files(&lake, "quarantine").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_leaves_what_a_running_run_may_be_writing() {
    let (dir, lake_dir) = new_lake();
    let (text, _) = delivery(50);
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    let file = write_file(dir.path(), "entregas.csv", &text);
    ingest(
        &lake_dir,
        &file,
        "entregas",
        &["--contract", contract.to_str().unwrap()],
    );
    // A run of this very process, alive, and an object nothing names yet
    // (as its raw copy would be), older than any --min-age.
    let lake = lagoa_lake::Lake::open(&lake_dir).await.unwrap();
    let started = lagoa_lake::catalog::now_micros() - 3_600_000_000;
    let run = lagoa_lake::catalog::RunRecord {
        run_id: "0000-em-curso".into(),
        source: "entregas_longa".into(),
        dataset: "entregas".into(),
        trigger: "manual".into(),
        status: lagoa_core::RunStatus::Running,
        attempts: 1,
        started_at: started,
        ..Default::default()
    };
    lake.catalog.save_run(&run).await.unwrap();
    lake.catalog
        .hold_run(
            &run.run_id,
            &lagoa_lake::run_holder::RunHolder::this_process(),
            lagoa_lake::catalog::now_micros(),
        )
        .await
        .unwrap();
    let in_flight = lake_dir.join("store/raw/entregas/em-curso.raw");
    std::fs::write(&in_flight, b"being written").unwrap();
    let out = lagoa_ok(&lake_dir, &["vacuum", "--min-age", "0s"]);
    assert!(
        in_flight.exists(),
        "an object written since a live run started stays: {out}"
    );
    // Once the run has ended, it is an orphan like any other.
    let mut ended = run.clone();
    ended.status = lagoa_core::RunStatus::Failed;
    ended.ended_at = Some(lagoa_lake::catalog::now_micros());
    lake.catalog.save_run(&ended).await.unwrap();
    let out = lagoa_ok(&lake_dir, &["vacuum", "--min-age", "0s"]);
    assert!(!in_flight.exists(), "{out}");
}

#[test]
fn a_delivery_that_cannot_be_read_keeps_its_original_under_its_run() {
    let (dir, lake) = new_lake();
    let garbage = write_file(dir.path(), "DOAC2024.dbf", "not a dbf at all, just text");
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            garbage.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--level",
            "especial",
        ],
    );
    assert!(err.contains("DOAC2024.dbf"), "{err}");
    let runs = json_lines(&lagoa_ok(&lake, &["runs", "--json"]));
    assert_eq!(runs[0]["status"], "failed", "{runs:?}");
    let raw_id = runs[0]["raw_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the run names its original: {runs:?}"));
    let back = dir.path().join("back.dbf");
    lagoa_ok(
        &lake,
        &["raw", "get", raw_id, "--output", back.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "not a dbf at all, just text"
    );
}
