//! The catalog's contract, on both backends: snapshots, write modes, time
//! travel, idempotency, schema versions, and concurrent commits.

use crate::support::postgres;
use lagoa_core::{DatasetName, PersonalTag, SharingLevel};
use lagoa_governance::categorisation::categorise;
use lagoa_governance::{AuthError, NewCategorisation, NewRequest};
use lagoa_governance::{DECISION_DAYS, GovernanceStore};
use lagoa_lake::catalog::Catalog;
use lagoa_lake::catalog::model::*;
use lagoa_lake::{AsOf, LakeError};
use std::future::Future;
use std::sync::Arc;

/// Runs `test` against a fresh SQLite catalog and a fresh PostgreSQL database.
async fn on_both<F, Fut>(name: &str, test: F)
where
    F: Fn(Arc<Catalog>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Catalog::connect("sqlite://catalog.db", dir.path())
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    test(Arc::new(sqlite)).await;

    if let Some(pg) = postgres(name).await {
        let catalog = Catalog::connect(&pg.url, dir.path()).await.unwrap();
        catalog.migrate().await.unwrap();
        catalog.migrate().await.expect("migrations are idempotent");
        test(Arc::new(catalog)).await;
    }
}

fn columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef {
            name: "ano".into(),
            data_type: "Int64".into(),
            nullable: false,
            personal: None,
        },
        ColumnDef {
            name: "cpf".into(),
            data_type: "Utf8".into(),
            nullable: true,
            personal: Some(PersonalTag::Pessoal),
        },
    ]
}

fn spec(name: &str) -> DatasetSpec {
    DatasetSpec {
        name: DatasetName::new(name).unwrap(),
        level: SharingLevel::Especial,
        description: "test".into(),
        partition_column: Some("ano".into()),
        columns: columns(),
    }
}

fn file(partition: &str, rows: i64) -> NewDataFile {
    let id = uuid::Uuid::now_v7().to_string();
    NewDataFile {
        path: format!("tables/x/ano={partition}/{id}.parquet"),
        file_id: id,
        partition_value: Some(partition.into()),
        row_count: rows,
        size_bytes: 100,
        sha256: String::new(),
        master_key_id: Some("lagoa.x.data.v1".into()),
        stats: vec![
            ColumnStats {
                column: "ano".into(),
                null_count: Some(0),
                min: Some(partition.into()),
                max: Some(partition.into()),
            },
            // A careless writer sending personal min/max: the catalog must drop them.
            ColumnStats {
                column: "cpf".into(),
                null_count: Some(0),
                min: Some("00000000191".into()),
                max: Some("99999999999".into()),
            },
        ],
    }
}

fn request(
    name: &str,
    mode: WriteMode,
    files: Vec<NewDataFile>,
    fingerprint: Option<&str>,
) -> CommitRequest {
    CommitRequest {
        spec: spec(name),
        mode,
        files,
        fingerprint: fingerprint.map(str::to_owned),
        source: "test.csv".into(),
        watermark: None,
        raw: None,
        quarantine: None,
        run_id: None,
        release_of: None,
        contract: None,
        digests: Vec::new(),
        deletes: Vec::new(),
        replaces: Vec::new(),
        planned_at: None,
    }
}

/// Creates `name` with one committed file.
async fn seed(c: &Catalog, name: &str) {
    c.commit(&request(
        name,
        WriteMode::Append,
        vec![file("2024", 1)],
        None,
    ))
    .await
    .unwrap();
}

async fn live_rows(catalog: &Catalog, name: &str, as_of: AsOf) -> (i64, Vec<DataFileInfo>) {
    let snapshot = catalog.resolve(&as_of).await.unwrap();
    let dataset = catalog
        .dataset(&DatasetName::new(name).unwrap(), snapshot)
        .await
        .unwrap()
        .expect("dataset exists");
    let files = catalog.files(&dataset, snapshot).await.unwrap();
    (files.iter().map(|f| f.row_count).sum(), files)
}

fn snapshot_of(outcome: &CommitOutcome) -> i64 {
    match outcome {
        CommitOutcome::Committed { snapshot, .. } => *snapshot,
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn write_modes_and_time_travel() {
    on_both("write_modes_and_time_travel", |c| async move {
        let s1 = snapshot_of(
            &c.commit(&request(
                "obitos",
                WriteMode::Append,
                vec![file("2023", 10), file("2024", 20)],
                Some("a"),
            ))
            .await
            .unwrap(),
        );
        let s2 = snapshot_of(
            &c.commit(&request(
                "obitos",
                WriteMode::Append,
                vec![file("2024", 5)],
                Some("b"),
            ))
            .await
            .unwrap(),
        );
        assert_eq!(live_rows(&c, "obitos", AsOf::Latest).await.0, 35);

        // Replace partition 2024 only: 2023 stays.
        let s3 = snapshot_of(
            &c.commit(&request(
                "obitos",
                WriteMode::ReplacePartition,
                vec![file("2024", 7)],
                Some("c"),
            ))
            .await
            .unwrap(),
        );
        let (rows, files) = live_rows(&c, "obitos", AsOf::Latest).await;
        assert_eq!(rows, 17);
        assert_eq!(files.len(), 2);

        // Full refresh replaces everything.
        c.commit(&request(
            "obitos",
            WriteMode::FullRefresh,
            vec![file("2022", 3)],
            Some("d"),
        ))
        .await
        .unwrap();
        assert_eq!(live_rows(&c, "obitos", AsOf::Latest).await.0, 3);

        // Every earlier state is still readable.
        assert_eq!(live_rows(&c, "obitos", AsOf::Snapshot(s1)).await.0, 30);
        assert_eq!(live_rows(&c, "obitos", AsOf::Snapshot(s2)).await.0, 35);
        assert_eq!(live_rows(&c, "obitos", AsOf::Snapshot(s3)).await.0, 17);
        assert!(matches!(
            c.resolve(&AsOf::Snapshot(999)).await,
            Err(LakeError::UnknownSnapshot(_))
        ));

        let snapshots = c
            .snapshots(Some(&DatasetName::new("obitos").unwrap()))
            .await
            .unwrap();
        let ops: Vec<&str> = snapshots
            .iter()
            .rev()
            .map(|s| s.operation.as_str())
            .collect();
        assert_eq!(
            ops,
            ["append", "append", "replace_partition", "full_refresh"]
        );
    })
    .await;
}

#[tokio::test]
async fn personal_statistics_are_never_stored() {
    on_both("personal_statistics_are_never_stored", |c| async move {
        seed(&c, "pessoas").await;
        let (_, files) = live_rows(&c, "pessoas", AsOf::Latest).await;
        let cpf = files[0]
            .stats
            .iter()
            .find(|s| s.column == "cpf")
            .expect("null count kept");
        assert_eq!((cpf.min.as_deref(), cpf.max.as_deref()), (None, None));
        let ano = files[0].stats.iter().find(|s| s.column == "ano").unwrap();
        assert_eq!(ano.min.as_deref(), Some("2024"));
    })
    .await;
}

#[tokio::test]
async fn the_same_extraction_is_not_ingested_twice() {
    on_both(
        "the_same_extraction_is_not_ingested_twice",
        |c| async move {
            let first = c
                .commit(&request(
                    "sinasc",
                    WriteMode::Append,
                    vec![file("2024", 10)],
                    Some("sha256:abc"),
                ))
                .await
                .unwrap();
            let again = c
                .commit(&request(
                    "sinasc",
                    WriteMode::Append,
                    vec![file("2024", 10)],
                    Some("sha256:abc"),
                ))
                .await
                .unwrap();
            assert_eq!(
                again,
                CommitOutcome::AlreadyIngested {
                    snapshot: snapshot_of(&first)
                }
            );
            assert_eq!(live_rows(&c, "sinasc", AsOf::Latest).await.0, 10);
            assert!(
                c.find_delivery(&DatasetName::new("sinasc").unwrap(), "sha256:abc")
                    .await
                    .unwrap()
                    .is_some()
            );
        },
    )
    .await;
}

#[tokio::test]
async fn schema_versions_grow_and_retyping_is_refused() {
    on_both(
        "schema_versions_grow_and_retyping_is_refused",
        |c| async move {
            c.commit(&request(
                "escolas",
                WriteMode::Append,
                vec![file("2023", 1)],
                None,
            ))
            .await
            .unwrap();
            let mut wider = request("escolas", WriteMode::Append, vec![file("2024", 1)], None);
            wider.spec.columns.push(ColumnDef {
                name: "nota".into(),
                data_type: "Float64".into(),
                nullable: true,
                personal: None,
            });
            let s2 = snapshot_of(&c.commit(&wider).await.unwrap());
            let info = c
                .dataset(&DatasetName::new("escolas").unwrap(), s2)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(info.schema_version, 2);
            assert_eq!(info.columns.len(), 3);
            let before = c
                .dataset(&DatasetName::new("escolas").unwrap(), s2 - 1)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (before.schema_version, before.columns.len()),
                (1, 2),
                "time travel sees the old schema"
            );

            let mut retyped = request("escolas", WriteMode::Append, vec![file("2024", 1)], None);
            retyped.spec.columns[0].data_type = "Utf8".into();
            match c.commit(&retyped).await {
                Err(LakeError::Schema { message, .. }) => {
                    assert!(message.contains("column ano is Int64"), "{message}")
                }
                other => panic!("expected a schema error, got {other:?}"),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_writers_all_commit_exactly_once() {
    on_both(
        "concurrent_writers_all_commit_exactly_once",
        |c| async move {
            let writers = 8;
            let mut tasks = Vec::new();
            for i in 0..writers {
                let c = Arc::clone(&c);
                tasks.push(tokio::spawn(async move {
                    c.commit(&request(
                        "sim",
                        WriteMode::Append,
                        vec![file("2024", 1 + i as i64)],
                        Some(&format!("fp-{i}")),
                    ))
                    .await
                }));
            }
            let mut snapshots = Vec::new();
            for task in tasks {
                match task.await.unwrap() {
                    Ok(outcome) => snapshots.push(snapshot_of(&outcome)),
                    // The only acceptable failure: a clean, retryable conflict.
                    Err(e @ LakeError::CommitConflict { .. }) => {
                        assert!(lagoa_core::Retryable::is_retryable(&e))
                    }
                    Err(e) => panic!("unexpected commit error: {e}"),
                }
            }
            snapshots.sort();
            snapshots.dedup();
            let committed = snapshots.len() as i64;
            assert!(committed >= 1);
            let (rows, files) = live_rows(&c, "sim", AsOf::Latest).await;
            assert_eq!(
                files.len() as i64,
                committed,
                "exactly the committed files are visible"
            );
            assert!(rows >= committed);

            // The same delivery committed by several writers at once lands once.
            let mut tasks = Vec::new();
            for _ in 0..4 {
                let c = Arc::clone(&c);
                tasks.push(tokio::spawn(async move {
                    c.commit(&request(
                        "sim",
                        WriteMode::Append,
                        vec![file("2025", 100)],
                        Some("same"),
                    ))
                    .await
                }));
            }
            let mut committed = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Ok(CommitOutcome::Committed { .. }) => committed += 1,
                    Ok(CommitOutcome::AlreadyIngested { .. })
                    | Err(LakeError::CommitConflict { .. }) => {}
                    Err(e) => panic!("unexpected commit error: {e}"),
                }
            }
            assert_eq!(committed, 1, "one delivery, one commit");
            let (_, files) = live_rows(&c, "sim", AsOf::Latest).await;
            assert_eq!(
                files
                    .iter()
                    .filter(|f| f.partition_value.as_deref() == Some("2025"))
                    .count(),
                1
            );
        },
    )
    .await;
}

#[tokio::test]
async fn replace_partition_needs_a_partition_column() {
    on_both(
        "replace_partition_needs_a_partition_column",
        |c| async move {
            let mut r = request(
                "pop",
                WriteMode::ReplacePartition,
                vec![file("2024", 1)],
                None,
            );
            r.spec.partition_column = None;
            let err = c.commit(&r).await.unwrap_err().to_string();
            assert!(err.contains("partition"), "{err}");
            assert!(
                c.latest_snapshot().await.unwrap().is_none(),
                "a failed commit leaves no snapshot"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn tags_are_versioned_with_snapshots() {
    on_both("tags_are_versioned_with_snapshots", |c| async move {
        seed(&c, "vacinas").await;
        let name = DatasetName::new("vacinas").unwrap();
        let s1 = c.set_tag(&name, "fonte", "SI-PNI").await.unwrap();
        let s2 = c.set_tag(&name, "fonte", "SI-PNI (novo)").await.unwrap();
        c.set_tag(&name, "uf", "PE").await.unwrap();
        assert_eq!(
            c.tags(&name, s1)
                .await
                .unwrap()
                .get("fonte")
                .map(String::as_str),
            Some("SI-PNI")
        );
        let now = c
            .tags(&name, c.latest_snapshot().await.unwrap().unwrap())
            .await
            .unwrap();
        assert_eq!(now.get("fonte").map(String::as_str), Some("SI-PNI (novo)"));
        assert_eq!(now.len(), 2);
        assert_eq!(c.tags(&name, s2).await.unwrap().len(), 1);
        assert!(matches!(
            c.set_tag(&DatasetName::new("nada").unwrap(), "k", "v")
                .await,
            Err(LakeError::UnknownDataset(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn tokens_stand_for_their_principal_until_revoked_expired_or_disabled() {
    use lagoa_core::{InstitutionRole, Role};
    use lagoa_lake::catalog::now_micros;
    on_both("tokens_stand_for_their_principal", |c| async move {
        let g = GovernanceStore::of(&c);
        g.add_institution("seplag", InstitutionRole::Coordinator, "SEPLAG")
            .await
            .unwrap();
        let e = g
            .add_principal("ana", "nowhere", Role::Operator, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("institution nowhere does not exist"), "{e}");
        assert!(
            g.add_principal("Ana Maria", "seplag", Role::Operator, false)
                .await
                .is_err()
        );
        g.add_principal("ana", "seplag", Role::Operator, false)
            .await
            .unwrap();
        g.add_principal("etl", "seplag", Role::Analyst, true)
            .await
            .unwrap();
        assert!(
            g.add_principal("ana", "seplag", Role::Admin, false)
                .await
                .is_err(),
            "names are unique"
        );

        let now = now_micros();
        let issued = g
            .issue_token("ana", "console", Some(now + 3_600_000_000))
            .await
            .unwrap();
        let token = issued.token.as_str().to_owned();
        let who = g.authenticate(&token, now).await.unwrap();
        assert_eq!((who.name.as_str(), who.role), ("ana", Role::Operator));
        assert_eq!(
            g.tokens(Some("ana")).await.unwrap()[0].last_used_at,
            Some(now)
        );

        // A token of the right shape with another secret is unknown; a
        // mangled one is malformed; neither message shows the token.
        let secret = crate::support::token_secret(&token);
        let forged = crate::support::forged(&token);
        let e = g.authenticate(&forged, now).await.unwrap_err();
        assert!(matches!(e, AuthError::Unknown), "{e}");
        assert!(!e.to_string().contains(secret));
        assert!(matches!(
            g.authenticate("lagoa_xyz", now).await,
            Err(AuthError::Malformed)
        ));

        // Expired an hour later.
        let later = now + 3_600_000_001;
        assert!(matches!(
            g.authenticate(&token, later).await,
            Err(AuthError::Expired { .. })
        ));

        // Revoked: out at once; another token of ana still works.
        let second = g.issue_token("ana", "cli", None).await.unwrap();
        assert!(g.revoke_token(&issued.info.token_id).await.unwrap());
        assert!(
            !g.revoke_token(&issued.info.token_id).await.unwrap(),
            "revoked once"
        );
        assert!(matches!(
            g.authenticate(&token, now).await,
            Err(AuthError::Revoked { .. })
        ));
        assert!(
            g.authenticate(second.token.as_str(), later).await.is_ok(),
            "no expiry"
        );

        // A disabled principal's tokens stop working, and it gets no new one.
        assert!(g.disable_principal("ana").await.unwrap());
        assert!(matches!(
            g.authenticate(second.token.as_str(), now).await,
            Err(AuthError::Disabled { .. })
        ));
        assert!(g.issue_token("ana", "", None).await.is_err());
        let listed = g.tokens(None).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            serde_json::to_string(&listed)
                .unwrap()
                .find(&token[10..])
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_audit_entries_form_one_unbroken_chain() {
    use lagoa_lake::catalog::{AuditEntry, AuditKey};
    on_both(
        "concurrent_audit_entries_form_one_unbroken_chain",
        |c| async move {
            let key = || AuditKey::new(zeroize::Zeroizing::new(vec![7u8; 32]));
            let mut tasks = Vec::new();
            for writer in 0..8 {
                let c = Arc::clone(&c);
                tasks.push(tokio::spawn(async move {
                    for i in 0..10 {
                        let entry = AuditEntry {
                            principal: format!("analista{writer}"),
                            institution: "recife".into(),
                            action: "query".into(),
                            datasets: vec!["obitos".into()],
                            rows: i,
                            outcome: "ok".into(),
                            ..Default::default()
                        };
                        c.append_audit(&key(), &entry, i).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let check = c.verify_audit(&key()).await.unwrap();
            assert_eq!(check.entries, 80);
            assert!(check.problems.is_empty(), "{:?}", check.problems);
            assert_eq!(check.head.as_ref().unwrap().0, 80);
            // Another key cannot vouch for the chain.
            let other = AuditKey::new(zeroize::Zeroizing::new(vec![8u8; 32]));
            assert_eq!(c.verify_audit(&other).await.unwrap().problems.len(), 80);
            let newest = c.latest_audit(1).await.unwrap();
            assert_eq!(newest[0].seq, 80);
            assert_eq!(newest[0].entry.datasets, ["obitos"]);
        },
    )
    .await;
}

#[tokio::test]
async fn categorisations_requests_and_grants_on_both_backends() {
    use lagoa_core::{InstitutionRole, Role};
    use lagoa_lake::catalog::now_micros;
    on_both("categorisations_requests_and_grants", |c| async move {
        let g = GovernanceStore::of(&c);
        seed(&c, "obitos").await;
        g.add_institution("saude", InstitutionRole::Provider, "")
            .await
            .unwrap();
        g.add_institution("educ", InstitutionRole::Consumer, "")
            .await
            .unwrap();
        g.add_principal("joao", "educ", Role::Analyst, false)
            .await
            .unwrap();
        let name = DatasetName::new("obitos").unwrap();
        let open = NewCategorisation {
            level: Some(SharingLevel::Amplo),
            provider: Some("saude".into()),
            reason: "abrir".into(),
            ..Default::default()
        };
        let e = categorise(&c, &name, &open, "maria")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("personal columns (cpf)"), "{e}");
        let v1 = categorise(
            &c,
            &name,
            &NewCategorisation {
                provider: Some("saude".into()),
                justification: Some("saúde".into()),
                reason: "primeira".into(),
                ..Default::default()
            },
            "maria",
        )
        .await
        .unwrap();
        assert_eq!((v1.version, v1.level), (1, SharingLevel::Especial));
        assert!(
            c.snapshots(Some(&name))
                .await
                .unwrap()
                .iter()
                .any(|s| s.snapshot_id == v1.snapshot_id && s.operation == "categorise")
        );

        let now = now_micros();
        let ask = |purpose: &str, until: Option<i64>| NewRequest {
            dataset: "obitos".into(),
            columns: vec!["ano".into(), "cpf".into()],
            personal: true,
            purpose: purpose.into(),
            legal_basis: "LGPD art. 11".into(),
            until,
            ..Default::default()
        };
        let r = g
            .file_request("joao", "educ", &ask("vigilância", None), DECISION_DAYS)
            .await
            .unwrap();
        assert_eq!(r.deadline_at - r.filed_at, 30 * 86_400_000_000);
        let decided = g
            .decide_request(&r.request_id, true, "maria", "ok")
            .await
            .unwrap();
        assert_eq!(decided.status, "approved");
        assert!(
            g.decide_request(&r.request_id, false, "maria", "não")
                .await
                .is_err()
        );
        let live = g.live_grants("joao", "educ", now).await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].columns.clone(), live[0].personal),
            (vec!["ano".to_owned(), "cpf".to_owned()], true)
        );
        assert!(
            g.live_grants("outro", "outra", now)
                .await
                .unwrap()
                .is_empty()
        );

        // An institution-wide grant that has expired is not live.
        let short = g
            .file_request(
                "joao",
                "educ",
                &NewRequest {
                    for_institution: true,
                    ..ask("painel", Some(now + 1))
                },
                DECISION_DAYS,
            )
            .await
            .unwrap();
        g.decide_request(&short.request_id, true, "maria", "ok")
            .await
            .unwrap();
        assert_eq!(
            g.live_grants("ana", "educ", now).await.unwrap().len(),
            1,
            "the institution's"
        );
        assert!(
            g.live_grants("ana", "educ", now + 2)
                .await
                .unwrap()
                .is_empty(),
            "expired"
        );

        assert!(
            g.revoke_grant(live[0].grant_id.as_str(), "maria")
                .await
                .unwrap()
        );
        assert!(
            g.live_grants("joao", "educ", now)
                .await
                .unwrap()
                .iter()
                .all(|g| g.grant_id != live[0].grant_id)
        );
        let denied = g
            .file_request("joao", "educ", &ask("outro", None), DECISION_DAYS)
            .await
            .unwrap();
        let denied = g
            .decide_request(
                &denied.request_id,
                false,
                "maria",
                "finalidade incompatível",
            )
            .await
            .unwrap();
        assert_eq!((denied.status.as_str(), denied.grant_id), ("denied", None));
    })
    .await;
}

/// Deletion vectors are versioned like files: each snapshot reads the
/// vector it had, a commit computed from an older vector (or a file a
/// compaction already replaced) fails instead of landing stale positions,
/// and a compaction ends the files it replaces without touching the past.
#[tokio::test]
async fn deletion_vectors_follow_snapshots_and_refuse_stale_positions() {
    use lagoa_lake::deletion::DeletionVector;
    on_both(
        "deletion_vectors_follow_snapshots_and_refuse_stale_positions",
        |c| async move {
            let first = file("2024", 10);
            let first_id = first.file_id.clone();
            let before = snapshot_of(
                &c.commit(&request("dv", WriteMode::Append, vec![first], None))
                    .await
                    .unwrap(),
            );
            let mut upsert = request("dv", WriteMode::Upsert, vec![file("2024", 2)], None);
            upsert.deletes = vec![NewDeletes {
                file_id: first_id.clone(),
                based_on: None,
                vector: DeletionVector::new(vec![3, 7]),
            }];
            let after = snapshot_of(&c.commit(&upsert).await.unwrap());
            let summary = c
                .snapshots(None)
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.snapshot_id == after)
                .unwrap()
                .summary;
            assert!(summary.contains("\"rows_deleted\":2"), "{summary}");

            let (_, then) = live_rows(&c, "dv", AsOf::Snapshot(before)).await;
            assert!(then[0].deletes.is_none(), "the past has no deletes");
            let (_, now) = live_rows(&c, "dv", AsOf::Latest).await;
            let old = now.iter().find(|f| f.file_id == first_id).unwrap();
            assert_eq!(old.live_rows(), 8);
            let since = old.deletes.as_ref().unwrap().since;
            assert_eq!(since, after);
            assert_eq!(now.iter().map(|f| f.live_rows()).sum::<i64>(), 10);

            // Positions computed before that upsert: refused, nothing lands.
            let mut stale = request("dv", WriteMode::Upsert, vec![file("2024", 1)], None);
            stale.deletes = vec![NewDeletes {
                file_id: first_id.clone(),
                based_on: None,
                vector: DeletionVector::new(vec![1]),
            }];
            let err = c.commit(&stale).await.unwrap_err();
            assert!(matches!(err, LakeError::ConcurrentChange { .. }), "{err}");
            let (_, unchanged) = live_rows(&c, "dv", AsOf::Latest).await;
            assert_eq!(unchanged.len(), 2, "the refused commit added no file");

            // A compaction that read the current vector replaces the file.
            let mut compaction = request("dv", WriteMode::Compact, vec![file("2024", 8)], None);
            compaction.replaces = vec![ReplacedFile {
                file_id: first_id.clone(),
                based_on: Some(since),
            }];
            let compacted = snapshot_of(&c.commit(&compaction).await.unwrap());
            let (rows, files) = live_rows(&c, "dv", AsOf::Latest).await;
            assert_eq!(rows, 10);
            assert!(
                files
                    .iter()
                    .all(|f| f.file_id != first_id && f.deletes.is_none())
            );
            // Time travel still reads the old file with its vector.
            let (_, past) = live_rows(&c, "dv", AsOf::Snapshot(compacted - 1)).await;
            let old = past.iter().find(|f| f.file_id == first_id).unwrap();
            assert_eq!(old.live_rows(), 8);

            // A second compaction of the same file (it read it before the
            // first committed) is refused.
            let mut again = request("dv", WriteMode::Compact, vec![file("2024", 8)], None);
            again.replaces = vec![ReplacedFile {
                file_id: first_id,
                based_on: Some(since),
            }];
            let err = c.commit(&again).await.unwrap_err();
            assert!(matches!(err, LakeError::ConcurrentChange { .. }), "{err}");
        },
    )
    .await;
}
