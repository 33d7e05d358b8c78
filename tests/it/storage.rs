//! The same lake on every storage and catalog backend: local disk, memory,
//! a real S3-protocol server (moto), and PostgreSQL as the catalog.

use crate::support::*;
use lagoa_connectors::file::FileSourceConfig;
use lagoa_core::DatasetName;
use lagoa_ingest::{InferenceHints, RunRequest, run_delivery};
use lagoa_lake::{AsOf, InitOptions, Lake};
use std::sync::Arc;

async fn count(lake: &Lake, sql: &str) -> i64 {
    let session = lake.session(&AsOf::Latest).await.unwrap();
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0);
    arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(column).value(0)
}

/// Ingests one file, as `lagoa ingest` would, with cpf and nome personal.
async fn ingest_file(lake: &Lake, path: &std::path::Path) {
    let mut request = RunRequest::new("d.csv", DatasetName::new("obitos").unwrap());
    request.hints = InferenceHints {
        personal: vec!["cpf".into(), "nome".into()],
        partition: Some("ano".into()),
        ..Default::default()
    };
    let delivery = FileSourceConfig::single(path, None, Default::default())
        .local_deliveries()
        .unwrap()
        .remove(0);
    let outcome = run_delivery(lake, &request, delivery, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(
        outcome.run.status,
        lagoa_core::RunStatus::Committed,
        "{:?}",
        outcome.run.error
    );
}

#[tokio::test]
async fn in_memory_store_serves_the_same_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let options = InitOptions {
        storage_url: Some("memory://".into()),
        keys: Some(lagoa_lake::config::KeysConfig::local_sealed_by(
            &dir.path().join("seal.key"),
        )),
        ..Default::default()
    };
    let lake = Lake::init(&lake_dir, &options).await.unwrap();
    let f = write_file(dir.path(), "d.csv", &obitos_csv(2024, 10));
    ingest_file(&lake, &f).await;
    assert_eq!(
        count(&lake, "SELECT count(*) FROM obitos WHERE ano = 2024").await,
        30
    );
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT cpf) FROM obitos").await,
        3
    );
    lake.check().await.unwrap();
}

#[test]
fn s3_storage_end_to_end() {
    let Some(s3) = s3("s3_storage_end_to_end") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let prefix = format!("s3://{}/lake-{}", s3.bucket, uuid::Uuid::now_v7().simple());
    let env = s3_env();
    // Plain HTTP is refused unless asked for.
    let out = lagoa_env(
        &lake,
        &["init", "--storage", &prefix, "--endpoint", &s3.endpoint],
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow_http"));

    ok(
        lagoa_env(
            &lake,
            &[
                "init",
                "--storage",
                &prefix,
                "--endpoint",
                &s3.endpoint,
                "--allow-http",
                "--force",
            ],
            &env,
        ),
        &["init"],
    );
    let f = write_file(dir.path(), "d.csv", &obitos_csv(2023, 20));
    let g = write_file(dir.path(), "e.csv", &obitos_csv(2024, 5));
    for file in [&f, &g] {
        ok(
            lagoa_env(
                &lake,
                &[
                    "ingest",
                    file.to_str().unwrap(),
                    "--dataset",
                    "obitos",
                    "--personal",
                    "cpf,nome",
                    "--partition",
                    "ano",
                ],
                &env,
            ),
            &["ingest"],
        );
    }
    let out = ok(
        lagoa_env(
            &lake,
            &[
                "query",
                "SELECT ano, count(*) FROM obitos GROUP BY ano ORDER BY ano",
                "--format",
                "csv",
            ],
            &env,
        ),
        &["query"],
    );
    assert_eq!(csv_rows(&out), vec![vec!["2023", "60"], vec!["2024", "15"]]);
    let out = ok(lagoa_env(&lake, &["check"], &env), &["check"]);
    assert!(out.contains("storage  ok  s3://"), "{out}");
    // Nothing landed on the local disk but configuration, catalog and keys.
    assert!(!lake.join("store").exists());
    // Orphans on S3 are found and removed too.
    let out = ok(
        lagoa_env(&lake, &["vacuum", "--dry-run", "--min-age", "0s"], &env),
        &["vacuum"],
    );
    assert!(out.contains("Would remove 0 expired and 0 orphan"), "{out}");
}

#[tokio::test]
async fn postgres_catalog_with_s3_storage() {
    let Some(pg) = postgres("postgres_catalog_with_s3_storage").await else {
        return;
    };
    let Some(s3) = s3("postgres_catalog_with_s3_storage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let prefix = format!("s3://{}/pg-{}", s3.bucket, uuid::Uuid::now_v7().simple());
    let env = s3_env();
    ok(
        lagoa_env(
            &lake,
            &[
                "init",
                "--catalog",
                &pg.url,
                "--storage",
                &prefix,
                "--endpoint",
                &s3.endpoint,
                "--allow-http",
            ],
            &env,
        ),
        &["init"],
    );
    assert!(
        !lake.join("catalog.db").exists(),
        "the catalog lives in PostgreSQL"
    );
    let files: Vec<_> = (0..3)
        .map(|i| write_file(dir.path(), &format!("p{i}.csv"), &obitos_csv(2020 + i, 10)))
        .collect();
    // Three processes commit to the same dataset at once through PostgreSQL.
    ingest_concurrently(&lake, &files, "obitos", &["--personal", "cpf,nome"], &env);
    let out = ok(
        lagoa_env(
            &lake,
            &[
                "query",
                "SELECT count(*), count(DISTINCT ano) FROM obitos",
                "--format",
                "csv",
            ],
            &env,
        ),
        &["query"],
    );
    assert_eq!(csv_rows(&out), vec![vec!["90", "3"]]);
}
