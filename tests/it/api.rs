//! The HTTP API of `lagoa serve`, over real HTTP: administration by an
//! admin, the catalog as an analyst sees it, a request filed and approved,
//! governed queries in JSON, CSV and Arrow IPC with the purpose in a
//! header, refusals with their status and reason, the consumption report,
//! and the audit trail still intact.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;

const PURPOSE: &str = "investigação de óbito infantil";

struct Caller {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Caller {
    fn new(base: &str, token: Option<&str>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.map(str::to_owned),
        }
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .auth(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .auth(self.http.post(format!("{}{path}", self.base)))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn query(&self, sql: &str, format: &str, purpose: Option<&str>) -> reqwest::Response {
        let mut r = self
            .auth(
                self.http
                    .post(format!("{}/api/v1/query?format={format}", self.base)),
            )
            .json(&json!({ "sql": sql }));
        if let Some(p) = purpose {
            r = r.header(
                "Lagoa-Purpose",
                reqwest::header::HeaderValue::from_bytes(p.as_bytes()).unwrap(),
            );
        }
        r.send().await.unwrap()
    }
}

fn setup(dir: &Path, lake: &Path) -> String {
    ingest_obitos_especial(dir, lake);
    ingest_populacao_amplo(dir, lake);
    agreement(
        lake,
        &[("seplag", "coordinator")],
        &[("root", "seplag", "admin")],
    )
    .remove("root")
    .unwrap()
}

#[tokio::test]
async fn analysts_and_stewards_work_through_the_http_api() {
    let (dir, lake) = new_lake();
    let root_token = setup(dir.path(), &lake);
    let (_server, base) = serve(&lake, None);
    let root = Caller::new(&base, Some(&root_token));

    // The contract is served.
    let (status, doc) = Caller::new(&base, None).get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/query"]["post"].is_object());

    // Administration over HTTP, by an admin.
    for (name, role) in [("saude", "provider"), ("educ", "consumer")] {
        let (status, body) = root
            .post(
                "/api/v1/institutions",
                json!({ "name": name, "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for (name, inst, role) in [("maria", "saude", "steward"), ("joao", "educ", "analyst")] {
        let (status, body) = root
            .post(
                "/api/v1/users",
                json!({ "name": name, "institution": inst, "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut tokens = std::collections::HashMap::new();
    for name in ["maria", "joao"] {
        let (status, body) = root
            .post(
                "/api/v1/tokens",
                json!({ "principal": name, "expires_days": 30 }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.insert(name, body["token"].as_str().unwrap().to_owned());
    }
    let maria = Caller::new(&base, Some(&tokens["maria"]));
    let joao = Caller::new(&base, Some(&tokens["joao"]));
    let (status, me) = joao.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], "joao");
    assert_eq!(me["role"], "analyst");

    // An analyst may not administer.
    let (status, body) = joao
        .post(
            "/api/v1/users",
            json!({ "name": "x", "institution": "educ", "role": "admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admins do"));

    // The catalog: found by a word of a column, especial and why.
    let (status, found) = joao.get("/api/v1/datasets?q=causa_cid").await;
    assert_eq!(status, StatusCode::OK);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let obitos = &found[0];
    assert_eq!(obitos["name"], "obitos");
    assert_eq!(obitos["level"], "especial");
    assert_eq!(obitos["readable"], false);
    assert!(obitos["reason"].as_str().unwrap().contains("grant"));
    let cpf = obitos["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cpf")
        .unwrap();
    assert_eq!(cpf["personal"], true);
    assert_eq!(cpf["access"], "hidden");
    let (_, amplo) = joao.get("/api/v1/datasets?level=amplo").await;
    assert_eq!(amplo[0]["name"], "populacao");
    assert_eq!(amplo[0]["readable"], true);

    // Delivered by saude (as its source would say), categorised by its
    // steward, requested by the analyst, approved.
    lagoa_ok(&lake, &["dataset", "provider", "obitos", "saude"]);
    let (status, body) = maria
        .post(
            "/api/v1/datasets/obitos/categorisation",
            json!({ "provider": "saude", "reason": "primeira" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    let (status, body) = maria
        .post(
            "/api/v1/datasets/obitos/categorisation",
            json!({ "level": "amplo", "reason": "abrir" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("stays especial"));
    let (status, request) = joao
        .post(
            "/api/v1/requests",
            json!({
                "dataset": "obitos",
                "purpose": PURPOSE,
                "legal_basis": "LGPD art. 11, II, b",
                "columns": ["municipio", "ano", "causa_cid"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "pending");
    let id = request["request_id"].as_str().unwrap();
    let (status, body) = joao
        .post(
            &format!("/api/v1/requests/{id}/approve"),
            json!({ "reason": "eu mesmo" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, pending) = maria.get("/api/v1/requests").await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let (status, decided) = maria
        .post(
            &format!("/api/v1/requests/{id}/approve"),
            json!({ "reason": "finalidade compatível" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert!(decided["grant_id"].is_string());

    // The dataset's page tells joao what his grant lets him read: which
    // purpose to declare, and, declared, which columns in clear.
    let (_, page) = joao.get("/api/v1/datasets/obitos").await;
    assert_eq!(page["readable"], false, "{page}");
    assert_eq!(page["grant_purposes"], json!([PURPOSE]), "{page}");
    let with_purpose =
        reqwest::Url::parse_with_params("http://x/api/v1/datasets/obitos", [("purpose", PURPOSE)])
            .unwrap();
    let (status, page) = joao
        .get(&format!(
            "{}?{}",
            with_purpose.path(),
            with_purpose.query().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["readable"], true, "{page}");
    let municipio = page["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "municipio")
        .unwrap();
    assert_eq!(municipio["access"], "clear", "{page}");

    // Queries: the purpose is required, then the grant's columns in any format.
    let sql =
        "SELECT municipio, count(*) AS obitos FROM obitos GROUP BY municipio ORDER BY municipio";
    let r = joao.query(sql, "json", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("declare the purpose"),
        "{body}"
    );

    let r = joao.query(sql, "json", Some(PURPOSE)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["lagoa-rows"], "3");
    assert_eq!(r.headers()["lagoa-datasets"], "obitos");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["row_count"], 3);
    assert_eq!(body["columns"][0]["name"], "municipio");
    assert_eq!(body["rows"].as_array().unwrap().len(), 3);
    assert_eq!(body["rows"][0]["obitos"], 2);

    let r = joao.query(sql, "csv", Some(PURPOSE)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().next(), Some("municipio,obitos"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    let r = joao.query(sql, "arrow", Some(PURPOSE)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None)
            .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);

    // A column outside the grant, a write, a bad token.
    let r = joao
        .query("SELECT cpf FROM obitos", "json", Some(PURPOSE))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = joao
        .query("DROP TABLE populacao", "json", Some(PURPOSE))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for token in [None, Some(forged(&tokens["joao"]))] {
        let r = Caller::new(&base, token.as_deref())
            .query("SELECT 1", "json", None)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key("www-authenticate"));
        let text = r.text().await.unwrap();
        assert!(!text.contains(&tokens["joao"]), "{text}");
    }

    // Consumption: the provider's steward sees it, the analyst does not.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let path = format!("/api/v1/reports/consumption?provider=saude&month={month}");
    let (status, _) = joao.get(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, lines) = maria.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{lines}");
    let line = &lines[0];
    assert_eq!(line["institution"], "educ");
    assert_eq!(line["dataset"], "obitos");
    assert_eq!(line["purpose"], PURPOSE);
    assert_eq!(line["queries"], 3);

    // Revocation over HTTP stops the next query.
    let grant = decided["grant_id"].as_str().unwrap();
    let (status, body) = maria
        .post(
            &format!("/api/v1/grants/{grant}/revoke"),
            json!({ "reason": "fim do estudo" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = joao.query(sql, "json", Some(PURPOSE)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Everything is on the trail, which is intact.
    let trail = lagoa_ok(&lake, &["audit", "list", "--limit", "200", "--json"]);
    assert!(
        trail.contains("\"sign_in\"") && trail.contains("api from 127.0.0.1"),
        "refused tokens are recorded"
    );
    assert!(trail.contains("request_approved"));
    assert!(trail.contains("user_added"));
    assert!(!trail.contains(&tokens["joao"]));
    assert!(lagoa_ok(&lake, &["audit", "verify"]).contains("intact"));
}

/// Whatever refuses a request, the framework or a handler, the answer is
/// JSON with a message that quotes nothing of the request; a statement that
/// does not parse is a mistake (400, audited as `invalid`), not a refusal.
#[tokio::test]
async fn every_error_is_json_and_a_syntax_error_is_a_bad_request() {
    let (dir, lake) = new_lake();
    let root_token = setup(dir.path(), &lake);
    let (_server, base) = serve(&lake, None);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    // Each refusal, and its message's start in English and in Portuguese.
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str, &str)> = vec![
        (
            "a body that is not JSON",
            http.post(url("/api/v1/query"))
                .header("content-type", "application/json")
                .body("{\"sql\": \"SELECT 52998224725"),
            StatusCode::BAD_REQUEST,
            "Failed to parse the request body as JSON",
            "o corpo da requisição não é JSON válido",
        ),
        (
            "a missing field",
            http.post(url("/api/v1/query"))
                .json(&json!({ "query": "SELECT 1" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to deserialize the JSON body into the target type: missing field `sql`",
            "o corpo JSON não tem a forma esperada",
        ),
        (
            "a field of the wrong type",
            http.post(url("/api/v1/query"))
                .json(&json!({ "sql": 52998224725u64 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to deserialize",
            "o corpo JSON não tem a forma esperada",
        ),
        (
            "a body that is not declared JSON",
            http.post(url("/api/v1/query")).body("SELECT 1"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
            "envie a requisição com `Content-Type: application/json`",
        ),
        (
            "an unknown route",
            http.get(url("/api/v1/nothing-here")),
            StatusCode::NOT_FOUND,
            "no such route /api/v1/nothing-here",
            "não há a rota /api/v1/nothing-here",
        ),
        (
            "a wrong method",
            http.delete(url("/api/v1/query")),
            StatusCode::METHOD_NOT_ALLOWED,
            "DELETE is not allowed on /api/v1/query",
            "DELETE não é permitido em /api/v1/query",
        ),
        (
            "a level that is not one",
            http.get(url("/api/v1/datasets?level=secreto")),
            StatusCode::BAD_REQUEST,
            "the level parameter is not a sharing level: amplo, corporativo or especial",
            "o parâmetro level não é um nível de compartilhamento: amplo, corporativo ou especial",
        ),
        (
            "SQL that does not parse",
            http.post(url("/api/v1/query"))
                .json(&json!({ "sql": "SELEC cpf FROM obitos WHERE cpf = '52998224725'" })),
            StatusCode::BAD_REQUEST,
            "invalid: the statement does not parse: ",
            "inválido: o comando não é SQL válido: ",
        ),
        (
            "a statement that writes",
            http.post(url("/api/v1/query"))
                .json(&json!({ "sql": "DROP TABLE obitos" })),
            StatusCode::FORBIDDEN,
            "denied: ",
            "negado: comandos ",
        ),
        (
            "a dataset that does not exist",
            http.get(url("/api/v1/datasets/nenhum")),
            StatusCode::NOT_FOUND,
            "no dataset nenhum",
            "não há o conjunto de dados nenhum",
        ),
    ];
    for (what, request, status, english, portuguese) in cases {
        let in_portuguese = request
            .try_clone()
            .unwrap()
            .header("accept-language", "pt-BR,pt;q=0.9,en;q=0.5");
        for (request, language, needle) in [
            (request, "en", english),
            (in_portuguese, "pt-BR", portuguese),
        ] {
            let answer = request.bearer_auth(&root_token).send().await.unwrap();
            assert_eq!(answer.status(), status, "{what}");
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert!(
                header("content-type").starts_with("application/json"),
                "{what}"
            );
            assert_eq!(header("content-language"), language, "{what}");
            let body: Value = answer.json().await.unwrap();
            let message = body["error"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(needle),
                "{what} ({language}): {message}"
            );
            assert!(
                !message.contains("52998224725"),
                "{what}: the request's values are not echoed: {message}"
            );
        }
    }
    let entry = last_audit(&lake);
    assert_eq!(entry["action"], "query", "{entry}");
    assert_eq!(entry["outcome"], "denied", "{entry}");
    let invalid = audit_entries(&lake, 50)
        .into_iter()
        .filter(|e| e["action"] == "query" && e["outcome"] == "invalid")
        .count();
    assert_eq!(invalid, 2, "the statement that does not parse, asked twice");
}
