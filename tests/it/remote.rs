//! File sources that are not on local disk: one file at an HTTP(S) URL, and
//! every object under a prefix of a real S3-protocol server (moto). The
//! bytes stream into the encrypted raw zone, so nothing of a delivery is
//! ever plaintext on the lake's disk; a rerun takes nothing twice.

use crate::formats::{
    NAME, assert_no_values_shown, failed_cleanly, hostile_contract, hostile_csv, hostile_row,
    path_str, query, raw_entries, read_request_head, runs_of, texts_of,
};
use crate::support::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOKEN: &str = "tok-entregas-91b2c7d4-segredo";

/// A tiny HTTP/1.1 file server on 127.0.0.1: `GET <path>` answers the
/// route's status and body to requests bearing the token, 401 to others.
struct FileServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

fn serve_files(routes: HashMap<&'static str, (u16, Vec<u8>)>) -> FileServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    // Detached: it ends with the test process.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(head) = read_request_head(&mut stream) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let authorized = head.lines().any(|l| {
                l.to_ascii_lowercase().starts_with("authorization:")
                    && l.ends_with(&format!("Bearer {TOKEN}"))
            });
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body) = match routes.get(path.as_str()) {
                _ if !authorized => (401, b"token invalido".to_vec()),
                Some((status, body)) => (*status, body.clone()),
                None => (404, b"nao encontrado".to_vec()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    FileServer { port, requests }
}

fn url_source(dir: &Path, name: &str, url: &str) -> String {
    hostile_contract(dir, name);
    let path = write_file(
        dir,
        &format!("{name}.source.toml"),
        &format!(
            r#"name = "{name}"
dataset = "{name}"
contract = "{name}.toml"

[source]
type = "file"
url = "{url}"
auth = {{ kind = "bearer", token_env = "LAGOA_IT_FILE_TOKEN" }}
"#
        ),
    );
    path_str(&path).to_owned()
}

const ENV: [(&str, &str); 3] = [
    ("LAGOA_IT_FILE_TOKEN", TOKEN),
    ("NO_PROXY", "127.0.0.1,localhost"),
    ("no_proxy", "127.0.0.1,localhost"),
];

/// No file of the lake holds these bytes (the raw zone is encrypted).
fn assert_not_at_rest(lake: &Path, values: &[&str]) {
    for file in all_files(lake) {
        let bytes = std::fs::read(&file).unwrap();
        for value in values {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{} holds {value:?} in plaintext",
                file.display()
            );
        }
    }
}

#[test]
fn a_file_at_a_url_lands_once_and_its_token_never_shows() {
    let (dir, lake) = new_lake();
    let csv = hostile_csv(40);
    let server = serve_files(HashMap::from([
        (
            "/entregas/obitos_2024_01.csv",
            (200, csv.clone().into_bytes()),
        ),
        ("/entregas/fora_do_ar.csv", (503, b"manutencao".to_vec())),
    ]));
    let base = format!("http://127.0.0.1:{}/entregas", server.port);
    let source = url_source(
        dir.path(),
        "obitos_url",
        &format!("{base}/obitos_2024_01.csv"),
    );

    let check = lagoa_env(&lake, &["source", "check", &source], &ENV);
    let check_out = texts_of(&check);
    assert!(check.status.success(), "{check_out}");

    let run = lagoa_env(&lake, &["source", "run", &source], &ENV);
    let run_out = texts_of(&run);
    assert!(
        run.status.success() && run_out.contains("obitos_2024_01.csv: ingested 40 rows"),
        "{run_out}"
    );
    let rows = query(
        &lake,
        "SELECT numerodo, cpf, valor FROM obitos_url ORDER BY numerodo",
    )
    .unwrap();
    assert_eq!(rows.len(), 40);
    let first: Vec<String> = hostile_row(1).split(';').map(str::to_owned).collect();
    assert_eq!(
        rows[0],
        vec![first[0].clone(), first[1].clone(), first[3].clone()]
    );
    let kept = raw_entries(&lake, "obitos_2024_01.csv");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["status"], "committed");
    assert_eq!(kept[0]["size_bytes"], csv.len());

    // Again: fetched, found identical by its fingerprint, nothing added
    // and no second raw copy.
    let before = server.requests.load(Ordering::SeqCst);
    let again = lagoa_env(&lake, &["source", "run", &source], &ENV);
    let again_out = texts_of(&again);
    assert!(
        again.status.success() && again_out.contains("obitos_2024_01.csv: already ingested"),
        "{again_out}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), before + 1);
    assert_eq!(
        query(&lake, "SELECT count(*) FROM obitos_url").unwrap()[0][0],
        "40"
    );
    assert_eq!(raw_entries(&lake, "obitos_2024_01.csv").len(), 1);

    // A server error is a failed run of class source_unreachable; nothing
    // visible, the dataset unchanged.
    let down = url_source(
        dir.path(),
        "obitos_url_down",
        &format!("{base}/fora_do_ar.csv"),
    );
    let failed = lagoa_env(&lake, &["source", "run", &down], &ENV);
    let failed_out = failed_cleanly(&failed, "a server answering 503");
    assert!(
        failed_out.contains("503") && failed_out.contains("fora_do_ar.csv"),
        "{failed_out}"
    );
    let runs = runs_of(&lake, "obitos_url_down");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["error_class"], "source_unreachable");

    // A missing token is a configuration problem named by its variable.
    let unset = lagoa_env(
        &lake,
        &["source", "run", &source],
        &[("NO_PROXY", "127.0.0.1"), ("no_proxy", "127.0.0.1")],
    );
    let unset_out = failed_cleanly(&unset, "an unset token variable");
    assert!(unset_out.contains("LAGOA_IT_FILE_TOKEN"), "{unset_out}");

    assert_no_values_shown(
        &lake,
        &[&check_out, &run_out, &again_out, &failed_out, &unset_out],
        &[TOKEN, NAME],
    );
    assert_not_at_rest(&lake, &[TOKEN, NAME, &first[1]]);
}

#[test]
fn every_object_under_an_s3_prefix_lands_once() {
    let Some(s3) = s3("every_object_under_an_s3_prefix_lands_once") else {
        return;
    };
    let (dir, lake) = new_lake();
    let prefix = format!("entregas-{}/obitos", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_bucket_name(&s3.bucket)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_allow_http(true)
        .build()
        .unwrap();
    let put = |key: &str, body: String| {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(format!("{prefix}/{key}"));
        runtime
            .block_on(store.put(&path, body.into_bytes().into()))
            .unwrap();
    };
    let delivery = |first: usize, rows: usize| {
        let mut text = "NUMERODO;CPF;NOME;VALOR\n".to_owned();
        for i in first..first + rows {
            text.push_str(&hostile_row(i));
            text.push('\n');
        }
        text
    };
    put("2024/obitos_01.csv", delivery(1, 10));
    put("2024/obitos_02.csv", delivery(11, 7));
    put("2024/LEIAME.txt.bak", "nao e uma entrega".into());
    put("2024/.parcial.csv", delivery(100, 3));

    hostile_contract(dir.path(), "obitos_s3");
    let source = write_file(
        dir.path(),
        "obitos_s3.source.toml",
        &format!(
            r#"name = "obitos_s3"
dataset = "obitos_s3"
contract = "obitos_s3.toml"

[source]
type = "file"
url = "s3://{}/{prefix}/"
pattern = "*.csv"
settle_seconds = 0

[source.s3]
endpoint = "{}"
allow_http = true
access_key_id_env = "LAGOA_IT_S3_KEY"
secret_access_key_env = "LAGOA_IT_S3_SECRET"
"#,
            s3.bucket, s3.endpoint
        ),
    );
    let source = path_str(&source).to_owned();
    let env = [
        ("LAGOA_IT_S3_KEY", "testing"),
        ("LAGOA_IT_S3_SECRET", "testing"),
        ("NO_PROXY", "127.0.0.1,localhost"),
        ("no_proxy", "127.0.0.1,localhost"),
    ];
    let count = || query(&lake, "SELECT count(*) FROM obitos_s3").unwrap()[0][0].clone();

    let check = lagoa_env(&lake, &["source", "check", &source], &env);
    assert!(check.status.success(), "{}", texts_of(&check));
    let out = texts_of(&lagoa_env(&lake, &["source", "run", &source], &env));
    assert!(
        out.contains("2024/obitos_01.csv: ingested 10 rows")
            && out.contains("2024/obitos_02.csv: ingested 7 rows")
            && !out.contains("LEIAME")
            && !out.contains("parcial"),
        "{out}"
    );
    assert_eq!(count(), "17");

    // Again: nothing new. Then a third object: only it is taken.
    let out = texts_of(&lagoa_env(&lake, &["source", "run", &source], &env));
    assert!(
        out.contains("2024/obitos_01.csv: already ingested")
            && out.contains("2024/obitos_02.csv: already ingested"),
        "{out}"
    );
    assert_eq!(count(), "17");
    put("2024/obitos_03.csv", delivery(18, 5));
    let out = texts_of(&lagoa_env(&lake, &["source", "run", &source], &env));
    assert!(
        out.contains("2024/obitos_03.csv: ingested 5 rows")
            && out.contains("2024/obitos_01.csv: already ingested"),
        "{out}"
    );
    assert_eq!(count(), "22");
    assert_eq!(raw_entries(&lake, "2024/obitos_03.csv").len(), 1);

    // A key variable that is not set: named, no run started.
    let unset = lagoa_env(
        &lake,
        &["source", "run", &source],
        &[("LAGOA_IT_S3_KEY", "testing"), ("NO_PROXY", "127.0.0.1")],
    );
    let unset_out = failed_cleanly(&unset, "an unset secret variable");
    assert!(unset_out.contains("LAGOA_IT_S3_SECRET"), "{unset_out}");
    assert_not_at_rest(&lake, &[NAME]);
}

#[test]
fn a_remote_source_refuses_what_it_cannot_stream() {
    let (dir, lake) = new_lake();
    let source = write_file(
        dir.path(),
        "planilha.source.toml",
        r#"name = "planilha"
dataset = "planilha"

[source]
type = "file"
url = "http://municipio.example/entregas/obitos.xlsx"
format = "xlsx"
auth = { kind = "bearer", token_env = "X" }
pattern = "*.xlsx"
"#,
    );
    let out = lagoa(&lake, &["source", "check", path_str(&source)]);
    let stderr = failed_cleanly(&out, "a remote xlsx");
    for expected in [
        "a xlsx cannot come from a remote source",
        "credentials in clear",
        "pattern applies to drop_folder or an s3:// prefix",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
}
