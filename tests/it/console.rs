//! The operators' console in a real browser: the `lagoa serve` binary,
//! Debian's headless Chromium driven over WebDriver (chromedriver, with
//! the fantoccini client). Signing in with a token, the overview with a
//! failure (and a screenshot whose colours are checked), the sources page
//! with and without the operator's buttons, a click that triggers a run
//! and the run's page, pause and resume, a dataset's chart, the English
//! pages, and a revoked token thrown out.

use crate::formats::hostile_csv_from;
use crate::support::*;
use fantoccini::{Client, ClientBuilder, Locator};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn chromedriver() -> Option<(Killed, String)> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        skip(
            "console",
            "Chromium and chromedriver are not installed (scripts/bootstrap installs the Debian packages chromium and chromium-driver)",
        );
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let child = Killed(child);
    wait_for("chromedriver to listen", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Some((child, format!("http://127.0.0.1:{port}")))
}

pub async fn browser(webdriver: &str) -> Client {
    browser_with(webdriver, &[]).await
}

/// A Chromium session with `extra` command-line switches.
pub async fn browser_with(webdriver: &str, extra: &[&str]) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-US",
        "--force-device-scale-factor=1",
    ];
    args.extend_from_slice(extra);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a Chromium session through chromedriver")
}

/// A drop-folder source feeding `name` daily at 06:00, under a daily
/// agreement, with the hostile contract (CPF and name are personal).
fn folder_source(lake: &Path, name: &str) -> PathBuf {
    let folder = lake.parent().unwrap().join(format!("entregas_{name}"));
    std::fs::create_dir_all(&folder).unwrap();
    drop_folder_source(
        lake,
        name,
        &folder,
        "0 6 * * *",
        "expected_frequency = \"daily\"",
        "",
    );
    folder
}

fn token(lake: &Path, user: &str) -> String {
    lagoa_ok(lake, &["token", "create", user, "--expires-days", "1"])
        .trim()
        .to_owned()
}

/// Moves a source's runs `seconds` into the past, as if they had happened
/// then (the catalog's clock is the only thing changed).
async fn age_runs(lake: &Path, source: &str, seconds: i64) {
    let url = format!("sqlite://{}", lake.join("catalog.db").display());
    let pool = sqlx::sqlite::SqlitePool::connect(&url).await.unwrap();
    let shift = seconds * 1_000_000;
    let n = sqlx::query(
        "UPDATE lagoa_run SET started_at = started_at - $1, ended_at = ended_at - $1 WHERE source = $2",
    )
    .bind(shift)
    .bind(source)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(n > 0);
    pool.close().await;
}

async fn sign_in(client: &Client, base: &str, token: &str) {
    client.goto(&format!("{base}/")).await.unwrap();
    let field = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    assert!(
        client.current_url().await.unwrap().path() == "/login",
        "an anonymous visit goes to the sign-in page"
    );
    field.send_keys(token).await.unwrap();
    click(client, "form[action='/login'] button").await;
    client
        .wait()
        .for_element(Locator::Css("div.cards"))
        .await
        .unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the element's text contains `needle` (the page after a
/// click may still be the old one for a moment).
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.contains(needle)
        {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {needle:?} in {css}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pixels of exactly this colour in a PNG screenshot.
fn pixels_of(png_bytes: &[u8], rgb: [u8; 3]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let count = data
        .chunks_exact(channels)
        .filter(|px| px[0] == rgb[0] && px[1] == rgb[1] && px[2] == rgb[2])
        .count();
    (info.width, info.height, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_runs_and_lets_operators_act_in_a_real_browser() {
    let Some((_driver, webdriver)) = chromedriver() else {
        return;
    };
    let (_dir, lake) = new_lake();
    let good = folder_source(&lake, "obitos_recife");
    let bad = folder_source(&lake, "obitos_olinda");
    write_file(&good, "obitos_2026_01.csv", &hostile_csv_from(1, 5));
    // A delivery in the wrong layout: the run fails as a contract violation.
    write_file(&bad, "obitos_2026_01.csv", "codigo;valor\n1;2\n");
    lagoa_ok(&lake, &["run", "obitos_recife"]);
    let failed = lagoa(&lake, &["run", "obitos_olinda"]);
    assert!(!failed.status.success(), "the wrong layout fails the run");

    // Recife's delivery is made three days old: against a daily agreement
    // (plus a day's grace) the dataset is late.
    age_runs(&lake, "obitos_recife", 3 * 86_400).await;

    lagoa_ok(
        &lake,
        &["institution", "add", "seplag", "--role", "coordinator"],
    );
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "ana",
            "--institution",
            "seplag",
            "--role",
            "operator",
        ],
    );
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "bruno",
            "--institution",
            "seplag",
            "--role",
            "analyst",
        ],
    );
    let operator = token(&lake, "ana");
    let analyst = token(&lake, "bruno");
    assert!(operator.starts_with("lagoa_"), "{operator}");

    let (_server, base) = serve(&lake, None);
    let client = browser(&webdriver).await;

    // The analyst sees the overview with the failure, but no buttons.
    sign_in(&client, &base, &analyst).await;
    assert_eq!(
        text(&client, "h1").await,
        "Visão geral",
        "Portuguese by default"
    );
    assert_eq!(text(&client, "[data-count=failed]").await, "1");
    assert_eq!(
        text(&client, "[data-count=committed]").await,
        "0",
        "Recife's run is three days old"
    );
    assert_eq!(text(&client, "[data-count=late]").await, "1");
    let late = text(&client, "#late").await;
    assert!(
        late.contains("obitos_recife") && late.contains("a cada 24 h"),
        "{late}"
    );
    let failures = text(&client, "#failures").await;
    assert!(
        failures.contains("obitos_olinda") && failures.contains("violação do contrato"),
        "{failures}"
    );
    assert!(!failures.contains("obitos_recife"), "{failures}");

    // Screenshot check: the page is drawn (header in the brand colour), the
    // failure badge is red and the committed badge green.
    client.set_window_size(1280, 1000).await.unwrap();
    let shot = client.screenshot().await.unwrap();
    let out = repo_root().join("target/console");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("overview.png"), &shot).unwrap();
    let (width, height, brand) = pixels_of(&shot, [0x0b, 0x4f, 0x6c]);
    assert!(
        width >= 1000 && height >= 600,
        "screenshot {width}x{height}"
    );
    assert!(
        brand > 20_000,
        "the header bar is drawn in the brand colour ({brand} pixels)"
    );
    let (_, _, red) = pixels_of(&shot, [0xb4, 0x23, 0x18]);
    let (_, _, green) = pixels_of(&shot, [0x1a, 0x7f, 0x37]);
    assert!(red > 50, "the failure shows in red ({red} pixels)");
    assert!(
        green > 50,
        "the committed run shows in green ({green} pixels)"
    );

    client.goto(&format!("{base}/sources")).await.unwrap();
    let rows = text(&client, "#sources").await;
    assert!(
        rows.contains("obitos_recife") && rows.contains("0 6 * * *"),
        "{rows}"
    );
    assert!(
        client
            .find_all(Locator::Css("button[name=trigger]"))
            .await
            .unwrap()
            .is_empty(),
        "an analyst gets no trigger button"
    );
    // Nor can the analyst trigger by posting the form by hand.
    let before = source_runs(&lake, &[], "obitos_recife").len();
    let forged = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{redirect_url}",
            "-X",
            "POST",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {analyst}"))
        .arg(format!("{base}/sources/obitos_recife/trigger"))
        .output()
        .expect("curl");
    let location = String::from_utf8_lossy(&forged.stdout).to_string();
    assert!(location.contains("notice=forbidden"), "{location}");
    assert_eq!(
        source_runs(&lake, &[], "obitos_recife").len(),
        before,
        "no run started"
    );

    // Sign out; the operator signs in.
    click(&client, "form[action='/logout'] button").await;
    client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    sign_in(&client, &base, &operator).await;

    // A new delivery arrives; the operator clicks "Executar agora".
    write_file(&good, "obitos_2026_02.csv", &hostile_csv_from(6, 3));
    client.goto(&format!("{base}/sources")).await.unwrap();
    click(
        &client,
        "tr[data-source=obitos_recife] button[name=trigger]",
    )
    .await;
    wait_text(&client, "div.notice", "Execução iniciada: obitos_recife").await;
    // The folder still holds January's file: that delivery is recorded as
    // already ingested, and February's is committed.
    wait_for(
        "the triggered run to commit",
        Duration::from_secs(60),
        || {
            source_runs(&lake, &[], "obitos_recife")[before..]
                .iter()
                .any(|r| r["status"] == "committed")
        },
    );
    let run = source_runs(&lake, &[], "obitos_recife").pop().unwrap();
    assert_eq!(run["status"], "committed", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["rows_written"], 3, "only the new delivery is taken");

    // The run's page: status, counts, timeline, quality report.
    client.refresh().await.unwrap();
    click(&client, "tr[data-source=obitos_recife] a[href^='/runs/']").await;
    client
        .wait()
        .for_element(Locator::Id("timeline"))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with(run["run_id"].as_str().unwrap())
    );
    assert_eq!(
        client
            .find(Locator::Css("#status .badge"))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("committed")
    );
    assert_eq!(text(&client, "#counts").await, "3 / 3 / 0");
    let timeline = text(&client, "#timeline").await;
    for step in [
        "Início (manual)",
        "zona bruta",
        "Snapshot confirmado",
        "Fim: concluída",
    ] {
        assert!(
            timeline.contains(step),
            "timeline lacks {step:?}:\n{timeline}"
        );
    }
    std::fs::write(out.join("run.png"), client.screenshot().await.unwrap()).unwrap();
    let quality = text(&client, "#quality").await;
    assert!(quality.contains("obitos_2026_02.csv"), "{quality}");
    let page = client.source().await.unwrap();
    assert!(
        !page.contains(&crate::formats::hostile_row(7)[9..20]),
        "no personal value on the page"
    );

    // The failed run's page carries its error and class.
    client
        .goto(&format!("{base}/runs?status=failed"))
        .await
        .unwrap();
    click(&client, "table.runs a[href^='/runs/']").await;
    let error = client
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("violação do contrato"), "{error}");

    // Pause and resume, recorded with who did it.
    client.goto(&format!("{base}/sources")).await.unwrap();
    click(&client, "tr[data-source=obitos_recife] button[name=pause]").await;
    wait_text(&client, "div.notice", "Agendamento pausado").await;
    let state = text(&client, "tr[data-source=obitos_recife] td.state").await;
    assert!(
        state.contains("pausada") && state.contains("console:ana"),
        "{state}"
    );
    let listed = lagoa_ok(&lake, &["sources", "list", "--json"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("\"obitos_recife\"") && l.contains("\"paused\":true")),
        "{listed}"
    );
    click(&client, "tr[data-source=obitos_recife] button[name=resume]").await;
    wait_text(&client, "div.notice", "Agendamento retomado").await;
    assert!(
        text(&client, "tr[data-source=obitos_recife] td.state")
            .await
            .contains("ativa")
    );

    // The dataset's page: on time, one bar per committed run.
    client
        .goto(&format!("{base}/datasets/obitos_recife"))
        .await
        .unwrap();
    assert!(text(&client, "#freshness").await.contains("em dia"));
    let bars = client
        .find_all(Locator::Css("#rows-chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 2, "two committed runs, two bars");
    let heights: Vec<String> = {
        let mut v = Vec::new();
        for b in &bars {
            v.push(b.attr("data-rows").await.unwrap().unwrap());
        }
        v
    };
    assert_eq!(heights, ["5", "3"]);
    std::fs::write(out.join("dataset.png"), client.screenshot().await.unwrap()).unwrap();
    client
        .goto(&format!("{base}/datasets/obitos_olinda"))
        .await
        .unwrap();
    assert_eq!(
        client
            .find_all(Locator::Css("#rows-chart rect.bad"))
            .await
            .unwrap()
            .len(),
        1
    );

    // English on request, and it stays.
    click(&client, "a[lang=en]").await;
    client
        .wait()
        .for_element(Locator::Css("a[lang=pt-BR]"))
        .await
        .unwrap();
    assert_eq!(text(&client, "header nav a.active").await, "Datasets");
    client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(text(&client, "h1").await, "Overview");

    // A revoked token is out on the next click.
    let listed = lagoa_ok(&lake, &["token", "list", "--principal", "ana"]);
    let id = first_id(&listed);
    lagoa_ok(&lake, &["token", "revoke", &id]);
    client.goto(&format!("{base}/sources")).await.unwrap();
    client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");

    client.close().await.unwrap();

    // Every sign-in and action is in the audit trail, the refused ones too,
    // and the chain holds.
    let audit: Vec<serde_json::Value> =
        lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "100"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let has = |who: &str, action: &str, outcome: &str| {
        audit.iter().any(|r| {
            r["entry"]["principal"] == who
                && r["entry"]["action"] == action
                && r["entry"]["outcome"] == outcome
        })
    };
    assert!(has("bruno", "sign_in", "ok") && has("ana", "sign_in", "ok"));
    assert!(
        has("bruno", "source_triggered", "denied"),
        "the forged POST is on record"
    );
    assert!(has("ana", "source_triggered", "ok"));
    assert!(has("ana", "source_paused", "ok") && has("ana", "source_resumed", "ok"));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains(&operator) && !text.contains(&analyst),
        "no token in the audit trail"
    );
    assert!(lagoa_ok(&lake, &["audit", "verify"]).contains("intact"));
}
