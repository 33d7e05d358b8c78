//! Master keys in a service speaking the AWS KMS API (moto's server, the
//! same one that serves the S3 tests), driven through the `lagoa` binary
//! and inspected with boto3, AWS's own client.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A lake whose keys are in moto's KMS under a prefix of its own.
struct KmsLake {
    endpoint: String,
    prefix: String,
    lake: PathBuf,
}

impl KmsLake {
    /// A temporary directory holding a new lake whose keys are in moto.
    fn start(test: &str) -> Option<(tempfile::TempDir, KmsLake)> {
        let dir = tempfile::tempdir().unwrap();
        let kms = KmsLake::new(test, dir.path())?;
        Some((dir, kms))
    }

    fn new(test: &str, root: &Path) -> Option<KmsLake> {
        let server = s3(test)?;
        let prefix = format!("t{}/", uuid::Uuid::now_v7().simple());
        let kms = KmsLake {
            endpoint: server.endpoint.clone(),
            prefix,
            lake: root.join("lake"),
        };
        let out = kms.ok(&[
            "init",
            "--keys",
            "kms",
            "--kms-endpoint",
            &kms.endpoint,
            "--kms-allow-http",
            "--kms-alias-prefix",
            &kms.prefix,
        ]);
        assert!(out.contains("kms (http://127.0.0.1:"), "{out}");
        Some(kms)
    }

    fn run_at(&self, lake: &Path, args: &[&str]) -> Output {
        lagoa_env(lake, args, &s3_env())
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.run_at(&self.lake, args), args)
    }

    fn err_at(&self, lake: &Path, args: &[&str]) -> String {
        let out = self.run_at(lake, args);
        assert!(!out.status.success(), "lagoa {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn ingest(&self, file: &Path) -> String {
        self.ok(&[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--personal",
            "cpf,nome",
        ])
    }

    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        csv_rows(&self.ok(&["query", sql, "--format", "csv"]))
    }

    /// `alias state` lines for this lake's aliases, asked with boto3.
    fn aliases(&self) -> Vec<String> {
        let script = r#"
import sys, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
for alias in kms.list_aliases()["Aliases"]:
    name = alias["AliasName"]
    if name.startswith("alias/" + sys.argv[2]):
        meta = kms.describe_key(KeyId=name)["KeyMetadata"]
        print(name, meta["KeyState"])
"#;
        let mut lines: Vec<String> = boto3(script, &[&self.endpoint, &self.prefix])
            .lines()
            .map(|l| l.replacen(&format!("alias/{}", self.prefix), "", 1))
            .collect();
        lines.sort();
        lines
    }
}

#[test]
fn a_kms_holds_the_keys_through_ingest_rotation_and_shredding() {
    let Some((dir, kms)) =
        KmsLake::start("a_kms_holds_the_keys_through_ingest_rotation_and_shredding")
    else {
        return;
    };
    assert!(!kms.lake.join("keys/keystore.json").exists());
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    kms.ingest(&f1);
    assert_eq!(
        kms.rows("SELECT count(DISTINCT cpf), count(*) FROM obitos"),
        vec![vec!["3", "6"]]
    );
    let checked = kms.ok(&["check"]);
    assert!(
        checked.contains("keys     ok  kms (http://127.0.0.1:"),
        "{checked}"
    );
    let aliases = kms.aliases();
    for alias in ["obitos/data/v1 Enabled", "obitos/pessoal/v1 Enabled"] {
        assert!(aliases.iter().any(|a| a == alias), "{aliases:?}");
    }

    let rotated = kms.ok(&["keys", "rotate", "--dataset", "obitos"]);
    assert!(rotated.contains("lagoa.obitos.data.v2"), "{rotated}");
    kms.ingest(&f2);
    assert_eq!(
        kms.rows("SELECT master_key_id, count(*) FROM system.files GROUP BY 1 ORDER BY 1"),
        vec![
            vec!["lagoa.obitos.data.v1", "1"],
            vec!["lagoa.obitos.data.v2", "1"]
        ]
    );
    assert_eq!(
        kms.rows("SELECT count(DISTINCT cpf), count(*) FROM obitos"),
        vec![vec!["3", "12"]]
    );
    let listed = kms.ok(&["keys", "list"]);
    let year = chrono::Utc::now().format("created=%Y-").to_string();
    assert!(
        listed
            .lines()
            .filter(|l| l.starts_with("lagoa.obitos."))
            .all(|l| l.contains(&year)),
        "{listed}"
    );
    assert_eq!(listed.matches("lagoa.obitos.").count(), 4, "{listed}");

    let copy = dir.path().join("copy");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&kms.lake)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(copied.success());
    kms.ok(&["keys", "shred", "obitos", "--yes"]);
    let aliases = kms.aliases();
    let of_obitos: Vec<&String> = aliases
        .iter()
        .filter(|a| a.starts_with("obitos/"))
        .collect();
    assert_eq!(of_obitos.len(), 4, "{aliases:?}");
    assert!(
        of_obitos.iter().all(|a| a.ends_with(" PendingDeletion")),
        "every key of the dataset is scheduled for deletion: {aliases:?}"
    );
    for lake in [&kms.lake, &copy] {
        let err = kms.err_at(lake, &["query", "SELECT count(*) FROM obitos"]);
        assert!(err.contains("crypto-shredded"), "{err}");
    }
    // Who rotated and shredded, and what the service said, are in the trail.
    let trail = kms.ok(&["audit", "list", "--json"]);
    let entries: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |action: &str| {
        entries
            .iter()
            .find(|e| e["entry"]["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {trail}"))["entry"]
            .clone()
    };
    let rotated = of("keys_rotated");
    assert!(
        rotated["principal"].as_str().unwrap().starts_with("cli:"),
        "{rotated}"
    );
    assert!(
        rotated["subject"]
            .as_str()
            .unwrap()
            .contains("lagoa.obitos.data.v2"),
        "{rotated}"
    );
    let shredded = of("dataset_shredded");
    let subject = shredded["subject"].as_str().unwrap();
    assert!(
        subject.contains("keys shredded in kms (")
            && subject.contains("(the service deletes the keys then)"),
        "{shredded}"
    );
}

#[test]
fn a_kms_that_cannot_be_reached_fails_the_run_as_keys_and_commits_nothing() {
    let Some((dir, kms)) =
        KmsLake::start("a_kms_that_cannot_be_reached_fails_the_run_as_keys_and_commits_nothing")
    else {
        return;
    };
    let file = write_file(dir.path(), "a.csv", &obitos_csv(2023, 1));
    // The service moves away: nothing listens at the configured address.
    let config = std::fs::read_to_string(kms.lake.join("lagoa.toml")).unwrap();
    let gone = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(
        kms.lake.join("lagoa.toml"),
        config.replace(&kms.endpoint, &gone),
    )
    .unwrap();
    let err = kms.err_at(
        &kms.lake,
        &["ingest", file.to_str().unwrap(), "--dataset", "obitos"],
    );
    assert!(
        err.contains("unavailable") && err.contains(&gone),
        "the error names the service and says it is unavailable: {err}"
    );
    // Back at its address, the service shows what happened meanwhile.
    std::fs::write(kms.lake.join("lagoa.toml"), config).unwrap();
    let runs = kms.ok(&[
        "query",
        "SELECT status, error_class FROM system.runs",
        "--format",
        "csv",
    ]);
    assert_eq!(csv_rows(&runs), vec![vec!["failed", "keys"]], "{runs}");
    let datasets = kms.ok(&["datasets", "--format", "csv"]);
    assert!(!datasets.contains("obitos,"), "{datasets}");
}

#[test]
fn requests_carry_signatures_a_checking_kms_accepts_and_a_wrong_secret_is_refused() {
    let test = "requests_carry_signatures_a_checking_kms_accepts_and_a_wrong_secret_is_refused";
    // A KMS that checks every signature (moto recomputes SigV4 with
    // botocore) once the first three calls have made a user and its key.
    let Some((endpoint, _)) = start_moto_server(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]) else {
        skip(test, "no moto server: run scripts/bootstrap");
        return;
    };
    let script = r#"
import sys, json, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="lagoa")
key = iam.create_access_key(UserName="lagoa")["AccessKey"]
iam.put_user_policy(UserName="lagoa", PolicyName="kms", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
    let python = python().expect("the project's virtualenv (scripts/bootstrap)");
    let out = std::process::Command::new(python)
        .args(["-c", script, &endpoint])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = String::from_utf8(out.stdout).unwrap();
    let (access, secret) = created.trim().split_once(' ').expect("a key pair");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let run = |args: &[&str], secret: &str| {
        lagoa_env(
            &lake,
            args,
            &[
                ("AWS_ACCESS_KEY_ID", access),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_REGION", "us-east-1"),
            ],
        )
    };
    let init = [
        "init",
        "--keys",
        "kms",
        "--kms-endpoint",
        &endpoint,
        "--kms-allow-http",
    ];
    ok(run(&init, secret), &init);
    let file = write_file(dir.path(), "a.csv", &obitos_csv(2023, 1));
    let ingest = [
        "ingest",
        file.to_str().unwrap(),
        "--dataset",
        "obitos",
        "--personal",
        "cpf",
    ];
    ok(run(&ingest, secret), &ingest);
    let query = [
        "query",
        "SELECT count(DISTINCT cpf) FROM obitos",
        "--format",
        "csv",
    ];
    assert_eq!(csv_rows(&ok(run(&query, secret), &query)), vec![vec!["3"]]);

    let forged = run(&["check"], "not-the-secret");
    assert!(!forged.status.success(), "a wrong secret was accepted");
    let err = String::from_utf8_lossy(&forged.stderr);
    assert!(err.contains("refused") && !err.contains(secret), "{err}");
}

/// The KMS requests one command made, by operation, from its debug log.
fn kms_requests(stderr: &[u8]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(stderr).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["message"] == "kms request" {
            let operation = event["operation"].as_str().unwrap_or("?").to_owned();
            *counts.entry(operation).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn the_kms_is_called_per_key_not_per_file_or_row() {
    let Some((dir, kms)) = KmsLake::start("the_kms_is_called_per_key_not_per_file_or_row") else {
        return;
    };
    // Deliveries of very different sizes, the big one written as ten files;
    // each ingest is its own process, as the daemon's runs are.
    let first = write_file(dir.path(), "first.csv", &obitos_csv(2022, 1));
    let small = write_file(dir.path(), "small.csv", &obitos_csv(2023, 1));
    // Ten years, one file per year in a dataset partitioned by year.
    let mut years = obitos_csv(2015, 700);
    for year in 2016..=2024 {
        years.push_str(obitos_csv(year, 700).split_once('\n').unwrap().1);
    }
    let big = write_file(dir.path(), "big.csv", &years);
    let mut env = s3_env();
    env.push(("LAGOA_LOG", "lagoa_keys=debug"));
    let ingest = |file: &Path| {
        let args = [
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--personal",
            "cpf,nome",
            "--partition",
            "ano",
        ];
        let out = lagoa_env(&kms.lake, &args, &env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        kms_requests(&out.stderr)
    };
    ingest(&first); // the dataset's first keys are made here
    let small_calls = ingest(&small);
    let big_calls = ingest(&big);
    let files = kms.rows("SELECT count(*) FROM system.files");
    assert!(
        files[0][0].parse::<u32>().unwrap() >= 12,
        "the big delivery was cut into several files: {files:?}"
    );
    let encrypts = |calls: &std::collections::BTreeMap<String, usize>| {
        calls.get("Encrypt").copied().unwrap_or(0)
    };
    // One Encrypt per key-encryption key (data, each personal column) and
    // per raw copy, whatever the rows and files.
    assert!(encrypts(&small_calls) >= 1, "{small_calls:?}");
    assert_eq!(
        encrypts(&big_calls),
        encrypts(&small_calls),
        "21,000 rows in 10 files cost no more Encrypt calls than 3 rows in 1: {big_calls:?} vs {small_calls:?}"
    );
    assert!(encrypts(&big_calls) <= 5, "{big_calls:?}");
    let total: usize = big_calls.values().sum();
    assert!(total <= 15, "KMS requests of one ingest: {big_calls:?}");

    let query = [
        "query",
        "SELECT count(DISTINCT cpf) FROM obitos",
        "--format",
        "csv",
    ];
    let out = lagoa_env(&kms.lake, &query, &env);
    assert!(out.status.success());
    let read_calls = kms_requests(&out.stderr);
    let decrypts = read_calls.get("Decrypt").copied().unwrap_or(0);
    // One Decrypt per distinct key-encryption key in the files read (three
    // ingest processes, each with its own), not per file or row group.
    assert!(
        (1..=9).contains(&decrypts),
        "Decrypt calls for {files:?} files: {read_calls:?}"
    );
    eprintln!(
        "KMS requests: small ingest {small_calls:?}, big ingest {big_calls:?}, query {read_calls:?}"
    );
}

#[tokio::test]
async fn governed_queries_on_a_server_ask_the_kms_once_per_key_not_once_per_query() {
    let Some((dir, kms)) =
        KmsLake::start("governed_queries_on_a_server_ask_the_kms_once_per_key_not_once_per_query")
    else {
        return;
    };
    let file = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    kms.ok(&[
        "ingest",
        file.to_str().unwrap(),
        "--dataset",
        "obitos",
        "--level",
        "amplo",
    ]);
    let token = admin_token(&kms.lake, &s3_env());
    let mut env = s3_env();
    env.push(("LAGOA_LOG", "lagoa_keys=debug,info"));
    let (_server, base, log) = serve_logged(&kms.lake, None, &env);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let decrypts = || {
        kms_requests(log.lock().unwrap().as_bytes())
            .get("Decrypt")
            .copied()
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let answer = http
            .post(format!("{base}/api/v1/query?format=csv"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "sql": "SELECT count(*) AS n FROM obitos" }))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(status.is_success(), "{status}: {text}");
        assert_eq!(csv_rows(&text), vec![vec!["6"]]);
        seen.push(decrypts().unwrap_or(0));
    }
    assert!(
        seen[0] >= 1,
        "the first query unwraps through the KMS: {seen:?}"
    );
    assert_eq!(
        seen[1..],
        [seen[0], seen[0]],
        "later queries reuse what the first unwrapped: {seen:?}"
    );
}

/// `lagoa keys migrate --to kms`: a lake started on the local key store
/// moves its keys into the KMS, the key store and its seal key file are
/// destroyed, and every file, raw copy and the audit trail still read;
/// new files use the KMS's own keys, and shredding in the KMS makes the
/// files written before the move unreadable too.
#[test]
fn a_local_lake_moves_its_keys_into_the_kms_and_loses_no_file() {
    let Some(server) = s3("a_local_lake_moves_its_keys_into_the_kms_and_loses_no_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let run = |args: &[&str]| lagoa_env(&lake, args, &s3_env());
    let run_ok = |args: &[&str]| ok(run(args), args);
    run_ok(&["init"]);
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    run_ok(&[
        "ingest",
        f1.to_str().unwrap(),
        "--dataset",
        "obitos",
        "--personal",
        "cpf,nome",
    ]);
    // An audited action before the move: the audit trail's key is one of
    // the keys that move.
    run_ok(&["institution", "add", "recife", "--role", "provider"]);
    let sql = "SELECT cpf, nome, idade FROM obitos ORDER BY cpf, idade";
    let before = run_ok(&["query", sql, "--format", "csv"]);

    let prefix = format!("t{}/", uuid::Uuid::now_v7().simple());
    let moved = run_ok(&[
        "keys",
        "migrate",
        "--to",
        "kms",
        "--kms-endpoint",
        &server.endpoint,
        "--kms-allow-http",
        "--kms-alias-prefix",
        &prefix,
    ]);
    assert!(moved.contains("Moved "), "{moved}");
    assert!(moved.contains("No file was rewritten"), "{moved}");
    let config = std::fs::read_to_string(lake.join("lagoa.toml")).unwrap();
    assert!(config.contains("provider = \"kms\""), "{config}");
    assert!(config.contains("moved_from = \"local\""), "{config}");

    // The local key store and its seal go.
    std::fs::remove_file(lake.join("keys/keystore.json")).unwrap();
    std::fs::remove_dir_all(seal_home(&lake)).unwrap();

    assert_eq!(run_ok(&["query", sql, "--format", "csv"]), before);
    run_ok(&["check"]);
    let audit = run_ok(&["audit", "verify"]);
    assert!(
        audit.contains("2 entries") && audit.contains("intact"),
        "the entry made before the move and the move's own: {audit}"
    );
    let raw = run_ok(&["raw", "list", "--json"]);
    let raw_id = raw
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["status"] == "committed")
        .and_then(|r| r["raw_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no committed delivery in {raw}"));
    let back = dir.path().join("back.csv");
    run_ok(&["raw", "get", &raw_id, "--output", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&f1).unwrap(),
        "the raw copy made before the move reads back as delivered"
    );

    // New files use the KMS's keys, numbered after the moved ones.
    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    run_ok(&[
        "ingest",
        f2.to_str().unwrap(),
        "--dataset",
        "obitos",
        "--personal",
        "cpf,nome",
    ]);
    let keys = run_ok(&["keys", "list"]);
    assert!(keys.contains("lagoa.obitos.data.v2 "), "{keys}");
    assert!(keys.contains("lagoa.obitos.data.v1 "), "{keys}");
    assert!(
        keys.contains("moved, wrapped by lagoa.obitos.data.v2"),
        "{keys}"
    );
    assert_eq!(
        csv_rows(&run_ok(&[
            "query",
            "SELECT count(*) FROM obitos",
            "--format",
            "csv"
        ])),
        vec![vec!["12"]]
    );
    let listed = run_ok(&["audit", "list"]);
    assert!(listed.contains("keys_migrated"), "{listed}");

    // Shredding in the KMS takes the moved keys with it.
    run_ok(&["keys", "shred", "obitos", "--yes"]);
    let refused = run(&["query", "SELECT count(*) FROM obitos WHERE ano = 2023"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("shred"), "{stderr}");
    let kms = KmsLake {
        endpoint: server.endpoint.clone(),
        prefix,
        lake: lake.clone(),
    };
    let obitos: Vec<String> = kms
        .aliases()
        .into_iter()
        .filter(|a| a.starts_with("obitos/"))
        .collect();
    assert_eq!(
        obitos,
        vec![
            "obitos/data/v2 PendingDeletion",
            "obitos/pessoal/v2 PendingDeletion"
        ],
        "the keys wrapping the moved ones are the dataset's, and shredded with it"
    );
}

/// Other readers keep working with the keys in the KMS: PyArrow through
/// the Python client in `interop/python`, and Spark through the Java
/// client in `interop/spark` (compiled here with the JDK), each reading
/// the same rows Lagoa does, the KMS releasing the keys.
#[test]
fn pyarrow_and_spark_read_the_files_with_the_keys_in_the_kms() {
    let test = "pyarrow_and_spark_read_the_files_with_the_keys_in_the_kms";
    let Some((dir, kms)) = KmsLake::start(test) else {
        return;
    };
    let Some(python) = python() else {
        skip(test, "the Python virtualenv is missing (scripts/bootstrap)");
        return;
    };
    let f = write_file(dir.path(), "a.csv", &obitos_csv(2023, 3));
    kms.ingest(&f);
    let mut ours: Vec<Vec<String>> = kms.rows("SELECT cpf, nome, idade FROM obitos");
    ours.sort();
    assert_eq!(ours.len(), 9);
    let files = parquet_files(&kms.lake);
    assert!(!files.is_empty());
    let as_rows = |out: &std::process::Output, who: &str| -> Vec<Vec<String>> {
        assert!(
            out.status.success(),
            "{who} could not read the files: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut rows: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                ["cpf", "nome", "idade"]
                    .iter()
                    .map(|c| match &v[*c] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        rows.sort();
        rows
    };

    // PyArrow, file by file.
    let client = repo_root().join("interop/python/lagoa_kms.py");
    let mut pyarrow_rows = Vec::new();
    for file in &files {
        let out = std::process::Command::new(&python)
            .arg(&client)
            .args(["--endpoint", &kms.endpoint, "--alias-prefix", &kms.prefix])
            .arg("--file")
            .arg(file)
            .args(["--columns", "cpf,nome,idade"])
            .envs(s3_env())
            .output()
            .expect("python");
        pyarrow_rows.extend(as_rows(&out, "PyArrow"));
    }
    pyarrow_rows.sort();
    assert_eq!(pyarrow_rows, ours);

    // Under another lake's aliases the KMS has no key, and PyArrow fails.
    let out = std::process::Command::new(&python)
        .arg(&client)
        .args(["--endpoint", &kms.endpoint, "--alias-prefix", "elsewhere/"])
        .arg("--file")
        .arg(&files[0])
        .envs(s3_env())
        .output()
        .expect("python");
    assert!(!out.status.success(), "a wrong alias prefix finds no key");

    // Spark, all files at once, with the Java client compiled now.
    let jars = std::process::Command::new(&python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), 'jars'))",
        ])
        .output()
        .expect("python");
    if !jars.status.success() {
        skip(test, "pyspark is not installed (scripts/bootstrap)");
        return;
    }
    let jars = String::from_utf8_lossy(&jars.stdout).trim().to_owned();
    let classes = dir.path().join("classes");
    let javac = std::process::Command::new("javac")
        .arg("-cp")
        .arg(format!("{jars}/*"))
        .arg("-d")
        .arg(&classes)
        .arg(repo_root().join("interop/spark/src/lagoa/interop/LagoaKmsClient.java"))
        .output();
    let Ok(javac) = javac else {
        skip(test, "no JDK (javac): scripts/bootstrap installs one");
        return;
    };
    assert!(
        javac.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let out = std::process::Command::new(&python)
        .arg(repo_root().join("tests/py/spark_read_kms.py"))
        .args([&kms.endpoint, &kms.prefix])
        .arg(&classes)
        .arg("cpf,nome,idade")
        .args(&files)
        .envs(s3_env())
        .output()
        .expect("python");
    assert_eq!(as_rows(&out, "Spark"), ours);
}

impl KmsLake {
    /// Runs a boto3 KMS call on this lake's key behind `alias` (without
    /// `alias/<prefix>`): `disable_key`, `enable_key`, `delete_alias`,
    /// `create_alias`.
    fn kms_admin(&self, action: &str, alias: &str, key_id: &str) -> String {
        let script = r#"
import sys, boto3
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
action, alias, key_id = sys.argv[2], sys.argv[3], sys.argv[4]
if action == "key_id":
    print(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
elif action == "disable_key":
    kms.disable_key(KeyId=key_id)
elif action == "enable_key":
    kms.enable_key(KeyId=key_id)
elif action == "delete_alias":
    kms.delete_alias(AliasName=alias)
elif action == "create_alias":
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
"#;
        let alias = format!("alias/{}{alias}", self.prefix);
        boto3(script, &[&self.endpoint, action, &alias, key_id])
            .trim()
            .to_owned()
    }
}

/// Runs a Python script with boto3 (the project's virtualenv) and returns
/// what it printed; a failure fails the test with its error.
fn boto3(script: &str, args: &[&str]) -> String {
    let python = python().expect("the project's virtualenv (scripts/bootstrap)");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A stand-in for a KMS that is there but broken: every request answered
/// `500`, or (`silent`) accepted and never answered. Returns its address.
fn broken_kms(silent: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            if silent {
                held.push(stream);
                continue;
            }
            let mut stream = stream;
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    address
}

/// Bad keys and a bad service, each a clear error naming the key or the
/// service, never a key's bytes, and nothing lost: a disabled key, an alias
/// that is gone, a KMS that answers 500 and one that never answers.
#[test]
fn a_disabled_key_a_missing_alias_and_a_failing_kms_each_say_what_is_wrong() {
    let Some((dir, kms)) =
        KmsLake::start("a_disabled_key_a_missing_alias_and_a_failing_kms_each_say_what_is_wrong")
    else {
        return;
    };
    let a = write_file(dir.path(), "a.csv", &obitos_csv(2023, 1));
    kms.ingest(&a);
    let cpfs = "SELECT count(DISTINCT cpf) FROM obitos";
    assert_eq!(kms.rows(cpfs), vec![vec!["3"]]);

    // A disabled personal key: its columns refuse, naming the key; the
    // other columns still read.
    let personal = kms.kms_admin("key_id", "obitos/pessoal/v1", "");
    kms.kms_admin("disable_key", "", &personal);
    let err = kms.err_at(&kms.lake, &["query", cpfs]);
    assert!(
        err.contains("lagoa.obitos.pessoal.v1") && err.contains("disabled"),
        "{err}"
    );
    assert_eq!(
        kms.rows("SELECT count(*) FROM obitos"),
        vec![vec!["3"]],
        "columns under the data key still read"
    );
    let b = write_file(dir.path(), "b.csv", &obitos_csv(2024, 1));
    let err = kms.err_at(
        &kms.lake,
        &[
            "ingest",
            b.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--personal",
            "cpf,nome",
        ],
    );
    assert!(err.contains("lagoa.obitos.pessoal.v1"), "{err}");
    kms.kms_admin("enable_key", "", &personal);
    assert_eq!(kms.rows(cpfs), vec![vec!["3"]]);

    // The data key's alias removed: every read names the key it misses.
    let data = kms.kms_admin("key_id", "obitos/data/v1", "");
    kms.kms_admin("delete_alias", "obitos/data/v1", "");
    let err = kms.err_at(&kms.lake, &["query", "SELECT count(*) FROM obitos"]);
    assert!(
        err.contains("lagoa.obitos.data.v1") && err.contains("is not in the KMS at"),
        "{err}"
    );
    kms.kms_admin("create_alias", "obitos/data/v1", &data);
    assert_eq!(kms.rows("SELECT count(*) FROM obitos"), vec![vec!["3"]]);

    // A KMS answering 500, then one that never answers: `keys`, unavailable,
    // naming the service; the timeout bounds the wait.
    for (silent, expect) in [(false, "500"), (true, "no answer in time")] {
        let address = broken_kms(silent);
        let started = std::time::Instant::now();
        let out = lagoa_env(
            &kms.lake,
            &["query", "SELECT count(*) FROM obitos"],
            &[
                s3_env(),
                vec![
                    ("LAGOA__KEYS__KMS_ENDPOINT", address.as_str()),
                    ("LAGOA__KEYS__KMS_TIMEOUT_SECONDS", "1"),
                ],
            ]
            .concat(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("unavailable") && err.contains(&address),
            "{err}"
        );
        assert!(err.to_lowercase().contains(expect), "{expect}: {err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "three attempts of a second each, not a hang"
        );
    }
    // Nothing was lost meanwhile.
    assert_eq!(kms.rows(cpfs), vec![vec!["3"]]);
}
