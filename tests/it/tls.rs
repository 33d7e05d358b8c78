//! The doors of `lagoa serve` over TLS, as tools on other hosts reach
//! them. The PostgreSQL port: psql with `sslmode=verify-full` against a
//! test CA, plaintext refused from another host (and a port beyond loopback
//! without a certificate refused at start), a certificate renewed on SIGHUP
//! while a client stays connected. The console and the API: HTTPS that
//! curl verifies, HSTS, the session cookie `Secure`, the client's address
//! still on the audit trail. Certificates are made with `openssl`.

use crate::pg::setup;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate it signed (for localhost, 127.0.0.1 and
/// `ip`), made with openssl in `dir/<name>`.
pub struct Issued {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn issue(dir: &Path, name: &str, ip: Option<&str>) -> Issued {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let subject = format!("/CN=Lagoa test CA {name}");
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", &subject,
    ]);
    openssl(&d, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&d, &csr);
    let san = match ip {
        Some(ip) => format!("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:{ip}"),
        None => "subjectAltName=DNS:localhost,IP:127.0.0.1".to_owned(),
    };
    std::fs::write(d.join("san.ext"), san).unwrap();
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    Issued {
        ca: d.join("ca.pem"),
        cert: d.join("server.pem"),
        key: d.join("server.key"),
    }
}

/// This machine's first address that is not loopback, if it has one.
fn outside_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned)
}

/// psql with a libpq connection string; its output and error text.
fn psql_conn(conninfo: &str, token: &str, command: &str) -> (bool, String) {
    let out = Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGOPTIONS")
        .env_remove("PGSSLMODE")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn psql_verifies_the_port_s_certificate_and_other_hosts_need_tls() {
    let test = "psql_verifies_the_port_s_certificate_and_other_hosts_need_tls";
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("psql").arg("--version").output().is_err()
    {
        skip(test, "no openssl or psql: run scripts/bootstrap");
        return;
    }
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    let outside = outside_address();
    let a = issue(dir.path(), "a", outside.as_deref());
    let b = issue(dir.path(), "b", outside.as_deref());
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::copy(&a.cert, &cert).unwrap();
    std::fs::copy(&a.key, &key).unwrap();
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let (server, _url, log) = serve_logged(
        &lake,
        None,
        &[
            ("LAGOA__QUERY__PG_LISTEN", listen.as_str()),
            ("LAGOA__TLS__CERT_FILE", cert.to_str().unwrap()),
            ("LAGOA__TLS__KEY_FILE", key.to_str().unwrap()),
        ],
    );
    let conn = |host: &str, mode: &str, ca: &Path| {
        format!(
            "host={host} port={port} user=joao dbname=lagoa sslmode={mode} sslrootcert={}",
            ca.display()
        )
    };

    // Verified against the CA that signed it, refused against another.
    let (ok, out) = psql_conn(
        &conn("localhost", "verify-full", &a.ca),
        &s.joao,
        "\\conninfo",
    );
    assert!(ok && out.contains("SSL connection"), "{out}");
    let (ok, out) = psql_conn(
        &conn("localhost", "verify-full", &b.ca),
        &s.joao,
        "SELECT 1",
    );
    assert!(!ok && out.contains("certificate verify failed"), "{out}");
    // On loopback, plaintext is still taken.
    let (ok, out) = psql_conn(
        &conn("127.0.0.1", "disable", &a.ca),
        &s.joao,
        "SELECT count(*) FROM populacao",
    );
    assert!(ok && out.trim() == "2", "{out}");

    // From another host: TLS or nothing, refused before the password.
    if let Some(ip) = &outside {
        let (ok, out) = psql_conn(&conn(ip, "disable", &a.ca), &s.joao, "SELECT 1");
        assert!(!ok && out.contains("over TLS only"), "{out}");
        let (ok, out) = psql_conn(&conn(ip, "verify-full", &a.ca), &s.joao, "SELECT 1");
        assert!(ok, "{out}");
    } else {
        eprintln!(
            "{test}: this machine has no address beyond loopback; the other-host checks did not run"
        );
    }

    // A renewed certificate, read on SIGHUP: a client that stays connected
    // goes on, new ones see the new certificate.
    let python = python();
    let held = python.as_ref().map(|python| {
        let script = r#"
import sys, psycopg
conninfo, token = sys.argv[1], sys.argv[2]
with psycopg.connect(conninfo, password=token, autocommit=True) as conn:
    print(conn.execute("SELECT count(*) FROM populacao").fetchone()[0], flush=True)
    sys.stdin.readline()
    print(conn.execute("SELECT count(*) FROM populacao").fetchone()[0], flush=True)
"#;
        let mut child = Command::new(python)
            .args([
                "-c",
                script,
                &conn("localhost", "verify-full", &a.ca),
                &s.joao,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert_eq!(first.trim(), "2", "the held connection's first answer");
        (child, stdout)
    });
    std::fs::copy(&b.cert, &cert).unwrap();
    std::fs::copy(&b.key, &key).unwrap();
    // SIGHUP, then the log's word that it was taken.
    let pid = server.0.id().to_string();
    let hang_up_until = |said: &str| {
        let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(sent.success());
        let seen = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            log.lock().unwrap().contains(said)
        });
        assert!(seen, "{said}: {}", log.lock().unwrap());
    };
    hang_up_until("certificate was read again");
    let (ok, out) = psql_conn(
        &conn("localhost", "verify-full", &b.ca),
        &s.joao,
        "SELECT 1",
    );
    assert!(ok, "the renewed certificate: {out}");
    let (ok, out) = psql_conn(
        &conn("localhost", "verify-full", &a.ca),
        &s.joao,
        "SELECT 1",
    );
    assert!(!ok && out.contains("certificate verify failed"), "{out}");
    if let Some((mut child, mut stdout)) = held {
        use std::io::Write;
        child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        let mut second = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut second).unwrap();
        assert_eq!(second.trim(), "2", "the held connection after the reload");
        assert!(child.wait().unwrap().success());
    } else {
        skip(test, "no .venv/bin/python: run scripts/bootstrap");
    }
    // A key that is not the certificate's: the reload fails, the
    // certificate in use stays.
    std::fs::copy(&a.key, &key).unwrap();
    hang_up_until("could not be read again");
    let (ok, out) = psql_conn(
        &conn("localhost", "verify-full", &b.ca),
        &s.joao,
        "SELECT 1",
    );
    assert!(ok, "the certificate in use stays: {out}");
    let log = log.lock().unwrap().clone();
    assert!(
        !log.contains("PRIVATE KEY") && !log.contains(&s.joao),
        "{log}"
    );
}

/// `lagoa serve` with the console on `listen` and the PostgreSQL port on
/// `pg_listen`, without a certificate: it must refuse to start, saying
/// which door.
fn refused_at_start(lake: &Path, listen: &str, pg_listen: &str, door: &str) {
    let out = Command::new(lagoa_bin())
        .arg("--lake")
        .arg(lake)
        .args(["serve", "--listen", listen])
        .env_remove("LAGOA_LAKE")
        .env("LAGOA__QUERY__PG_LISTEN", pg_listen)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(door)
            && stderr.contains("beyond loopback, without TLS")
            && stderr.contains("tls.cert_file"),
        "{stderr}"
    );
}

#[test]
fn doors_beyond_loopback_without_a_certificate_are_refused_at_start() {
    let (_dir, lake) = new_lake();
    let listen = format!("0.0.0.0:{}", free_port());
    refused_at_start(&lake, "127.0.0.1:0", &listen, "query.pg_listen");
    refused_at_start(&lake, "0.0.0.0:0", "", "console.listen");
    // Said so explicitly, it serves.
    let (_server, _url) = serve_with(
        &lake,
        None,
        &[
            ("LAGOA__QUERY__PG_LISTEN", listen.as_str()),
            ("LAGOA__TLS__ALLOW_PLAINTEXT", "true"),
        ],
    );
}

#[test]
fn the_console_and_the_api_are_served_over_https() {
    let test = "the_console_and_the_api_are_served_over_https";
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        skip(test, "no openssl or curl: run scripts/bootstrap");
        return;
    }
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    let (a, b) = (issue(dir.path(), "a", None), issue(dir.path(), "b", None));
    let (_server, url) = serve_with(
        &lake,
        None,
        &[
            ("LAGOA__TLS__CERT_FILE", a.cert.to_str().unwrap()),
            ("LAGOA__TLS__KEY_FILE", a.key.to_str().unwrap()),
        ],
    );
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let url = format!("{}/", url.replace("127.0.0.1", "localhost"));
    let curl = |ca: &Path, args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "-D", "-", "--cacert"])
            .arg(ca)
            .args(args)
            .output()
            .unwrap()
    };
    let api = format!("{url}api/v1/datasets");
    let bearer = format!("Authorization: Bearer {}", s.joao);
    let out = curl(&a.ca, &["-H", &bearer, &api]);
    let answer = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("strict-transport-security: max-age=31536000"),
        "{answer}"
    );
    assert!(answer.contains("populacao"), "{answer}");
    // Another CA's client does not trust it; plaintext gets no answer.
    let out = curl(&b.ca, &[&api]);
    assert!(!out.status.success(), "verified against the wrong CA");
    let plain = api.replace("https://", "http://");
    let out = curl(&a.ca, &[&plain]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("populacao"),
        "plaintext answered"
    );
    // The console's session cookie is Secure over HTTPS.
    let login = format!("{url}login");
    let out = curl(
        &a.ca,
        &["--data-urlencode", &format!("token={}", s.maria), &login],
    );
    let answer = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let cookie = answer
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no session cookie: {answer}"));
    assert!(
        cookie.contains("secure")
            && cookie.contains("httponly")
            && cookie.starts_with("set-cookie: __host-lagoa_session="),
        "{cookie}"
    );
    // The client's address reaches the audit trail as over plain HTTP.
    let out = curl(&a.ca, &["-H", "Authorization: Bearer lagoa_nobody_x", &api]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HTTP/1.1 401"));
    let trail = lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1"]);
    assert!(trail.contains("api from 127.0.0.1"), "{trail}");
}

/// `lagoa daemon`'s `/metrics` door follows the same rule: HTTPS with the
/// certificate of `[tls]`, and no plaintext beyond loopback.
#[test]
fn the_daemon_s_metrics_are_served_over_https_and_not_in_clear_beyond_loopback() {
    let test = "the_daemon_s_metrics_are_served_over_https_and_not_in_clear_beyond_loopback";
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        skip(test, "no openssl or curl: run scripts/bootstrap");
        return;
    }
    let (dir, lake) = new_lake();
    // A scheduled source, so that the daemon has something to run.
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).unwrap();
    drop_folder_source(
        &lake,
        "obitos_tls",
        &folder,
        "0 6 * * *",
        "expected_frequency = \"daily\"",
        "",
    );
    let daemon = |env: &[(&str, &str)]| {
        let mut command = Command::new(lagoa_bin());
        command
            .arg("--lake")
            .arg(&lake)
            .arg("daemon")
            .env_remove("LAGOA_LAKE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        command
    };
    let outside = format!("0.0.0.0:{}", free_port());
    let out = daemon(&[("LAGOA__DAEMON__LISTEN", outside.as_str())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("daemon.listen") && stderr.contains("beyond loopback, without TLS"),
        "{stderr}"
    );
    let a = issue(dir.path(), "a", None);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _daemon = Killed(
        daemon(&[
            ("LAGOA__DAEMON__LISTEN", listen.as_str()),
            ("LAGOA__TLS__CERT_FILE", a.cert.to_str().unwrap()),
            ("LAGOA__TLS__KEY_FILE", a.key.to_str().unwrap()),
        ])
        .spawn()
        .unwrap(),
    );
    wait_for(
        "the daemon to listen",
        std::time::Duration::from_secs(30),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    let healthz = |scheme: &str| {
        Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert"])
            .arg(&a.ca)
            .arg(format!("{scheme}://localhost:{port}/healthz"))
            .output()
            .unwrap()
    };
    let over_tls = healthz("https");
    assert!(
        over_tls.status.success() && String::from_utf8_lossy(&over_tls.stdout).contains("ok"),
        "{over_tls:?}"
    );
    let plain = healthz("http");
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("ok"),
        "plaintext answered"
    );
}
