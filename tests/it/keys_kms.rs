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
        let python = python().expect("the project's virtualenv (scripts/bootstrap)");
        let out = std::process::Command::new(python)
            .args(["-c", script, &self.endpoint, &self.prefix])
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
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
    kms.ok(&["institution", "add", "seplag", "--role", "coordinator"]);
    kms.ok(&[
        "user",
        "add",
        "root",
        "--institution",
        "seplag",
        "--role",
        "admin",
    ]);
    let token = kms.ok(&["token", "create", "root"]).trim().to_owned();
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
