//! Nothing readable at rest, tampering detected, and other Parquet
//! implementations read our files with the same master keys.

use crate::support::*;

#[test]
fn no_personal_value_is_stored_in_clear_anywhere() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 200));
    ingest(
        &lake,
        &f,
        "obitos",
        &["--personal", "cpf,nome", "--partition", "ano"],
    );
    // Queries and listings must not write plaintext either.
    lagoa_ok(
        &lake,
        &["query", "SELECT nome, count(*) FROM obitos GROUP BY nome"],
    );
    lagoa_ok(&lake, &["files", "obitos"]);

    let files = all_files(&lake);
    assert!(
        files
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "parquet"))
    );
    assert!(files.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("catalog.db"))
    }));
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for (cpf, nome) in PEOPLE {
        needles.push(cpf.as_bytes().to_vec());
        needles.push(nome.as_bytes().to_vec());
        // A surname alone, and the name in Latin-1 and UTF-16, in case some layer re-encodes.
        needles.push(nome.rsplit(' ').next().unwrap().as_bytes().to_vec());
        needles.push(nome.chars().map(|c| c as u32 as u8).collect());
        needles.push(nome.encode_utf16().flat_map(|u| u.to_le_bytes()).collect());
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} contains {:?} in clear",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // Sanity check of the scan itself: the input does contain them.
    assert!(std::fs::read_to_string(&f).unwrap().contains(PEOPLE[0].1));
}

#[test]
fn a_flipped_byte_fails_the_query_and_names_the_file() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 300));
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    let file = parquet_files(&lake).pop().unwrap();
    let original = std::fs::read(&file).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();

    let query = ["query", "SELECT * FROM obitos", "--format", "csv"];
    let answer = sorted_lines(&lagoa_ok(&lake, &query));
    // A flipped byte in the data pages (early in the file) or in the footer
    // (its end) fails every query that reads all columns. Elsewhere it may
    // fall in a module this query never reads (a column's page index, used
    // only by filters that prune pages): the query must then give exactly
    // the stored rows, and the deep check must find the damage.
    let always_read = [original.len() / 5, original.len() - 40];
    for offset in [
        original.len() / 5,
        original.len() / 3,
        original.len() / 2,
        original.len() * 4 / 5,
        original.len() - 40,
    ] {
        let mut tampered = original.clone();
        tampered[offset] ^= 0x01;
        std::fs::write(&file, &tampered).unwrap();
        let out = lagoa(&lake, &query);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            assert!(
                !always_read.contains(&offset),
                "byte {offset} flipped but the query answered: {stdout}"
            );
            assert_eq!(
                sorted_lines(&stdout),
                answer,
                "byte {offset} flipped and the query gave other rows"
            );
            let deep = lagoa(&lake, &["check", "--deep"]);
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&deep.stdout),
                String::from_utf8_lossy(&deep.stderr)
            );
            assert!(
                !deep.status.success() && report.contains(&name),
                "byte {offset} flipped and the deep check did not name the file: {report}"
            );
        } else {
            assert!(
                stderr.contains(&name),
                "the error does not name the file: {stderr}"
            );
        }
    }
    std::fs::write(&file, &original).unwrap();
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec!["900"]]);
}

#[test]
fn a_file_swapped_or_replayed_onto_another_path_is_rejected() {
    let (dir, lake) = new_lake();
    let a = write_file(dir.path(), "a.csv", &obitos_csv(2023, 5));
    let b = write_file(dir.path(), "b.csv", &obitos_csv(2024, 5));
    ingest(&lake, &a, "obitos", &["--personal", "cpf,nome"]);
    ingest(&lake, &b, "obitos", &[]);
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 2);
    // Replace the 2024 file with a valid file of the same dataset, same keys.
    let (first, second) = (&files[0], &files[1]);
    let kept = std::fs::read(second).unwrap();
    std::fs::copy(first, second).unwrap();
    let err = lagoa_err(
        &lake,
        &["query", "SELECT ano, count(*) FROM obitos GROUP BY ano"],
    );
    assert!(
        err.contains(&second.file_name().unwrap().to_string_lossy().into_owned()),
        "{err}"
    );
    std::fs::write(second, kept).unwrap();
}

#[test]
fn pyarrow_reads_lagoa_files_with_the_same_master_keys() {
    let Some(python) = python() else {
        skip(
            "pyarrow_reads_lagoa_files_with_the_same_master_keys",
            "no .venv/bin/python: run scripts/bootstrap",
        );
        return;
    };
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 7));
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    let file = parquet_files(&lake).pop().unwrap();

    let reader = repo_root().join("tests/py/read_encrypted.py");
    let run = |keystore: &std::path::Path| {
        std::process::Command::new(&python)
            .arg(&reader)
            .arg("--keystore")
            .arg(keystore)
            .arg("--file")
            .arg(&file)
            .output()
            .expect("running python")
    };
    let out = run(&lake.join("keys/keystore.json"));
    assert!(
        out.status.success(),
        "PyArrow could not read the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pyarrow_rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(pyarrow_rows.len(), 21);

    // Same rows as Lagoa returns.
    let ours = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT cpf, nome, idade, municipio FROM obitos",
            "--format",
            "json",
        ],
    );
    let mut ours: Vec<(String, String, String, String)> = ours
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["cpf"].as_str().unwrap().into(),
                v["nome"].as_str().unwrap().into(),
                v["idade"].to_string(),
                v["municipio"].to_string(),
            )
        })
        .collect();
    let mut theirs: Vec<(String, String, String, String)> = pyarrow_rows
        .iter()
        .map(|v| {
            let s = |k: &str| {
                v[k].as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v[k].to_string())
            };
            (s("cpf"), s("nome"), s("idade"), s("municipio"))
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);

    // Without the dataset's keys, PyArrow cannot read it either.
    let empty = write_file(
        dir.path(),
        "empty-keystore.json",
        r#"{"format": "lagoa-local-keystore/1", "keys": {}, "shredded": {}}"#,
    );
    let out = run(&empty);
    assert!(!out.status.success(), "a reader without the keys must fail");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PEOPLE[0].0));
}

/// The lines of a CSV answer in a fixed order.
fn sorted_lines(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}
