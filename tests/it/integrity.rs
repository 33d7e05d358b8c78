//! Damage nothing reads is still found: `lagoa check --deep` reads every
//! data file, raw-zone delivery and quarantine in full and names what is
//! not as written. And one contract whatever the door: the first delivery
//! leaves the dataset's contract in the catalog, so a later delivery by
//! hand is checked against it.

use crate::crashes::{CONTRACT, delivery};
use crate::support::*;
use std::path::{Path, PathBuf};

fn object_path(lake: &Path, file: &Path) -> String {
    file.strip_prefix(lake.join("store"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn only_file(lake: &Path, zone: &str) -> PathBuf {
    let files = all_files(&lake.join("store").join(zone));
    assert_eq!(files.len(), 1, "{zone}: {files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn check_deep_finds_a_flipped_byte_in_any_object_and_names_it() {
    let (dir, lake) = new_lake();
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    let (text, _) = delivery(2000);
    let file = write_file(dir.path(), "entregas.csv", &text);
    ingest(
        &lake,
        &file,
        "entregas",
        &["--contract", contract.to_str().unwrap()],
    );
    let out = lagoa_ok(&lake, &["check", "--deep"]);
    assert!(out.contains("deep     ok  3 object(s)"), "{out}");

    for (zone, kind, snapshot) in [
        ("tables", "data file", true),
        ("raw", "raw delivery", true),
        ("quarantine", "quarantine", false),
    ] {
        let target = only_file(&lake, zone);
        let original = std::fs::read(&target).unwrap();
        let mut damaged = original.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x01;
        std::fs::write(&target, &damaged).unwrap();

        let out = lagoa(&lake, &["check", "--deep"]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!out.status.success(), "{zone}: {stdout}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("DAMAGED"))
            .unwrap_or_else(|| panic!("{zone}: no DAMAGED line in {stdout}"));
        assert!(
            line.contains(&format!("{kind} of dataset entregas"))
                && line.contains(&object_path(&lake, &target)),
            "{zone}: {line}"
        );
        assert_eq!(line.contains("snapshot 1"), snapshot, "{zone}: {line}");
        // A data file is hashed before it is decoded; a raw or quarantine
        // object is authenticated chunk by chunk as it streams.
        assert!(
            line.contains("SHA-256") || line.contains("fails authentication"),
            "{zone}: {line}"
        );
        assert!(stderr.contains("1 of 3 object(s) damaged"), "{stderr}");

        // Restored for the next zone.
        std::fs::write(&target, &original).unwrap();
    }

    // A missing object is named too.
    let raw = only_file(&lake, "raw");
    std::fs::remove_file(&raw).unwrap();
    let out = lagoa(&lake, &["check", "--deep"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("is missing from the store") && stdout.contains(&object_path(&lake, &raw)),
        "{stdout}"
    );
}

#[test]
fn authentication_finds_a_flipped_page_byte_when_no_digest_was_recorded() {
    let (dir, lake) = new_lake();
    let file = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 400));
    ingest(
        &lake,
        &file,
        "obitos",
        &["--personal", "cpf,nome", "--level", "especial"],
    );
    // As for a lake written before digests were recorded.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(tamper(&lake, "DELETE FROM lagoa_object_digest"));
    // A byte of the first column's first page (the file starts with the
    // 4-byte magic, then that page's encrypted header and data): without
    // a digest, the decryption's authentication finds it.
    let parquet = parquet_files(&lake);
    let target = &parquet[0];
    let mut bytes = std::fs::read(target).unwrap();
    bytes[64] ^= 0x40;
    std::fs::write(target, &bytes).unwrap();
    let out = lagoa(&lake, &["check", "--deep"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("data file of dataset obitos") && stdout.contains("fails authentication"),
        "{stdout}"
    );
}

#[test]
fn a_delivery_by_hand_is_checked_against_the_contract_of_the_first() {
    let (dir, lake) = new_lake();
    let contract = write_file(dir.path(), "entregas.toml", CONTRACT);
    let (text, _) = delivery(300);
    let first = write_file(dir.path(), "entregas_1.csv", &text);
    ingest(
        &lake,
        &first,
        "entregas",
        &["--contract", contract.to_str().unwrap()],
    );
    let listed = lagoa_ok(&lake, &["contract", "list", "entregas"]);
    assert!(
        listed.contains("in force"),
        "registered with the first delivery: {listed}"
    );

    // By hand, without the contract: rows without the required municipio
    // and rows with a bad CPF are quarantined by the registered contract.
    let mut by_hand = String::from("id,municipio,valor,cpf\n");
    for i in 0..200u32 {
        let cpf = lagoa_schemas::validators::cpf_from_base(200_000_000 + i);
        let municipio = if i % 100 == 0 { "" } else { "Recife" };
        by_hand.push_str(&format!("{},{municipio},1.00,{cpf}\n", 10_000 + i));
    }
    by_hand.push_str("20000,Recife,1.00,12345678900\n");
    let second = write_file(dir.path(), "entregas_2.csv", &by_hand);
    let out = lagoa(
        &lake,
        &["ingest", second.to_str().unwrap(), "--dataset", "entregas"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rejected"), "{stdout}");
    let count = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM entregas WHERE id >= 10000",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&count)[0][0], "198", "the 2 + 1 bad rows are held");
    // Every query keeps working: no null where the lake says required.
    let nulls = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM entregas WHERE municipio IS NULL",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&nulls)[0][0], "0");
}
