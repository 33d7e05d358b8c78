//! The `lagoa` binary end to end on the embedded default (SQLite, local
//! disk, local key store), as a user drives it.

use crate::support::*;

#[test]
fn ingest_query_time_travel_and_write_modes() {
    let (dir, lake) = new_lake();
    assert!(lake.join("lagoa.toml").exists() && lake.join("catalog.db").exists());
    let f2023 = write_file(dir.path(), "obitos_2023.csv", &obitos_csv(2023, 4));
    let f2024 = write_file(dir.path(), "obitos_2024.csv", &obitos_csv(2024, 2));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    let out = lagoa_ok(
        &lake,
        &[
            "ingest",
            &path(&f2023),
            "--dataset",
            "obitos",
            "--personal",
            "cpf,nome",
            "--level",
            "especial",
            "--partition",
            "ano",
        ],
    );
    assert!(
        out.contains("ingested 12 rows into obitos as snapshot 1"),
        "{out}"
    );
    lagoa_ok(&lake, &["ingest", &path(&f2024), "--dataset", "obitos"]);

    let counts = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT ano, count(*) AS n FROM obitos GROUP BY ano ORDER BY ano",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&counts),
        vec![vec!["2023", "12"], vec!["2024", "6"]]
    );

    // Leading zeros of CPFs survive; values come back exactly.
    let cpfs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT DISTINCT cpf FROM obitos ORDER BY cpf",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&cpfs),
        vec![
            vec!["01234567890"],
            vec!["11144477735"],
            vec!["52998224725"]
        ]
    );

    // A corrected re-delivery of 2024 replaces that partition only.
    let f2024b = write_file(
        dir.path(),
        "obitos_2024_corrigido.csv",
        &obitos_csv(2024, 1),
    );
    lagoa_ok(
        &lake,
        &[
            "ingest",
            &path(&f2024b),
            "--dataset",
            "obitos",
            "--mode",
            "replace-partition",
        ],
    );
    let counts = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT ano, count(*) FROM obitos GROUP BY ano ORDER BY ano",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&counts),
        vec![vec!["2023", "12"], vec!["2024", "3"]]
    );

    // Snapshot 2 still has the first 2024 delivery.
    let old = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM obitos WHERE ano = 2024",
            "--format",
            "csv",
            "--as-of",
            "2",
        ],
    );
    assert_eq!(csv_rows(&old), vec![vec!["6"]]);
    let before_all = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM obitos",
            "--format",
            "csv",
            "--as-of",
            "1",
        ],
    );
    assert_eq!(csv_rows(&before_all), vec![vec!["12"]]);
    let err = lagoa_err(
        &lake,
        &["query", "SELECT 1", "--as-of", "2001-01-01T00:00:00Z"],
    );
    assert!(err.contains("at or before 2001-01-01"), "{err}");

    // Full refresh.
    lagoa_ok(
        &lake,
        &[
            "ingest",
            &path(&f2024),
            "--dataset",
            "obitos",
            "--mode",
            "full-refresh",
        ],
    );
    let all = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    // Same bytes as snapshot 2's 2024 file: the fingerprint says it was already ingested.
    assert_eq!(csv_rows(&all), vec![vec!["15"]]);

    // What the catalog holds, from the commands and from SQL.
    let datasets = lagoa_ok(&lake, &["datasets"]);
    assert!(
        datasets.contains("obitos")
            && datasets.contains("especial")
            && datasets.contains("cpf,nome"),
        "{datasets}"
    );
    let snapshots = lagoa_ok(&lake, &["snapshots", "obitos", "--format", "csv"]);
    assert_eq!(csv_rows(&snapshots).len(), 3);
    assert!(snapshots.contains("replace_partition"), "{snapshots}");
    let files = lagoa_ok(&lake, &["files", "obitos", "--format", "csv"]);
    assert_eq!(
        csv_rows(&files).len(),
        2,
        "one live file per partition: {files}"
    );
    let sys = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT d.name, d.rows, count(f.path) AS files FROM system.datasets d JOIN system.files f ON f.dataset = d.name GROUP BY d.name, d.rows",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&sys), vec![vec!["obitos", "15", "2"]]);
    let snaps = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT max(snapshot_id) FROM system.snapshots",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&snaps), vec![vec!["3"]]);

    // Output formats.
    let json = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT municipio, idade FROM obitos WHERE ano = 2023 ORDER BY idade LIMIT 1",
            "--format",
            "json",
        ],
    );
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["idade"], 20);
    let parquet_out = dir.path().join("out.parquet");
    lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT * FROM obitos",
            "--format",
            "parquet",
            "--output",
            parquet_out.to_str().unwrap(),
        ],
    );
    assert_eq!(&std::fs::read(&parquet_out).unwrap()[..4], b"PAR1");
    let table = lagoa_ok(&lake, &["query", "SELECT count(*) AS n FROM obitos"]);
    assert!(table.contains("| n ") && table.contains("| 15 "), "{table}");
}

#[test]
fn rerunning_a_delivery_does_not_ingest_twice() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "d.csv", &obitos_csv(2024, 3));
    let f = f.to_str().unwrap();
    lagoa_ok(
        &lake,
        &["ingest", f, "--dataset", "obitos", "--personal", "cpf,nome"],
    );
    let again = lagoa_ok(&lake, &["ingest", f, "--dataset", "obitos"]);
    assert!(
        again.contains("already ingested") && again.contains("snapshot 1"),
        "{again}"
    );
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec!["9"]]);
    assert_eq!(parquet_files(&lake).len(), 1, "the rerun wrote no files");

    // The same bytes under another name: caught at commit, and what was
    // written for it (data files, raw copy) is removed again.
    let renamed = dir.path().join("d-reenviado.csv");
    std::fs::copy(f, &renamed).unwrap();
    let again = ingest(&lake, &renamed, "obitos", &[]);
    assert!(
        again.contains("already ingested") && again.contains("snapshot 1"),
        "{again}"
    );
    assert_eq!(parquet_files(&lake).len(), 1);
    let raw_objects = all_files(&lake.join("store/raw")).len();
    assert_eq!(raw_objects, 1, "one original kept, not two");
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec!["9"]]);
}

#[test]
fn contract_ingest_maps_columns_by_name_and_checks_the_header() {
    let (dir, lake) = new_lake();
    let contract = write_file(
        dir.path(),
        "obitos.toml",
        r#"
[dataset]
name = "obitos"
description = "Óbitos por município de residência"
level = "especial"
partition = "ano"

[[columns]]
name = "ano"
type = "integer"
nullable = false

[[columns]]
name = "municipio"
type = "string"

[[columns]]
name = "valor"
type = "decimal(12,2)"

[[columns]]
name = "cpf"
type = "string"
personal = "pessoal"
"#,
    );
    // Column order in the file differs from the contract; `;` delimiter.
    let f = write_file(
        dir.path(),
        "d.csv",
        "cpf;valor;municipio;ano\n01234567890;10.25;260005;2024\n52998224725;3.10;260055;2023\n",
    );
    lagoa_ok(
        &lake,
        &[
            "ingest",
            f.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--contract",
            contract.to_str().unwrap(),
        ],
    );
    let rows = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT ano, municipio, valor, cpf FROM obitos ORDER BY ano",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&rows),
        vec![
            vec!["2023", "260055", "3.10", "52998224725"],
            vec!["2024", "260005", "10.25", "01234567890"]
        ]
    );
    let types = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT arrow_typeof(valor) FROM obitos LIMIT 1",
            "--format",
            "csv",
        ],
    );
    assert!(types.contains("Decimal128(12, 2)"), "{types}");

    let missing = write_file(dir.path(), "m.csv", "cpf;valor;ano;extra\n1;2;2024;x\n");
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            missing.to_str().unwrap(),
            "--dataset",
            "obitos",
            "--contract",
            contract.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("m.csv")
            && err.contains("missing column municipio")
            && err.contains("new column extra"),
        "{err}"
    );
}

#[test]
fn bad_input_is_named_without_leaking_values() {
    let (dir, lake) = new_lake();
    let good = write_file(
        dir.path(),
        "good.csv",
        "municipio,idade,cpf\n260005,30,52998224725\n",
    );
    ingest(&lake, &good, "pessoas", &["--personal", "cpf"]);

    let bad = write_file(
        dir.path(),
        "bad.csv",
        "municipio,idade,cpf\n260005,31,11144477735\n260055,Severina,01234567890\n",
    );
    let err = lagoa_err(
        &lake,
        &["ingest", bad.to_str().unwrap(), "--dataset", "pessoas"],
    );
    assert!(
        err.contains("bad.csv") && err.contains("column idade: not an integer (e.g. line 3)"),
        "{err}"
    );
    for secret in ["Severina", "11144477735", "01234567890"] {
        assert!(!err.contains(secret), "the error leaks {secret}: {err}");
    }
    // Nothing of the failed delivery is visible, and its partial file is an orphan.
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM pessoas", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec!["1"]]);

    let err = lagoa_err(
        &lake,
        &["ingest", good.to_str().unwrap(), "--dataset", "nova"],
    );
    assert!(err.contains("needs a sharing level"), "{err}");
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            good.to_str().unwrap(),
            "--dataset",
            "nova",
            "--personal",
            "cpf",
            "--level",
            "amplo",
        ],
    );
    assert!(
        err.contains("not allowed for a dataset with personal-data columns"),
        "{err}"
    );
    let err = lagoa_err(
        &lake,
        &["ingest", good.to_str().unwrap(), "--dataset", "Nova"],
    );
    assert!(err.contains("invalid dataset name"), "{err}");
    let err = lagoa_err(&dir.path().join("nowhere"), &["datasets"]);
    assert!(err.contains("lagoa init"), "{err}");
}

#[test]
fn sql_cannot_write_or_reach_storage() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "d.csv", &obitos_csv(2024, 1));
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    for sql in [
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO obitos SELECT * FROM obitos",
        "COPY obitos TO '/tmp/leak.csv'",
        "SET datafusion.execution.batch_size = 1",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
        "DROP TABLE obitos",
    ] {
        let err = lagoa_err(&lake, &["query", sql]);
        assert!(
            err.contains("not supported") || err.contains("not allowed"),
            "{sql}: {err}"
        );
    }
    assert!(!std::path::Path::new("/tmp/leak.csv").exists());
}

#[test]
fn a_query_over_its_memory_limit_fails_clearly_and_spills_nothing() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "d.csv", &obitos_csv(2024, 400));
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    let sql =
        "SELECT nome, cpf, idade, count(*) FROM obitos GROUP BY nome, cpf, idade ORDER BY 4 DESC";
    let out = lagoa_env(
        &lake,
        &["query", sql],
        &[("LAGOA__QUERY__MEMORY_LIMIT", "16KiB")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the query should not fit in 16KiB");
    assert!(err.contains("query.memory_limit (16KiB)"), "{err}");
    // Within the default limit it runs.
    let rows = lagoa_ok(&lake, &["query", sql, "--format", "csv"]);
    assert!(csv_rows(&rows).len() > 3);
}

#[test]
fn vacuum_removes_orphans_and_expired_files_only() {
    let (dir, lake) = new_lake();
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    ingest(&lake, &f1, "obitos", &["--personal", "cpf,nome"]);
    ingest(&lake, &f2, "obitos", &["--mode", "full-refresh"]);
    let orphan = lake.join("store/tables/obitos/crashed-run.parquet");
    std::fs::write(&orphan, b"half a file").unwrap();

    // Defaults: retention 30 days, orphans older than 1 hour. Nothing to do.
    let out = lagoa_ok(&lake, &["vacuum"]);
    assert!(out.contains("Removed 0 expired and 0 orphan"), "{out}");
    assert!(orphan.exists());

    let out = lagoa_ok(&lake, &["vacuum", "--dry-run", "--min-age", "0s"]);
    assert!(
        out.contains("Would remove orphan") && out.contains("crashed-run.parquet"),
        "{out}"
    );
    assert!(orphan.exists(), "dry run deletes nothing");

    let out = lagoa_ok(&lake, &["vacuum", "--min-age", "0s"]);
    assert!(out.contains("Removed 0 expired and 1 orphan"), "{out}");
    assert!(!orphan.exists());
    assert_eq!(
        parquet_files(&lake).len(),
        2,
        "committed files stay, including snapshot 1's"
    );

    // With zero retention, the file only snapshot 1 needed goes too.
    let out = ok(
        lagoa_env(
            &lake,
            &["vacuum", "--min-age", "0s"],
            &[("LAGOA__RETENTION__SNAPSHOTS", "0s")],
        ),
        &["vacuum"],
    );
    assert!(out.contains("Removed 1 expired and 0 orphan"), "{out}");
    assert_eq!(parquet_files(&lake).len(), 1);
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec!["6"]]);
    let err = lagoa_err(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--as-of", "1"],
    );
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn key_rotation_keeps_old_files_readable() {
    let (dir, lake) = new_lake();
    let f1 = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    let f2 = write_file(dir.path(), "b.csv", &obitos_csv(2024, 2));
    ingest(&lake, &f1, "obitos", &["--personal", "cpf,nome"]);
    let out = lagoa_ok(&lake, &["keys", "rotate"]);
    assert!(
        out.contains("lagoa.obitos.data.v2") && out.contains("lagoa.obitos.pessoal.v2"),
        "{out}"
    );
    ingest(&lake, &f2, "obitos", &[]);
    let keys = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT master_key_id, count(*) FROM system.files GROUP BY master_key_id ORDER BY 1",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&keys),
        vec![
            vec!["lagoa.obitos.data.v1", "1"],
            vec!["lagoa.obitos.data.v2", "1"]
        ]
    );
    let n = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(DISTINCT cpf) AS people, count(*) FROM obitos",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&n), vec![vec!["3", "12"]]);
    let listed = lagoa_ok(&lake, &["keys", "list"]);
    // The lake's own secrets (the pseudonym key) have a holder of their own.
    let of_obitos = listed
        .lines()
        .filter(|l| l.starts_with("lagoa.obitos."))
        .count();
    assert_eq!(of_obitos, 4, "{listed}");
    assert!(listed.contains("lagoa.lagoa_pseudonym.data.v1"), "{listed}");
    assert!(!listed.contains("\"key\""), "key material is never printed");
}

#[test]
fn shredding_makes_a_dataset_unreadable_for_good() {
    let (dir, lake) = new_lake();
    let f = write_file(dir.path(), "a.csv", &obitos_csv(2023, 2));
    let other = write_file(dir.path(), "b.csv", "municipio,populacao\n260005,1000\n");
    ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    ingest(&lake, &other, "populacao", &["--level", "amplo"]);

    let err = lagoa_err(&lake, &["keys", "shred", "obitos"]);
    assert!(err.contains("--yes"), "{err}");
    // Shredding is an admin's: an analyst's token is refused, keys intact.
    let tokens = agreement(
        &lake,
        &[("saude", "consumer")],
        &[("ana", "saude", "analyst")],
    );
    let refused = lagoa_env(
        &lake,
        &["keys", "shred", "obitos", "--yes"],
        &[("LAGOA_TOKEN", &tokens["ana"])],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an admin"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = lagoa_ok(&lake, &["keys", "shred", "obitos", "--yes"]);
    assert!(out.contains("Shredded obitos"), "{out}");

    let err = lagoa_err(&lake, &["query", "SELECT count(*) FROM obitos"]);
    assert!(err.contains("crypto-shredded"), "{err}");
    // Time travel does not help either: the keys are gone.
    let err = lagoa_err(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--as-of", "1"],
    );
    assert!(
        err.contains("obitos") && (err.contains("shredded") || err.contains("key")),
        "{err}"
    );
    let keystore = std::fs::read_to_string(lake.join("keys/keystore.json")).unwrap();
    assert!(
        !keystore.contains("lagoa.obitos."),
        "no key of the dataset remains"
    );
    // The original delivery in the raw zone is gone for good too.
    let listed = lagoa_ok(&lake, &["raw", "list", "--dataset", "obitos", "--json"]);
    let raw: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    let out = dir.path().join("restored.csv");
    let err = lagoa_err(
        &lake,
        &[
            "raw",
            "get",
            raw["raw_id"].as_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(err.contains("crypto-shredded"), "{err}");
    // Other datasets are untouched.
    let n = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT sum(populacao) FROM populacao",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&n), vec![vec!["1000"]]);
    let datasets = lagoa_ok(&lake, &["datasets", "--format", "csv"]);
    assert!(
        datasets
            .lines()
            .any(|l| l.starts_with("obitos,") && !l.ends_with(',')),
        "shredded_at shown: {datasets}"
    );
    let err = lagoa_err(
        &lake,
        &["ingest", f.to_str().unwrap(), "--dataset", "obitos"],
    );
    assert!(err.contains("shredded"), "{err}");
}

#[test]
fn two_processes_ingesting_at_once_both_land() {
    let (dir, lake) = new_lake();
    let seed = write_file(dir.path(), "seed.csv", &obitos_csv(2020, 1));
    ingest(
        &lake,
        &seed,
        "obitos",
        &["--personal", "cpf,nome", "--partition", "ano"],
    );
    let files: Vec<_> = (0..4)
        .map(|i| write_file(dir.path(), &format!("p{i}.csv"), &obitos_csv(2021 + i, 50)))
        .collect();
    ingest_concurrently(&lake, &files, "obitos", &[], &[]);
    let n = lagoa_ok(
        &lake,
        &["query", "SELECT count(*) FROM obitos", "--format", "csv"],
    );
    assert_eq!(csv_rows(&n), vec![vec![(3 + 4 * 150).to_string()]]);
    let snaps = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM system.snapshots",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&snaps), vec![vec!["5"]]);
}

#[test]
fn files_are_pruned_from_catalog_statistics_before_any_is_opened() {
    let (dir, lake) = new_lake();
    for year in [2022, 2023, 2024] {
        let f = write_file(dir.path(), &format!("{year}.csv"), &obitos_csv(year, 50));
        ingest(&lake, &f, "obitos", &["--personal", "cpf,nome"]);
    }
    // No partition column: pruning here comes from per-file min/max statistics.
    let plan = lagoa_ok(
        &lake,
        &[
            "query",
            "EXPLAIN SELECT count(*) FROM obitos WHERE data_obito >= '2024-03-01'",
            "--format",
            "csv",
        ],
    );
    assert!(
        plan.contains("LakeScanExec: dataset=obitos, files=1"),
        "{plan}"
    );
    assert!(
        plan.contains("predicate="),
        "the predicate is pushed into the Parquet scan: {plan}"
    );
    let plan = lagoa_ok(
        &lake,
        &[
            "query",
            "EXPLAIN SELECT count(*) FROM obitos WHERE idade > 1000",
            "--format",
            "csv",
        ],
    );
    assert!(plan.contains("files=0"), "{plan}");

    // Break the 2022 and 2023 files: a query that cannot match them never opens them.
    let files = parquet_files(&lake);
    let mut by_year = Vec::new();
    for file in &files {
        let path = file
            .strip_prefix(lake.join("store"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let sql = format!(
            "SELECT min(partition_value) IS NULL, begin_snapshot FROM system.files WHERE path = '{path}' GROUP BY begin_snapshot"
        );
        let row = csv_rows(&lagoa_ok(&lake, &["query", &sql, "--format", "csv"]));
        by_year.push((row[0][1].clone(), file.clone()));
    }
    by_year.sort();
    for (_, file) in &by_year[..2] {
        std::fs::write(file, b"not a parquet file any more").unwrap();
    }
    let n = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM obitos WHERE ano = 2024",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&n), vec![vec!["150"]]);
    let err = lagoa_err(&lake, &["query", "SELECT count(*) FROM obitos"]);
    assert!(err.contains("cannot be read"), "{err}");
}

#[test]
fn every_delivery_is_kept_in_the_raw_zone_even_rejected_ones() {
    let (dir, lake) = new_lake();
    let good = write_file(dir.path(), "good.csv", &obitos_csv(2024, 3));
    ingest(&lake, &good, "obitos", &["--personal", "cpf,nome"]);
    let (cpf, nome) = PEOPLE[0];
    let bad = write_file(
        dir.path(),
        "bad.csv",
        &format!(
            "municipio,data_obito,ano,causa_cid,idade,valor,cpf,nome\n260005,2024-01-15,2024,A01,trinta,1.50,{cpf},{nome}\n"
        ),
    );
    let err = lagoa_err(
        &lake,
        &["ingest", bad.to_str().unwrap(), "--dataset", "obitos"],
    );
    assert!(
        err.contains("column idade: not an integer (e.g. line 2)"),
        "{err}"
    );
    // A rerun of an ingested delivery stops at its fingerprint and copies nothing.
    ingest(&lake, &good, "obitos", &[]);

    let listed = lagoa_ok(&lake, &["raw", "list", "--json"]);
    let deliveries: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(deliveries.len(), 2, "{listed}");
    let find = |source: &str| {
        deliveries
            .iter()
            .find(|d| d["source"] == source)
            .unwrap()
            .clone()
    };
    let (kept_good, kept_bad) = (find("good.csv"), find("bad.csv"));
    assert_eq!(kept_good["status"], "committed");
    assert_eq!(kept_good["snapshot_id"], 1);
    assert_eq!(kept_bad["status"], "failed");
    let reason = kept_bad["error"].as_str().unwrap();
    assert!(
        reason.contains("column idade") && !reason.contains(cpf) && !reason.contains("trinta"),
        "{reason}"
    );

    // The originals come back byte for byte.
    for (delivery, original) in [(&kept_good, &good), (&kept_bad, &bad)] {
        let out = dir.path().join("restored.csv");
        lagoa_ok(
            &lake,
            &[
                "raw",
                "get",
                delivery["raw_id"].as_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(original).unwrap()
        );
    }
    // On the store they are encrypted.
    let raw_object = lake.join("store").join(kept_bad["path"].as_str().unwrap());
    let stored = std::fs::read(&raw_object).unwrap();
    assert!(!stored.windows(cpf.len()).any(|w| w == cpf.as_bytes()));
    let table = lagoa_ok(&lake, &["raw", "list", "--dataset", "obitos"]);
    assert!(
        table.contains("failed") && table.contains("bad.csv"),
        "{table}"
    );
}
