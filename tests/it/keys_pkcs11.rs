//! Master keys inside a PKCS#11 token (SoftHSM2, the software HSM Debian
//! ships), driven through the `lagoa` binary as an operator would, and
//! inspected with OpenSC's `pkcs11-tool`, a token client of its own.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "lagoa-test";
const PIN: &str = "7281";
const SO_PIN: &str = "918273";

/// A fresh SoftHSM2 token in a temporary directory.
struct Token {
    dir: tempfile::TempDir,
}

impl Token {
    fn new(test: &str) -> Option<Token> {
        let util = Command::new("softhsm2-util").arg("--version").output();
        if !Path::new(MODULE).exists() || util.is_err() {
            skip(test, "SoftHSM2 is not installed (Debian package softhsm2)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("token dir");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        let token = Token { dir };
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", LABEL])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", token.conf())
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(token)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn lagoa_with_pin(&self, lake: &Path, args: &[&str], pin: &str) -> Output {
        let conf = self.conf();
        lagoa_env(
            lake,
            args,
            &[
                ("SOFTHSM2_CONF", conf.to_str().expect("utf-8")),
                ("LAGOA_PKCS11_PIN", pin),
            ],
        )
    }

    fn lagoa(&self, lake: &Path, args: &[&str]) -> Output {
        self.lagoa_with_pin(lake, args, PIN)
    }

    fn ok(&self, lake: &Path, args: &[&str]) -> String {
        ok(self.lagoa(lake, args), args)
    }

    fn err(&self, lake: &Path, args: &[&str]) -> String {
        let out = self.lagoa(lake, args);
        assert!(!out.status.success(), "lagoa {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `lagoa ingest` of `file` into `obitos`, `cpf` and `nome` personal.
    fn ingest(&self, lake: &Path, file: &Path) -> String {
        self.ok(
            lake,
            &[
                "ingest",
                file.to_str().unwrap(),
                "--dataset",
                "obitos",
                "--personal",
                "cpf,nome",
            ],
        )
    }

    /// A lake whose master keys live in this token.
    fn lake(&self, root: &Path) -> PathBuf {
        let lake = root.join("lake");
        let out = self.ok(
            &lake,
            &[
                "init",
                "--keys",
                "pkcs11",
                "--pkcs11-module",
                MODULE,
                "--pkcs11-token",
                LABEL,
            ],
        );
        assert!(out.contains("pkcs11 (token \"lagoa-test\""), "{out}");
        lake
    }

    /// `pkcs11-tool` on this token, signed in.
    fn tool(&self, args: &[&str]) -> Output {
        Command::new("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", LABEL, "--login"])
            .args(["--pin", PIN])
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .expect("pkcs11-tool (Debian package opensc)")
    }

    fn secret_keys(&self) -> String {
        let out = self.tool(&["--list-objects", "--type", "secrkey"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn count(token: &Token, lake: &Path, sql: &str) -> Vec<Vec<String>> {
    csv_rows(&token.ok(lake, &["query", sql, "--format", "csv"]))
}

#[test]
fn keys_are_made_and_used_inside_the_token_and_never_leave_it() {
    let Some(token) = Token::new("keys_are_made_and_used_inside_the_token_and_never_leave_it")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = token.lake(dir.path());
    assert!(
        !lake.join("keys/keystore.json").exists(),
        "no key file is written when a token holds the keys"
    );
    let file = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    token.ingest(&lake, &file);
    assert_eq!(
        count(
            &token,
            &lake,
            "SELECT count(DISTINCT cpf) AS people, count(*) FROM obitos"
        ),
        vec![vec!["3", "6"]]
    );
    let checked = token.ok(&lake, &["check"]);
    assert!(
        checked.contains("keys     ok  pkcs11 (token \"lagoa-test\""),
        "{checked}"
    );
    let listed = token.ok(&lake, &["keys", "list"]);
    for id in ["lagoa.obitos.data.v1", "lagoa.obitos.pessoal.v1"] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
        let year = chrono::Utc::now().format("created=%Y-").to_string();
        assert!(line.contains(&year), "{line}");
    }

    // Seen from another client: AES keys labelled by id, sensitive and
    // never extractable; reading one's value is refused by the token.
    let objects = token.secret_keys();
    let obitos = objects
        .split("Secret Key Object")
        .filter(|o| o.contains("lagoa.obitos."))
        .collect::<Vec<_>>();
    assert_eq!(obitos.len(), 2, "{objects}");
    for object in obitos {
        assert!(object.contains("AES length 32"), "{object}");
        assert!(object.contains("never extractable"), "{object}");
        assert!(object.contains("sensitive"), "{object}");
        assert!(
            object.contains("Usage:      encrypt, decrypt\n"),
            "{object}"
        );
    }
    let read = token.tool(&[
        "--read-object",
        "--type",
        "secrkey",
        "--label",
        "lagoa.obitos.data.v1",
    ]);
    assert!(!read.status.success(), "a master key's value was read out");

    // The files name the key by id only; the lake directory holds no key.
    let files = token.ok(
        &lake,
        &[
            "query",
            "SELECT master_key_id FROM system.files",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&files), vec![vec!["lagoa.obitos.data.v1"]]);
}

#[test]
fn rotation_and_shredding_happen_in_the_token_and_hold_for_copies_of_the_lake() {
    let Some(token) =
        Token::new("rotation_and_shredding_happen_in_the_token_and_hold_for_copies_of_the_lake")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = token.lake(dir.path());
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    token.ingest(&lake, &f1);
    let rotated = token.ok(&lake, &["keys", "rotate", "--dataset", "obitos"]);
    assert!(rotated.contains("lagoa.obitos.data.v2"), "{rotated}");
    token.ingest(&lake, &f2);
    assert_eq!(
        count(
            &token,
            &lake,
            "SELECT master_key_id, count(*) FROM system.files GROUP BY 1 ORDER BY 1"
        ),
        vec![
            vec!["lagoa.obitos.data.v1", "1"],
            vec!["lagoa.obitos.data.v2", "1"]
        ]
    );
    assert_eq!(
        count(
            &token,
            &lake,
            "SELECT count(DISTINCT cpf), count(*) FROM obitos"
        ),
        vec![vec!["3", "12"]],
        "files of both versions stay readable"
    );
    assert_eq!(token.secret_keys().matches("lagoa.obitos.").count(), 4);

    // A copy of the whole lake directory (catalog, store, configuration)
    // taken before the shredding.
    let copy = dir.path().join("copy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&lake)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(copied.success());

    token.ok(&lake, &["keys", "shred", "obitos", "--yes"]);
    let objects = token.secret_keys();
    assert!(
        !objects.contains("lagoa.obitos."),
        "the token keeps no key of a shredded dataset: {objects}"
    );
    for lake in [&lake, &copy] {
        let err = token.err(lake, &["query", "SELECT count(*) FROM obitos"]);
        assert!(err.contains("crypto-shredded"), "{err}");
    }
    let err = token.err(&lake, &["keys", "rotate", "--dataset", "obitos"]);
    assert!(err.contains("shredded"), "{err}");
    let trail = token.ok(&lake, &["audit", "list", "--json"]);
    let shredded = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["entry"]["action"] == "dataset_shredded")
        .unwrap_or_else(|| panic!("no dataset_shredded in {trail}"));
    let subject = shredded["entry"]["subject"].as_str().unwrap();
    let year = chrono::Utc::now().format(" at %Y-").to_string();
    assert!(
        subject.starts_with("keys shredded in pkcs11 (token \"lagoa-test\"")
            && subject.contains(&year),
        "{shredded}"
    );
}

#[test]
fn a_wrong_pin_an_unknown_token_or_no_pin_is_refused_clearly() {
    let Some(token) = Token::new("a_wrong_pin_an_unknown_token_or_no_pin_is_refused_clearly")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = token.lake(dir.path());

    let out = token.lagoa_with_pin(&lake, &["check"], "0000");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PIN") && err.contains("lagoa-test") && !err.contains("0000"),
        "{err}"
    );

    let conf = token.conf();
    let no_pin = lagoa_env(
        &lake,
        &["check"],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
    );
    assert!(!no_pin.status.success());
    let err = String::from_utf8_lossy(&no_pin.stderr);
    assert!(err.contains("LAGOA_PKCS11_PIN"), "{err}");

    let other = dir.path().join("other");
    let out = token.lagoa(
        &other,
        &[
            "init",
            "--keys",
            "pkcs11",
            "--pkcs11-module",
            MODULE,
            "--pkcs11-token",
            "no-such-token",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no PKCS#11 token labelled \"no-such-token\""),
        "{err}"
    );

    let out = token.lagoa(
        &dir.path().join("third"),
        &[
            "init",
            "--keys",
            "pkcs11",
            "--pkcs11-module",
            "/nonexistent/libpkcs11.so",
            "--pkcs11-token",
            LABEL,
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/libpkcs11.so"), "{err}");

    // The lake keeps working with the right PIN, from a file this time.
    let pin_file = lake.join("pkcs11.pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = std::fs::read_to_string(lake.join("lagoa.toml")).unwrap();
    let config = config.replace("pkcs11_pin_file = \"\"", "pkcs11_pin_file = \"pkcs11.pin\"");
    std::fs::write(lake.join("lagoa.toml"), config).unwrap();
    let out = lagoa_env(
        &lake,
        &["check"],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `lagoa keys migrate --to pkcs11`: a lake started on the local key store
/// moves its keys into the token; with the key store and its seal gone,
/// the files written before still read, and new ones use the token's keys.
#[test]
fn a_local_lake_moves_its_keys_into_the_token() {
    let Some(token) = Token::new("a_local_lake_moves_its_keys_into_the_token") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    token.ok(&lake, &["init"]);
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    token.ingest(&lake, &f1);
    let sql = "SELECT cpf, nome, idade FROM obitos ORDER BY cpf, idade";
    let before = token.ok(&lake, &["query", sql, "--format", "csv"]);
    let moved = token.ok(
        &lake,
        &[
            "keys",
            "migrate",
            "--to",
            "pkcs11",
            "--pkcs11-module",
            MODULE,
            "--pkcs11-token",
            LABEL,
        ],
    );
    assert!(moved.contains("into pkcs11"), "{moved}");
    std::fs::remove_file(lake.join("keys/keystore.json")).unwrap();
    std::fs::remove_dir_all(seal_home(&lake)).unwrap();
    assert_eq!(token.ok(&lake, &["query", sql, "--format", "csv"]), before);

    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    token.ingest(&lake, &f2);
    let keys = token.ok(&lake, &["keys", "list"]);
    assert!(keys.contains("lagoa.obitos.pessoal.v2 "), "{keys}");
    assert!(
        keys.contains("moved, wrapped by lagoa.obitos.pessoal.v2"),
        "{keys}"
    );
    // A wrong PIN now fails the files written before the move too.
    let refused = token.lagoa_with_pin(&lake, &["query", sql], "0000");
    assert!(!refused.status.success());
}

/// A key destroyed in the token while a server holds its handle (another
/// process shredding, or the token's officer): the server's next use of it
/// is refused as a missing key, naming it, not taken for an outage of the
/// token (which would be retried for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_destroyed_under_a_running_server_is_refused_as_missing() {
    let Some(token) = Token::new("a_key_destroyed_under_a_running_server_is_refused_as_missing")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = token.lake(dir.path());
    let ingest = |name: &str, year: i32| {
        let file = write_file(dir.path(), name, &obitos_csv(year, 1));
        token.ok(
            &lake,
            &[
                "ingest",
                file.to_str().unwrap(),
                "--dataset",
                "obitos",
                "--level",
                "amplo",
            ],
        );
    };
    ingest("a.csv", 2023);
    let conf = token.conf();
    let bearer = admin_token(
        &lake,
        &[
            ("SOFTHSM2_CONF", conf.to_str().unwrap()),
            ("LAGOA_PKCS11_PIN", PIN),
        ],
    );
    let (_server, base) = serve_with(
        &lake,
        None,
        &[
            ("SOFTHSM2_CONF", conf.to_str().unwrap()),
            ("LAGOA_PKCS11_PIN", PIN),
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let ask = || async {
        let answer = http
            .post(format!("{base}/api/v1/query?format=csv"))
            .bearer_auth(&bearer)
            .json(&serde_json::json!({ "sql": "SELECT count(*) AS n FROM obitos" }))
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    };
    let (status, text) = ask().await;
    assert!(status.is_success(), "{status}: {text}");
    assert_eq!(csv_rows(&text), vec![vec!["3"]]);

    // A second delivery (a key-encryption key the server has not seen),
    // then the data key destroyed behind the server's back.
    ingest("b.csv", 2024);
    let deleted = token.tool(&[
        "--delete-object",
        "--type",
        "secrkey",
        "--label",
        "lagoa.obitos.data.v1",
    ]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let (status, text) = ask().await;
    assert!(!status.is_success(), "{status}: {text}");
    // (The API's error text masks digits and quoted words: `PKCS#…`.)
    assert!(
        text.contains("the key provider cannot give its key")
            && text.contains("lagoa.obitos.data.v1")
            && text.contains("is not in PKCS#"),
        "refused as a missing key, naming it: {text}"
    );
    assert!(!text.contains("unavailable"), "not an outage: {text}");
    assert!(!text.contains("tampered"), "not damage to the file: {text}");
}
