//! Signing in through the state's identity provider, against a real one:
//! the certified `oidc-provider` package from npm on this machine's Node
//! (`tests/node/idp.mjs`, installed by scripts/bootstrap), on 127.0.0.1.
//!
//! Its access tokens on the API and on the PostgreSQL port (psql), as the
//! same principal as with a Lagoa token (same answers, same refusals, the
//! audit trail saying how the person signed in); tokens it never issued
//! (another key, `alg: none`, another issuer, a text `nbf`), or issued for
//! another audience, or expired, each refused and on the record; its keys
//! rotated while Lagoa runs. The console's sign-in through it, in headless
//! Chromium, is in `console_sso`.

use crate::pg::{psql, setup};
use crate::support::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const CLIENT_ID: &str = "lagoa-console";
pub const CLIENT_SECRET: &str = "segredo-do-cliente-de-teste";

/// The provider, running.
pub struct Idp {
    _child: Killed,
    pub issuer: String,
    /// Where the console gets the browser back.
    pub redirect: String,
}

/// Node and the provider's package, or why not.
pub fn idp_here(test: &str) -> bool {
    let package = repo_root().join("tests/node/node_modules/oidc-provider/package.json");
    if Command::new("node").arg("--version").output().is_err() || !package.exists() {
        skip(
            test,
            "node or the oidc-provider package is missing (scripts/bootstrap installs them)",
        );
        return false;
    }
    if python().is_none() {
        skip(test, "no Python venv (scripts/bootstrap makes it)");
        return false;
    }
    true
}

/// Starts the provider on `port` with the signing keys of `keys` (made
/// there when absent), its client sending browsers back to `console`.
pub fn start_idp(port: u16, keys: &Path, console: &str) -> Idp {
    let redirect = format!("{console}/login/oidc/callback");
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/node/idp.mjs"))
        .args(["--port", &port.to_string()])
        .arg("--keys")
        .arg(keys)
        .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
        .args(["--redirect-uri", &redirect])
        .args(["--post-logout-uri", &format!("{console}/login")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the identity provider");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the identity provider says it is ready");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    Idp {
        _child: child,
        issuer: ready["issuer"].as_str().unwrap().to_owned(),
        redirect,
    }
}

/// `tests/py/oidc_token.py` with `args`: the token it prints.
fn oidc_token(args: &[&str]) -> String {
    let out = Command::new(python().unwrap())
        .arg(repo_root().join("tests/py/oidc_token.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oidc_token.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An access token of `login`, through the provider's code flow.
pub fn access_token(idp: &Idp, login: &str, resource: Option<&str>) -> String {
    code_flow(idp, login, resource, "access")
}

/// The token (`access` or `id`) the code flow of `login` ends with.
fn code_flow(idp: &Idp, login: &str, resource: Option<&str>, what: &str) -> String {
    let mut args = vec![
        "code-flow",
        "--issuer",
        &idp.issuer,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--redirect-uri",
        &idp.redirect,
        "--login",
        login,
        "--what",
        what,
    ];
    if let Some(r) = resource {
        args.extend(["--resource", r]);
    }
    oidc_token(&args)
}

/// A token the provider never issued.
fn forged(idp: &Idp, kind: &str, sub: &str) -> String {
    oidc_token(&[
        "forge",
        "--issuer",
        &idp.issuer,
        "--aud",
        "lagoa",
        "--kind",
        kind,
        "--sub",
        sub,
    ])
}

/// Points the lake's `[oidc]` section at `idp`: each `(key, value)` line
/// replaced (values as TOML), and `roles` added to `[oidc.roles]`.
pub fn configure_oidc(lake: &Path, idp: &Idp, settings: &[(&str, &str)], roles: &[(&str, &str)]) {
    let path = lake.join("lagoa.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, section) = text.split_at(text.find("\n[oidc]\n").expect("an [oidc] section"));
    let mut section = section.to_owned();
    let issuer = format!("{:?}", idp.issuer);
    let redirect = format!("{:?}", idp.redirect);
    let client = format!("{CLIENT_ID:?}");
    let mut all: Vec<(&str, &str)> = vec![
        ("issuer", &issuer),
        ("client_id", &client),
        ("redirect_uri", &redirect),
        ("audience", "\"lagoa\""),
    ];
    all.extend_from_slice(settings);
    for (key, value) in all {
        let start = section
            .find(&format!("\n{key} = "))
            .unwrap_or_else(|| panic!("{key} in [oidc]"))
            + 1;
        let end = start + section[start..].find('\n').unwrap();
        section.replace_range(start..end, &format!("{key} = {value}"));
    }
    let roles: String = roles
        .iter()
        .map(|(group, role)| format!("{group:?} = {role:?}\n"))
        .collect();
    section = section.replace("[oidc.roles]\n", &format!("[oidc.roles]\n{roles}"));
    std::fs::write(&path, format!("{head}{section}")).unwrap();
}

/// The environment `lagoa serve` needs for the provider: the client's secret.
pub const SECRET_ENV: (&str, &str) = ("LAGOA_OIDC_CLIENT_SECRET", CLIENT_SECRET);

/// A GET of the API with `token` (curl): the status and the JSON body.
fn api_get(url: &str, token: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_owned())),
    )
}

#[test]
fn the_provider_s_access_tokens_sign_in_on_the_api_and_psql_and_forgeries_do_not() {
    let test = "the_provider_s_access_tokens_sign_in_on_the_api_and_psql_and_forgeries_do_not";
    if !idp_here(test) {
        return;
    }
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    // Ana of the provider is the analyst `ana` of `educ`, found by her CPF
    // claim (the catalog keeps only its keyed digest).
    let idp_port = free_port();
    let console_port = free_port();
    let console = format!("http://127.0.0.1:{console_port}");
    let keys_a = dir.path().join("idp-keys-a.json");
    let idp = start_idp(idp_port, &keys_a, &console);
    configure_oidc(
        &lake,
        &idp,
        &[("person_claim", "\"cpf\""), ("leeway_seconds", "0")],
        &[],
    );
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "ana",
            "--institution",
            "educ",
            "--role",
            "analyst",
        ],
    );
    let linked = lagoa_ok(&lake, &["user", "link", "ana", "--person", "52998224725"]);
    assert!(linked.contains("ana linked"), "{linked}");
    let ana_lagoa = lagoa_ok(&lake, &["token", "create", "ana"])
        .trim()
        .to_owned();
    let catalog = std::fs::read(lake.join("catalog.db")).unwrap();
    assert!(
        !catalog.windows(11).any(|w| w == b"52998224725"),
        "the CPF itself is in the catalog"
    );

    let pg_port = free_port();
    let (_server, url, _log) = serve_on(
        &lake,
        &format!("127.0.0.1:{console_port}"),
        Some(pg_port),
        &[SECRET_ENV],
    );
    let ana = access_token(&idp, "ana", None);

    // The API: the same principal, signed in through the provider.
    let (status, me) = api_get(&format!("{url}/api/v1/me"), &ana);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "ana");
    assert_eq!(me["signed_in"], "provider_token");
    let (_, me_by_token) = api_get(&format!("{url}/api/v1/me"), &ana_lagoa);
    assert_eq!(me_by_token["signed_in"], "lagoa_token");
    assert_eq!(me["role"], me_by_token["role"]);
    assert_eq!(me["institution"], me_by_token["institution"]);

    // psql: the access token is the password of the user it names.
    let count = "SELECT count(*) FROM populacao";
    let by_provider = psql(pg_port, "ana", &ana, &[count]);
    let by_token = psql(pg_port, "ana", &ana_lagoa, &[count]);
    assert!(
        by_provider.status.success(),
        "{}",
        String::from_utf8_lossy(&by_provider.stderr)
    );
    assert_eq!(by_provider.stdout, by_token.stdout);
    let query = last_audit(&lake);
    assert_eq!(query["principal"], "ana");
    assert_eq!(query["signed_in"], "lagoa_token", "{query}");
    let again = psql(pg_port, "ana", &ana, &[count]);
    assert!(again.status.success());
    let query = last_audit(&lake);
    assert_eq!(query["action"], "query");
    assert_eq!(query["signed_in"], "provider_token", "{query}");
    // Governance unchanged: no grant on obitos, by either way in.
    for password in [&ana, &ana_lagoa] {
        let denied = psql(pg_port, "ana", password, &["SELECT count(*) FROM obitos"]);
        assert!(!denied.status.success());
        let err = String::from_utf8_lossy(&denied.stderr);
        assert!(
            err.contains("42501") || err.contains("not granted") || err.contains("obitos"),
            "{err}"
        );
    }
    // The command line takes it where it takes a Lagoa token.
    let args = [
        "query",
        "SELECT count(*) AS n FROM populacao",
        "--format",
        "csv",
    ];
    let cli = ok(lagoa_env(&lake, &args, &[("LAGOA_TOKEN", &ana)]), &args);
    let cli_by_token = ok(
        lagoa_env(&lake, &args, &[("LAGOA_TOKEN", &ana_lagoa)]),
        &args,
    );
    assert_eq!(cli, cli_by_token);
    assert_eq!(last_audit(&lake)["signed_in"], "lagoa_token");
    // Ana's token is not joao's password.
    let not_hers = psql(pg_port, "joao", &ana, &["SELECT 1"]);
    assert!(!not_hers.status.success());
    assert!(
        psql(pg_port, "joao", &s.joao, &["SELECT 1"])
            .status
            .success()
    );

    // Tokens the provider never issued, or not for Lagoa, or too old.
    let other_audience = access_token(&idp, "ana", Some("urn:other"));
    let short = access_token(&idp, "ana", Some("urn:lagoa:short"));
    let bruno = access_token(&idp, "bruno", None);
    let id_token = code_flow(&idp, "ana", None, "id");
    std::thread::sleep(Duration::from_secs(3));
    let refusals = [
        (
            forged(&idp, "other-key", "ana-0001"),
            "signature does not verify",
        ),
        (forged(&idp, "none", "ana-0001"), "unsigned"),
        // An attacker's own provider: its key is not the provider's.
        (
            forged(&idp, "wrong-issuer", "ana-0001"),
            "signature does not verify",
        ),
        (
            forged(&idp, "string-nbf", "ana-0001"),
            "nbf is not a number",
        ),
        (other_audience, "another audience"),
        (short, "expired"),
        (bruno, "not linked"),
        // Ana's own ID token, signed by the provider: not a credential.
        (id_token, "not an access token"),
    ];
    for (token, reason) in &refusals {
        let (status, body) = api_get(&format!("{url}/api/v1/me"), token);
        assert_eq!(status, 401, "{reason}: {body}");
        assert!(body.to_string().contains(reason), "{reason}: {body}");
    }
    // The same checks on the PostgreSQL port (a few: every refusal from
    // this address counts towards its throttle).
    for (token, reason) in [&refusals[1], &refusals[5]] {
        let refused = psql(pg_port, "ana", token, &["SELECT 1"]);
        assert!(!refused.status.success(), "{reason} on psql");
    }
    let trail = audit_entries(&lake, 200);
    for (_, reason) in &refusals {
        assert!(
            trail.iter().any(|e| e["action"] == "sign_in"
                && e["outcome"] == "denied"
                && e["signed_in"] == "provider_token"
                && e["reason"].as_str().unwrap_or("").contains(reason)),
            "a refusal for {reason:?} on the audit trail"
        );
    }
    let everything = serde_json::to_string(&trail).unwrap();
    for personal in ["52998224725", "11144477735", "Ana Souza", "ana@saude"] {
        assert!(
            !everything.contains(personal),
            "{personal} on the audit trail"
        );
    }

    // The provider rotates its keys: Lagoa fetches the new set when a
    // token names a key it does not know; tokens of the old key stop.
    drop(idp);
    let idp = start_idp(idp_port, &dir.path().join("idp-keys-b.json"), &console);
    let rotated = access_token(&idp, "ana", None);
    // Lagoa fetches the keys at most every 10 s.
    std::thread::sleep(Duration::from_secs(11));
    let (status, me) = api_get(&format!("{url}/api/v1/me"), &rotated);
    assert_eq!(status, 200, "{me}");
    let (status, _) = api_get(&format!("{url}/api/v1/me"), &ana);
    assert_eq!(status, 401, "a token of the retired key");

    // Signed out everywhere, her open connection stops at its next
    // statement; a new one signs in.
    let signout = format!(
        "\\! {} --lake {} user signout ana",
        lagoa_bin().display(),
        lake.display()
    );
    let open = psql(
        pg_port,
        "ana",
        &rotated,
        &["SELECT 1", &signout, "SELECT 2"],
    );
    assert!(!open.status.success());
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert!(stderr.contains("signed out everywhere"), "{stderr}");
    assert!(
        psql(pg_port, "ana", &rotated, &["SELECT 1"])
            .status
            .success()
    );

    // Unlinked, ana's provider tokens stop at the next statement of an
    // open connection (psql unlinks her itself, between two statements of
    // one connection), and at the API.
    let unlink = format!(
        "\\! {} --lake {} user unlink ana",
        lagoa_bin().display(),
        lake.display()
    );
    let open = psql(
        pg_port,
        "ana",
        &rotated,
        &["SELECT 41 + 1", &unlink, "SELECT 1"],
    );
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stdout).contains("42"));
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert!(
        stderr.contains("no longer linked") || stderr.contains("not linked"),
        "{stderr}"
    );
    let (status, _) = api_get(&format!("{url}/api/v1/me"), &rotated);
    assert_eq!(status, 401);
    assert!(
        !psql(pg_port, "ana", &rotated, &["SELECT 1"])
            .status
            .success()
    );
    assert!(
        psql(pg_port, "ana", &ana_lagoa, &["SELECT 1"])
            .status
            .success()
    );
}

/// The console's sign-in through the provider, in headless Chromium: the
/// provider's login and consent pages, the overview as that person; a
/// person made a principal on first sign-in, one refused (no group gives a
/// role), sign-out at both ends (the old cookie dead), and a session that
/// ends by itself.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_signs_people_in_through_the_provider() {
    let test = "the_console_signs_people_in_through_the_provider";
    if !idp_here(test) {
        return;
    }
    let Some((_driver, webdriver)) = crate::console::chromedriver() else {
        return;
    };
    let (dir, lake) = new_lake();
    sesa_with_ana(&lake, "steward");
    let console_port = free_port();
    let console = format!("http://127.0.0.1:{console_port}");
    let idp = start_idp(free_port(), &dir.path().join("idp-keys.json"), &console);
    configure_oidc(
        &lake,
        &idp,
        &[
            ("scopes", "[\"profile\", \"lagoa\"]"),
            ("unknown_people", "\"create\""),
            ("session_minutes", "1"),
        ],
        &[("lagoa-analistas", "analyst")],
    );
    lagoa_ok(&lake, &["user", "link", "ana", "--person", "ana-0001"]);
    let listen = format!("127.0.0.1:{console_port}");
    let (server, url, _log) = serve_on(&lake, &listen, None, &[SECRET_ENV]);
    assert_eq!(url, console);

    // Ana, linked: the overview as her, the audit saying how she came in.
    let a = crate::console::browser(&webdriver).await;
    let page = provider_sign_in(&a, &console, "ana").await;
    let signed_in_at = std::time::Instant::now();
    assert!(page.contains("ana · sesa · steward"), "{page}");
    assert_eq!(a.current_url().await.unwrap().path(), "/");
    let ana_cookie = a
        .get_named_cookie("lagoa_sso")
        .await
        .unwrap()
        .value()
        .to_owned();
    let trail = audit_entries(&lake, 10);
    assert!(trail.iter().any(|e| e["action"] == "sign_in"
        && e["principal"] == "ana"
        && e["outcome"] == "ok"
        && e["signed_in"] == "provider_session"));

    // Bruno: vouched for by the provider, but no group of his gives a role.
    let b = crate::console::browser(&webdriver).await;
    let page = provider_sign_in(&b, &console, "bruno").await;
    assert!(page.contains("ainda não tem acesso"), "{page}");
    assert!(!lagoa_ok(&lake, &["user", "list"]).contains("bruno"));
    let refused = last_audit(&lake);
    assert_eq!(refused["outcome"], "denied", "{refused}");
    assert_eq!(refused["signed_in"], "provider_session");
    assert!(
        refused["reason"].as_str().unwrap().contains("gives a role"),
        "{refused}"
    );

    // Zeca: not known yet, made an analyst of sesa by his first sign-in.
    let c = crate::console::browser(&webdriver).await;
    let page = provider_sign_in(&c, &console, "zeca").await;
    assert!(page.contains("zeca · sesa · analyst"), "{page}");
    let users = lagoa_ok(&lake, &["user", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("zeca ") && l.contains("analyst")),
        "{users}"
    );
    let trail = audit_entries(&lake, 10);
    assert!(trail.iter().any(|e| e["action"] == "principal_added"
        && e["principal"] == "zeca"
        && e["reason"].as_str().unwrap_or("").contains("first sign-in")));

    // Zeca signs out: at the provider too (its confirmation page), back at
    // the console's sign-in page; his old cookie opens nothing.
    let zeca_cookie = c
        .get_named_cookie("lagoa_sso")
        .await
        .unwrap()
        .value()
        .to_owned();
    provider_sign_out(&c).await;
    assert_eq!(
        console_with_cookie(&console, &zeca_cookie),
        "303 /login?next=/"
    );

    // A restart of the console keeps both: ana's session still opens,
    // zeca's signed-out one still does not.
    drop(server);
    let (_server, _, _log) = serve_on(&lake, &listen, None, &[SECRET_ENV]);
    assert_eq!(console_with_cookie(&console, &ana_cookie), "200");
    assert_eq!(
        console_with_cookie(&console, &zeca_cookie),
        "303 /login?next=/"
    );

    // Ana's session ends by itself after its minute.
    if let Some(left) = Duration::from_secs(62).checked_sub(signed_in_at.elapsed()) {
        tokio::time::sleep(left).await;
    }
    assert_eq!(
        console_with_cookie(&console, &ana_cookie),
        "303 /login?next=/"
    );
    a.goto(&format!("{console}/")).await.unwrap();
    assert_eq!(a.current_url().await.unwrap().path(), "/login");

    // `lagoa user signout` ends a live session (a stolen cookie, say).
    let d = crate::console::browser(&webdriver).await;
    let page = provider_sign_in(&d, &console, "ana").await;
    assert!(page.contains("ana · sesa · steward"), "{page}");
    let live = d
        .get_named_cookie("lagoa_sso")
        .await
        .unwrap()
        .value()
        .to_owned();
    assert_eq!(console_with_cookie(&console, &live), "200");
    lagoa_ok(&lake, &["user", "signout", "ana"]);
    assert_eq!(console_with_cookie(&console, &live), "303 /login?next=/");
    d.close().await.unwrap();
    for browser in [a, b, c] {
        browser.close().await.unwrap();
    }
}

/// The same sign-in over HTTPS (the console with a test CA's certificate):
/// every cookie is a `__Host-` one, set and read back under one name, so
/// the sign-in completes, the session opens pages, and sign-out clears it.
#[tokio::test(flavor = "multi_thread")]
async fn over_https_the_console_s_provider_sign_in_uses_host_cookies() {
    let test = "over_https_the_console_s_provider_sign_in_uses_host_cookies";
    if !idp_here(test) || Command::new("openssl").arg("version").output().is_err() {
        skip(test, "no provider or no openssl: run scripts/bootstrap");
        return;
    }
    let Some((_driver, webdriver)) = crate::console::chromedriver() else {
        return;
    };
    let (dir, lake) = new_lake();
    sesa_with_ana(&lake, "analyst");
    let port = free_port();
    let console = format!("https://127.0.0.1:{port}");
    let idp = start_idp(free_port(), &dir.path().join("idp-keys.json"), &console);
    configure_oidc(&lake, &idp, &[], &[]);
    lagoa_ok(&lake, &["user", "link", "ana", "--person", "ana-0001"]);
    let tls = crate::tls::issue(dir.path(), "console", None);
    let (_server, url, _log) = serve_on(
        &lake,
        &format!("127.0.0.1:{port}"),
        None,
        &[
            SECRET_ENV,
            ("LAGOA__TLS__CERT_FILE", tls.cert.to_str().unwrap()),
            ("LAGOA__TLS__KEY_FILE", tls.key.to_str().unwrap()),
        ],
    );
    assert_eq!(url, console);
    // The test CA is not the browser's: its errors are waved through.
    let b = crate::console::browser_with(&webdriver, &["--ignore-certificate-errors"]).await;
    let page = provider_sign_in(&b, &console, "ana").await;
    assert_eq!(b.current_url().await.unwrap().path(), "/");
    assert!(page.contains("ana · sesa · analyst"), "{page}");
    let names: Vec<String> = b
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "__Host-lagoa_sso"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n == "lagoa_sso" || n.ends_with("lagoa_signin")),
        "{names:?}"
    );
    b.goto(&format!("{console}/runs")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/runs");
    provider_sign_out(&b).await;
    let names: Vec<String> = b
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("lagoa_sso")), "{names:?}");
    b.close().await.unwrap();
}

/// The institution `sesa` and its person `ana` with `role`.
fn sesa_with_ana(lake: &Path, role: &str) {
    lagoa_ok(lake, &["institution", "add", "sesa", "--role", "provider"]);
    lagoa_ok(
        lake,
        &[
            "user",
            "add",
            "ana",
            "--institution",
            "sesa",
            "--role",
            role,
        ],
    );
}

/// Signs `login` in from the console's sign-in page, through the
/// provider's login and consent pages; the page it ends on.
async fn provider_sign_in(b: &fantoccini::Client, console: &str, login: &str) -> String {
    use fantoccini::Locator;
    b.goto(&format!("{console}/login")).await.unwrap();
    click(b, Locator::Id("sso")).await;
    type_into(b, Locator::Css("input[name=login]"), login).await;
    type_into(b, Locator::Css("input[name=password]"), "qualquer").await;
    click(b, Locator::Css("button[type=submit]")).await;
    // Consent for Lagoa's scopes.
    click(b, Locator::XPath("//button[text()='Continue']")).await;
    for _ in 0..100 {
        let at = b.current_url().await.unwrap().to_string();
        if at.starts_with(console) {
            let page = b.source().await.unwrap();
            // Signed in (moved on to the page asked for), or refused.
            if !at.contains("/login/oidc") || page.contains("login-error") {
                return page;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{login} never came back to the console");
}

/// Signs out from a console page, confirming at the provider; back at
/// the console's sign-in page.
async fn provider_sign_out(b: &fantoccini::Client) {
    use fantoccini::Locator;
    click(b, Locator::Css("form[action='/logout'] button")).await;
    click(b, Locator::Css("button[name=logout][value=yes]")).await;
    for _ in 0..100 {
        if b.current_url().await.unwrap().path() == "/login" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.current_url().await.unwrap().path(), "/login");
}

/// Clicks an element once the page has it.
async fn click(b: &fantoccini::Client, at: fantoccini::Locator<'_>) {
    b.wait()
        .for_element(at)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Types into a field once the page has it.
async fn type_into(b: &fantoccini::Client, at: fantoccini::Locator<'_>, text: &str) {
    b.wait()
        .for_element(at)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// The overview fetched with a session cookie (curl): `200`, or the status
/// and where it sends the browser.
fn console_with_cookie(console: &str, value: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "30",
            "-w",
            "%{http_code} %header{location}",
        ])
        .arg("-H")
        .arg(format!("Cookie: lagoa_sso={value}"))
        .arg(format!("{console}/"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
