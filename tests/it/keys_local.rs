//! The embedded key store, sealed: its master keys never sit in the lake in
//! clear, a copy of the lake without the seal reads nothing, and a wrong
//! passphrase is refused without ever being shown.

use crate::support::*;

/// A lake made by `lagoa init` names its seal key file, outside the lake,
/// and the key store holds no key in clear; the lake copied elsewhere
/// without that file refuses every read, naming what is missing.
#[test]
fn a_copied_lake_without_its_seal_key_file_reads_nothing() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 3));
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);

    let store = std::fs::read_to_string(lake.join("keys/keystore.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&store).unwrap();
    assert_eq!(doc["format"], "lagoa-local-keystore/2");
    let seal_file = doc["seal"]["key_file"].as_str().unwrap().to_owned();
    assert!(
        std::path::Path::new(&seal_file).starts_with(seal_home(&lake)),
        "{seal_file} is under the configuration directory, outside the lake"
    );
    assert!(!std::path::Path::new(&seal_file).starts_with(&lake));
    for (id, entry) in doc["keys"].as_object().unwrap() {
        assert!(entry.get("key").is_none(), "{id} is kept in clear");
        assert!(entry["sealed"].as_str().unwrap().len() > 40, "{id}");
    }

    // The lake is readable where it is...
    let rows = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM obitos",
            "--format",
            "csv",
        ],
    );
    assert_eq!(rows.lines().nth(1), Some("9"), "{rows}");

    // ...and a copy of the whole lake directory, taken without the seal
    // key file, is not.
    let copy_root = tempfile::tempdir().unwrap();
    let copy = copy_root.path().join("lake");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&lake)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::rename(&seal_file, format!("{seal_file}.away")).unwrap();
    let err = lagoa_err(&copy, &["query", "SELECT count(*) AS n FROM obitos"]);
    assert!(err.contains("seal key file"), "{err}");
    assert!(err.contains("is missing"), "{err}");
    let err = lagoa_err(&lake, &["keys", "list"]);
    assert!(err.contains(&seal_file), "the error names the file: {err}");
    std::fs::rename(format!("{seal_file}.away"), &seal_file).unwrap();
    lagoa_ok(&lake, &["query", "SELECT count(*) AS n FROM obitos"]);
}

/// `lagoa init --seal passphrase`: the key store opens only with the
/// passphrase; a missing or wrong one is refused with a message that
/// never repeats it.
#[test]
fn a_passphrase_sealed_store_refuses_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let good = [("LAGOA_KEYSTORE_PASSPHRASE", "cavalo correto bateria grampo")];
    let init = lagoa_env(&lake, &["init", "--seal", "passphrase"], &good);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        !seal_home(&lake).exists(),
        "a passphrase seal makes no key file"
    );
    let f = write_file(dir.path(), "obitos.csv", &obitos_csv(2024, 2));
    let out = lagoa_env(
        &lake,
        &[
            "ingest",
            f.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--personal",
            "cpf,nome",
        ],
        &good,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = std::fs::read_to_string(lake.join("keys/keystore.json")).unwrap();
    assert!(store.contains("argon2id"), "{store}");

    let missing = lagoa_err(&lake, &["keys", "list"]);
    assert!(missing.contains("LAGOA_KEYSTORE_PASSPHRASE"), "{missing}");
    let wrong = lagoa_env(
        &lake,
        &["keys", "list"],
        &[("LAGOA_KEYSTORE_PASSPHRASE", "cavalo errado")],
    );
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(stderr.contains("wrong key file or passphrase"), "{stderr}");
    assert!(
        !stderr.contains("cavalo"),
        "the passphrase never shows: {stderr}"
    );

    let listed = lagoa_env(&lake, &["keys", "list"], &good);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("lagoa.obitos.pessoal.v1"));
}
