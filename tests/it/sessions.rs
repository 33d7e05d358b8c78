//! What a query session costs the catalog: opening one reads no file
//! list, and a query reads the files of the datasets it scans, at the
//! snapshot it reads, once per session.

use crate::support::*;
use lagoa_lake::{AsOf, Lake};
use std::sync::Arc;

/// Live files of `dataset` at `as_of`, read through another catalog
/// connection than the one whose reads are counted.
async fn live_files(reference: &Lake, dataset: &str, as_of: AsOf) -> u64 {
    dataset_and_files_at(reference, dataset, as_of)
        .await
        .1
        .len() as u64
}

#[tokio::test]
async fn a_session_reads_only_the_files_of_the_datasets_its_queries_scan() {
    let (dir, lake_dir) = new_lake();
    ingest_obitos_especial(dir.path(), &lake_dir);
    let older = write_file(dir.path(), "obitos_2023.csv", &obitos_csv(2023, 1));
    ingest(&lake_dir, &older, "obitos", &[]);
    ingest_populacao_amplo(dir.path(), &lake_dir);
    populacao_grows(dir.path(), &lake_dir);
    let mut tokens = agreement(
        &lake_dir,
        &[("educ", "consumer")],
        &[("ana", "educ", "analyst")],
    );
    let token = tokens.remove("ana").unwrap();

    let reference = Lake::open(&lake_dir).await.unwrap();
    let populacao = live_files(&reference, "populacao", AsOf::Latest).await;
    let obitos = live_files(&reference, "obitos", AsOf::Latest).await;
    assert!(
        populacao == 2 && obitos >= 2,
        "two deliveries each: {populacao} and {obitos} files"
    );
    let first_populacao = reference
        .catalog
        .snapshots(Some(&lagoa_core::DatasetName::new("populacao").unwrap()))
        .await
        .unwrap()
        .last()
        .unwrap()
        .snapshot_id;

    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let read = || lake.catalog.file_rows_read();
    let sum = "SELECT sum(habitantes) AS h FROM populacao";

    // The lake's own session: nothing at open, one dataset's files per query.
    let session = lagoa_lake::session::LakeSession::open(&lake, &AsOf::Latest)
        .await
        .unwrap();
    assert_eq!(read(), 0, "opening a session reads no file list");
    let before = read();
    session.sql(sum).await.unwrap().collect().await.unwrap();
    assert_eq!(read() - before, populacao, "only populacao's files");
    let before = read();
    session.sql(sum).await.unwrap().collect().await.unwrap();
    assert_eq!(read() - before, 0, "read once per session");
    let before = read();
    let listed = session
        .sql("SELECT count(*) FROM system.files")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(listed[0].num_rows(), 1);
    assert_eq!(
        read() - before,
        populacao + obitos,
        "system.files reads them all, when scanned"
    );

    // Time travel reads the files of then.
    let then = lagoa_lake::session::LakeSession::open(&lake, &AsOf::Snapshot(first_populacao))
        .await
        .unwrap();
    let files_then = live_files(&reference, "populacao", AsOf::Snapshot(first_populacao)).await;
    assert_eq!(files_then, 1, "one delivery then");
    let before = read();
    then.sql(sum).await.unwrap().collect().await.unwrap();
    assert_eq!(
        read() - before,
        files_then,
        "the files of the snapshot read"
    );

    // The governed path: the analyst's query reads populacao's files only,
    // though the session also holds obitos's view.
    let principal = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .authenticate(&token, lagoa_lake::catalog::now_micros())
        .await
        .unwrap();
    let queries = lagoa_sql::QueryService::new(Arc::clone(&lake));
    let before = read();
    let answer = queries
        .run(
            &lagoa_sql::QueryRequest::new(&principal, None, sum),
            std::future::pending(),
        )
        .await
        .unwrap();
    assert_eq!(answer.rows, 1);
    assert_eq!(
        read() - before,
        populacao,
        "a governed query reads its dataset's files"
    );
    let before = read();
    let refused = queries
        .run(
            &lagoa_sql::QueryRequest::new(&principal, None, "SELECT count(*) FROM obitos"),
            std::future::pending(),
        )
        .await;
    assert!(refused.is_err(), "ana may not read obitos");
    assert_eq!(read() - before, 0, "a refused query reads no file list");
}
