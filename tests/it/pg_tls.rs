//! The PostgreSQL port over TLS, as analysts' tools on other hosts reach
//! it: psql with `sslmode=verify-full` against a test CA, plaintext refused
//! from another host (and a port beyond loopback without a certificate
//! refused at start), and a certificate renewed on SIGHUP while a client
//! stays connected. Certificates are made with the `openssl` command.

use crate::pg::setup;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate it signed (for localhost, 127.0.0.1 and
/// `ip`), made with openssl in `dir/<name>`.
struct Issued {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
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

fn issue(dir: &Path, name: &str, ip: Option<&str>) -> Issued {
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

#[test]
fn a_port_beyond_loopback_without_a_certificate_is_refused_at_start() {
    let (_dir, lake) = new_lake();
    let listen = format!("0.0.0.0:{}", free_port());
    let out = Command::new(lagoa_bin())
        .arg("--lake")
        .arg(&lake)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("LAGOA_LAKE")
        .env("LAGOA__QUERY__PG_LISTEN", &listen)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("beyond loopback, without TLS") && stderr.contains("tls.cert_file"),
        "{stderr}"
    );
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
