//! The current state of a source table: upserts by primary key, deletes
//! by a soft-delete column, time travel to every earlier state, and
//! compaction that folds the deletes without changing what any snapshot
//! reads. The PostgreSQL test compares the lake with the source database
//! row by row after a random sequence of inserts, updates and deletes, with
//! `kill -9` before and after a commit on the way.

use crate::support::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

/// The crash tests' contract (a primary key, a personal column), with a
/// soft-delete column.
fn contract() -> String {
    format!(
        "{}\n[[columns]]\nname = \"excluido\"\ntype = \"string\"\n",
        crate::crashes::CONTRACT
    )
}

fn rows(lake: &Path, sql: &str, as_of: Option<&str>) -> Vec<Vec<String>> {
    let mut args = vec!["query", sql, "--format", "csv"];
    if let Some(snapshot) = as_of {
        args.extend(["--as-of", snapshot]);
    }
    csv_rows(&lagoa_ok(lake, &args))
}

fn one(lake: &Path, sql: &str, as_of: Option<&str>) -> String {
    rows(lake, sql, as_of)[0][0].clone()
}

fn line(id: i64, valor: &str, excluido: &str) -> String {
    format!(
        "{id},Município {},{valor},{},{excluido}\n",
        id % 7,
        lagoa_schemas::validators::cpf_from_base(200_000_000 + id as u32)
    )
}

#[test]
fn an_upsert_replaces_and_deletes_by_key_and_every_earlier_state_stays_readable() {
    let (dir, lake) = new_lake();
    let contract_file = write_file(dir.path(), "entregas.toml", &contract());
    let contract_path = contract_file.to_str().unwrap();
    let header = "id,municipio,valor,cpf,excluido\n";

    let mut base = String::from(header);
    for id in 1..=2000 {
        base.push_str(&line(id, &format!("{id}.00"), ""));
    }
    let base = write_file(dir.path(), "entregas_2026_10.csv", &base);
    let upsert = |file: &Path| {
        lagoa_ok(
            &lake,
            &[
                "ingest",
                file.to_str().unwrap(),
                "--dataset",
                "entregas",
                "--contract",
                contract_path,
                "--mode",
                "upsert",
                "--delete-column",
                "excluido",
            ],
        )
    };
    let out = upsert(&base);
    assert!(out.contains("upserted 2000 rows"), "{out}");
    let first = word_after(&out, "as snapshot ");

    // Twenty corrections, ten new records, five deletions, and one key
    // twice (the later row wins).
    let mut change = String::from(header);
    for id in 1..=20 {
        change.push_str(&line(id, "999.00", ""));
    }
    for id in 2001..=2010 {
        change.push_str(&line(id, "1.00", ""));
    }
    for id in 100..=104 {
        change.push_str(&line(id, "0.00", "S"));
    }
    change.push_str(&line(50, "1.50", ""));
    change.push_str(&line(50, "2.50", "N"));
    let change = write_file(dir.path(), "entregas_2026_11.csv", &change);
    let out = upsert(&change);
    assert!(
        out.contains("21 row(s) replaced, 5 deleted (5 deletion mark(s), 1 repeated key(s)"),
        "{out}"
    );
    let second = word_after(&out, "as snapshot ");

    let current = |as_of: Option<&str>| {
        (
            one(&lake, "SELECT count(*) FROM entregas", as_of),
            one(&lake, "SELECT count(DISTINCT id) FROM entregas", as_of),
            one(&lake, "SELECT valor FROM entregas WHERE id = 1", as_of),
            one(&lake, "SELECT valor FROM entregas WHERE id = 50", as_of),
            one(
                &lake,
                "SELECT count(*) FROM entregas WHERE id BETWEEN 100 AND 104",
                as_of,
            ),
        )
    };
    let now = (
        "2005".to_owned(),
        "2005".to_owned(),
        "999.00".to_owned(),
        "2.50".to_owned(),
        "0".to_owned(),
    );
    let before = (
        "2000".to_owned(),
        "2000".to_owned(),
        "1.00".to_owned(),
        "50.00".to_owned(),
        "5".to_owned(),
    );
    assert_eq!(current(None), now);
    assert_eq!(current(Some(&first)), before, "time travel reads the past");
    // Filters and projections go through the same skipping.
    assert_eq!(
        one(
            &lake,
            "SELECT sum(valor) FROM entregas WHERE municipio = 'Município 1'",
            None
        ),
        one(
            &lake,
            "SELECT sum(valor) FROM (SELECT DISTINCT * FROM entregas) WHERE municipio = 'Município 1'",
            None
        )
    );
    // The catalog's counts agree with what is read.
    assert_eq!(
        one(
            &lake,
            "SELECT rows FROM system.datasets WHERE name = 'entregas'",
            None
        ),
        "2005"
    );
    assert_eq!(
        one(
            &lake,
            "SELECT sum(deleted_rows) FROM system.files WHERE dataset = 'entregas'",
            None
        ),
        // 21 replaced + 5 deleted in the first file; the superseded row
        // and the five deletion marks in the second.
        "32"
    );

    // The same delivery again changes nothing.
    let out = upsert(&change);
    assert!(out.contains("already ingested"), "{out}");
    assert_eq!(current(None), now);

    // Killed just before its commit, a compaction leaves everything as it
    // was; the files it wrote are orphans for vacuum.
    let killed = lagoa_env(
        &lake,
        &["compact"],
        &[("LAGOA_FAULT_POINT", "compact.before_commit")],
    );
    assert_eq!(killed.status.signal(), Some(9), "{killed:?}");
    assert_eq!(current(None), now);
    let files_before = one(
        &lake,
        "SELECT count(*) FROM system.files WHERE dataset = 'entregas'",
        None,
    );
    assert_eq!(files_before, "2");
    let vacuumed = lagoa_ok(&lake, &["vacuum", "--min-age", "0s"]);
    assert!(vacuumed.contains("and 1 orphan file(s)"), "{vacuumed}");

    let out = lagoa_ok(&lake, &["compact", "--dry-run"]);
    assert!(
        out.contains("Would compact entregas: 2 file(s), 2005 rows (32 deleted row(s) folded)"),
        "{out}"
    );
    let out = lagoa_ok(&lake, &["compact"]);
    assert!(
        out.contains("Compacted entregas: 2 file(s), 2005 rows (32 deleted row(s) folded)"),
        "{out}"
    );
    assert!(out.contains("into 1 file(s)"), "{out}");
    assert_eq!(current(None), now);
    assert_eq!(
        one(
            &lake,
            "SELECT count(*) || '/' || sum(deleted_rows) FROM system.files WHERE dataset = 'entregas'",
            None
        ),
        "1/0"
    );
    assert_eq!(current(Some(&first)), before, "compaction keeps the past");
    assert_eq!(current(Some(&second)), now);
    let out = lagoa_ok(&lake, &["compact"]);
    assert!(out.contains("Nothing to compact"), "{out}");
    // Each compaction is a run: the killed one closed as abandoned, the
    // other committed.
    let runs: Vec<serde_json::Value> = lagoa_ok(&lake, &["runs", "--json"])
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["source"] == "lagoa compact")
        .collect();
    let outcomes: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["error_class"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        outcomes.contains(&("committed", "")) && outcomes.contains(&("failed", "abandoned")),
        "{runs:?}"
    );

    // Upserts go on against the compacted file.
    let mut third = String::from(header);
    third.push_str(&line(1, "7.00", ""));
    third.push_str(&line(2, "0.00", "sim"));
    let third = write_file(dir.path(), "entregas_2026_12.csv", &third);
    let out = upsert(&third);
    assert!(out.contains("1 row(s) replaced, 1 deleted"), "{out}");
    assert_eq!(
        one(&lake, "SELECT valor FROM entregas WHERE id = 1", None),
        "7.00"
    );
    assert_eq!(one(&lake, "SELECT count(*) FROM entregas", None), "2004");

    // Rows the contract rejected from an upsert, released after the
    // contract is fixed, are written as their delivery was: they replace
    // the rows with their keys, never add a second version.
    let mut fourth = String::from(header);
    for id in 11..=49 {
        fourth.push_str(&line(id, "5.00", ""));
    }
    fourth.push_str(&format!(
        "10,,5.00,{},\n",
        lagoa_schemas::validators::cpf_from_base(200_000_010)
    ));
    let fourth = write_file(dir.path(), "entregas_2027_01.csv", &fourth);
    let out = upsert(&fourth);
    assert!(
        out.contains("(1 rejected to quarantine)") && out.contains("39 row(s) replaced"),
        "{out}"
    );
    let rejected_run = out.rsplit("run ").next().unwrap().trim().to_owned();
    let relaxed = write_file(
        dir.path(),
        "relaxed.toml",
        &contract().replace(
            "name = \"municipio\"\ntype = \"string\"\nnullable = false",
            "name = \"municipio\"\ntype = \"string\"\nnullable = true",
        ),
    );
    let out = lagoa_ok(
        &lake,
        &[
            "quarantine",
            "release",
            &rejected_run,
            "--contract",
            relaxed.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("upserted 1 rows") && out.contains("1 row(s) replaced"),
        "{out}"
    );
    assert_eq!(one(&lake, "SELECT count(*) FROM entregas", None), "2004");
    assert_eq!(
        one(
            &lake,
            "SELECT count(*) || ':' || max(valor) FROM entregas WHERE municipio IS NULL",
            None
        ),
        "1:5.00"
    );

    // Analysts read the current state through the same tables.
    let dump = rows(&lake, "SELECT id FROM entregas ORDER BY id", None);
    assert_eq!(dump.len(), 2004);
    assert!(
        dump.iter()
            .all(|r| r[0] != "2" && !(100..=104).contains(&r[0].parse::<i64>().unwrap()))
    );
}

#[test]
fn an_upsert_without_a_key_is_refused_and_lands_nothing() {
    let (dir, lake) = new_lake();
    // `lagoa ingest FILE --dataset sem_chave ARGS...`.
    let ingest_args = |file: &Path, args: &[&str]| -> Vec<String> {
        let mut all = vec!["ingest".to_owned(), file.display().to_string()];
        all.extend(["--dataset", "sem_chave"].iter().map(|a| a.to_string()));
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let run_ok = |file: &Path, args: &[&str]| {
        let all = ingest_args(file, args);
        lagoa_ok(&lake, &all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run_err = |file: &Path, args: &[&str]| {
        let all = ingest_args(file, args);
        lagoa_err(&lake, &all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let count_and_max = || {
        one(
            &lake,
            "SELECT count(*) || ':' || max(valor) FROM sem_chave",
            None,
        )
    };

    let file = write_file(dir.path(), "sem_chave.csv", "id,valor\n1,2\n");
    let err = run_err(&file, &["--level", "amplo", "--mode", "upsert"]);
    assert!(err.contains("needs a primary key"), "{err}");
    let err = lagoa_err(&lake, &["query", "SELECT count(*) FROM sem_chave"]);
    assert!(err.contains("sem_chave"), "nothing landed: {err}");
    let err = run_err(&file, &["--level", "amplo", "--key", "id"]);
    assert!(err.contains("--mode upsert only"), "{err}");

    // With --key, it works (named as the header is normalised), and a key
    // that is not a column is named.
    let out = run_ok(
        &file,
        &["--level", "amplo", "--mode", "upsert", "--key", "ID"],
    );
    assert!(out.contains("upserted 1 rows"), "{out}");
    let again = write_file(dir.path(), "sem_chave_2.csv", "id,valor\n1,3\n");
    let out = run_ok(&again, &["--mode", "upsert", "--key", "id"]);
    assert!(out.contains("1 row(s) replaced"), "{out}");
    assert_eq!(count_and_max(), "1:3");
    let err = run_err(&again, &["--mode", "upsert", "--key", "codigo"]);
    assert!(err.contains("codigo"), "{err}");

    // A row without its key is never an upsert: the run fails and the
    // table stays as it was.
    let keyless = write_file(dir.path(), "sem_chave_3.csv", "id,valor\n,4\n1,5\n");
    let err = run_err(&keyless, &["--mode", "upsert", "--key", "id"]);
    assert!(err.contains("id"), "{err}");
    assert_eq!(count_and_max(), "1:3");
}

/// A small deterministic generator (the test's sequence is the same on
/// every run, and a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn cents(n: u64) -> String {
    format!("{}.{:02}", n / 100, n % 100)
}

const PG_CONTRACT: &str = "[dataset]\nname = \"atendimento\"\nlevel = \"corporativo\"\nprimary_key = [\"id\"]\n\n[[columns]]\nname = \"id\"\ntype = \"integer\"\nnullable = false\n\n[[columns]]\nname = \"codmun\"\ntype = \"string\"\n\n[[columns]]\nname = \"valor\"\ntype = \"decimal(10,2)\"\n\n[[columns]]\nname = \"atualizado_em\"\ntype = \"timestamp\"\n\n[[columns]]\nname = \"excluido\"\ntype = \"boolean\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_matches_the_source_database_row_by_row_after_random_changes_and_kills() {
    let test = "the_lake_matches_the_source_database_row_by_row_after_random_changes_and_kills";
    let Some(pg) = postgres(test).await else {
        return;
    };
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::query(
        "CREATE TABLE atendimento (id BIGINT PRIMARY KEY, codmun TEXT NOT NULL, valor NUMERIC(10,2), atualizado_em TIMESTAMP NOT NULL, excluido BOOLEAN NOT NULL DEFAULT false)",
    )
    .execute(&mut db)
    .await
    .unwrap();

    let (dir, lake) = new_lake();
    let contract = write_file(dir.path(), "atendimento_contract.toml", PG_CONTRACT);
    let source = write_file(
        dir.path(),
        "atendimento.toml",
        &format!(
            "name = \"esus_atendimento\"\ndataset = \"atendimento\"\ncontract = \"{}\"\nmode = \"upsert\"\ndelete_column = \"excluido\"\n[source]\ntype = \"postgres\"\nurl = \"{}\"\ntable = \"atendimento\"\nincremental = {{ cursor = \"atualizado_em\", primary_key = [\"id\"] }}\nchunk_rows = 97\n",
            contract.display(),
            pg.url
        ),
    );
    let source = source.to_str().unwrap();

    let mut random = Lcg(20261205);
    let mut next_id = 1i64;
    let mut snapshots: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for round in 0..10 {
        let at = format!("TIMESTAMP '2026-01-01 00:00:00' + INTERVAL '{round} hours'");
        let inserts = if round == 0 {
            400
        } else {
            5 + random.next(40) as i64
        };
        for _ in 0..inserts {
            sqlx::query(&format!(
                "INSERT INTO atendimento VALUES ($1, $2, $3::numeric, {at}, false)"
            ))
            .bind(next_id)
            .bind(format!("1200{}", next_id % 10))
            .bind(cents(random.next(100_000)))
            .execute(&mut db)
            .await
            .unwrap();
            next_id += 1;
        }
        if round > 0 {
            for _ in 0..random.next(60) {
                let id = 1 + random.next(next_id as u64 - 1) as i64;
                sqlx::query(&format!(
                    "UPDATE atendimento SET valor = $2::numeric, codmun = $3, atualizado_em = {at} WHERE id = $1"
                ))
                .bind(id)
                .bind(cents(random.next(100_000)))
                .bind(format!("1300{}", random.next(10)))
                .execute(&mut db)
                .await
                .unwrap();
            }
            // Deletions at the source, and now and then one undone.
            for _ in 0..random.next(25) {
                let id = 1 + random.next(next_id as u64 - 1) as i64;
                let deleted = random.next(5) != 0;
                sqlx::query(&format!(
                    "UPDATE atendimento SET excluido = $2, atualizado_em = {at} WHERE id = $1"
                ))
                .bind(id)
                .bind(deleted)
                .execute(&mut db)
                .await
                .unwrap();
            }
        }

        // Round 3 is killed just before its commit, round 6 just after:
        // the rerun must land each change once.
        let kill = match round {
            3 => Some("run.before_commit"),
            6 => Some("run.after_commit"),
            _ => None,
        };
        if let Some(point) = kill {
            let killed = lagoa_env(
                &lake,
                &["source", "run", source],
                &[("LAGOA_FAULT_POINT", point)],
            );
            assert_eq!(killed.status.signal(), Some(9), "{point}: {killed:?}");
        }
        let out = lagoa_ok(&lake, &["source", "run", source]);
        assert!(
            out.contains("upserted") || out.contains("nothing new"),
            "round {round}: {out}"
        );

        let expected: Vec<Vec<String>> = sqlx::query_as::<_, (i64, String, Option<String>)>(
            "SELECT id, codmun, valor::text FROM atendimento WHERE NOT excluido ORDER BY id",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, codmun, valor)| vec![id.to_string(), codmun, valor.unwrap_or_default()])
        .collect();
        let lake_rows = rows(
            &lake,
            "SELECT id, codmun, valor FROM atendimento ORDER BY id",
            None,
        );
        assert_eq!(lake_rows.len(), expected.len(), "round {round}: row count");
        assert_eq!(
            lake_rows, expected,
            "round {round}: the lake differs from the source"
        );
        let latest = one(&lake, "SELECT max(snapshot_id) FROM system.snapshots", None);
        snapshots.push((latest, expected));
    }

    // Compaction changes no state, the current one or any earlier one.
    let out = lagoa_ok(&lake, &["compact", "atendimento"]);
    assert!(out.contains("Compacted atendimento"), "{out}");
    assert_eq!(
        one(
            &lake,
            "SELECT sum(deleted_rows) FROM system.files WHERE dataset = 'atendimento'",
            None
        ),
        "0"
    );
    for (snapshot, expected) in &snapshots {
        let then = rows(
            &lake,
            "SELECT id, codmun, valor FROM atendimento ORDER BY id",
            Some(snapshot),
        );
        assert_eq!(&then, expected, "as of snapshot {snapshot}");
    }
    drop(dir);
}

/// Runs the upsert of `first` paused right after its planning, and the
/// upsert of `second` while it waits: `first` commits against a state it
/// did not plan from.
fn race(lake: &Path, first: &Path, second: &Path) {
    let upsert = ["--mode", "upsert", "--key", "id"];
    let mut slow = std::process::Command::new(lagoa_bin())
        .arg("--lake")
        .arg(lake)
        .args(["ingest", first.to_str().unwrap(), "--dataset", "saldo"])
        .args(upsert)
        .env("LAGOA_FAULT_PAUSE", "upsert.planned=4000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (planned, waiting) = std::sync::mpsc::channel();
    let stderr = slow.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("fault point upsert.planned reached") {
                let _ = planned.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    waiting
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the slow upsert reaches its pause");
    let out = ingest(lake, second, "saldo", &upsert);
    assert!(out.contains("upserted"), "{out}");
    let slow = slow.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    assert!(slow.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&slow.stdout).contains("upserted"),
        "{stderr}"
    );
}

/// Two upserts prepared from the same state: the one that commits second
/// finds the dataset changed since, works its deletion vectors out again,
/// and both land with no row resurrected or doubled, whether they touch
/// the same file or only carry the same new keys.
#[test]
fn concurrent_upserts_both_land_without_resurrecting_or_doubling_rows() {
    let (dir, lake) = new_lake();
    let rows = |ids: std::ops::RangeInclusive<i64>, value: i64| {
        let mut text = String::from("id,valor\n");
        for id in ids {
            text.push_str(&format!("{id},{value}\n"));
        }
        text
    };
    let base = write_file(dir.path(), "base.csv", &rows(1..=100, 0));
    let out = ingest(
        &lake,
        &base,
        "saldo",
        &["--level", "amplo", "--mode", "upsert", "--key", "id"],
    );
    assert!(out.contains("upserted 100 rows"), "{out}");
    let state = |lake: &Path| {
        one(
            lake,
            "SELECT count(*) || ':' || count(DISTINCT id) || ':' || sum(valor) FROM saldo",
            None,
        )
    };

    // Both replace rows of the same file.
    let first = write_file(dir.path(), "first.csv", &rows(1..=50, 1));
    let second = write_file(dir.path(), "second.csv", &rows(51..=100, 2));
    race(&lake, &first, &second);
    assert_eq!(state(&lake), "100:100:150");

    // Both carry the same keys, new to the table: no file of the table is
    // touched, and each key must still end up once.
    let third = write_file(dir.path(), "third.csv", &rows(101..=110, 1));
    let fourth = write_file(dir.path(), "fourth.csv", &rows(105..=115, 1));
    race(&lake, &third, &fourth);
    assert_eq!(state(&lake), "115:115:165");
}

/// Rows of different partitions are written to different files, in no
/// order the delivery gave them: one key in two partitions is refused, and
/// nothing lands.
#[test]
fn a_key_in_two_partitions_of_one_delivery_is_refused() {
    let (dir, lake) = new_lake();
    let file = write_file(
        dir.path(),
        "mudancas.csv",
        "id,ano,valor\n1,2024,1\n2,2024,2\n1,2025,3\n",
    );
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "mudancas",
            "--level",
            "amplo",
            "--partition",
            "ano",
            "--mode",
            "upsert",
            "--key",
            "id",
        ],
    );
    assert!(
        err.contains("in two partitions (2024 and 2025)")
            || err.contains("in two partitions (2025 and 2024)"),
        "{err}"
    );
    let err = lagoa_err(&lake, &["query", "SELECT count(*) FROM mudancas"]);
    assert!(err.contains("mudancas"), "nothing landed: {err}");
}

/// The same from MariaDB, whose booleans are `TINYINT(1)`: a non-zero
/// delete column marks the row deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_source_upserts_and_deletes_by_key() {
    use sqlx::Connection;
    let url = "mysql://root@127.0.0.1:3306/test";
    let mut db = match sqlx::MySqlConnection::connect(url).await {
        Ok(db) => db,
        Err(e) => {
            skip(
                "a_mariadb_source_upserts_and_deletes_by_key",
                &format!("MariaDB is not reachable at {url}: {e}"),
            );
            return;
        }
    };
    let table = format!(
        "atend_up_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, codmun VARCHAR(10) NOT NULL, valor DECIMAL(10,2), atualizado_em DATETIME NOT NULL, excluido TINYINT(1) NOT NULL DEFAULT 0)"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO {table} VALUES (1,'12001',1.00,'2026-01-01 00:00:00',0),(2,'12002',2.00,'2026-01-01 00:00:00',0),(3,'12003',3.00,'2026-01-01 00:00:00',0)"
    ))
    .execute(&mut db)
    .await
    .unwrap();

    let (dir, lake) = new_lake();
    let contract = write_file(
        dir.path(),
        "atend_up.toml",
        &PG_CONTRACT
            .replace("atendimento", "atend_up")
            .replace("type = \"boolean\"", "type = \"integer\""),
    );
    let source = write_file(
        dir.path(),
        "atend_up.source.toml",
        &format!(
            "name = \"mariadb_atend\"\ndataset = \"atend_up\"\ncontract = \"{}\"\nmode = \"upsert\"\ndelete_column = \"excluido\"\n[source]\ntype = \"mysql\"\nurl = \"{url}\"\ntable = \"{table}\"\nincremental = {{ cursor = \"atualizado_em\", primary_key = [\"id\"] }}\n",
            contract.display()
        ),
    );
    let source = source.to_str().unwrap();
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(out.contains("upserted 3 rows"), "{out}");
    for statement in [
        format!(
            "UPDATE {table} SET valor = 9.99, atualizado_em = '2026-01-02 00:00:00' WHERE id = 1"
        ),
        format!(
            "UPDATE {table} SET excluido = 1, atualizado_em = '2026-01-02 00:00:00' WHERE id = 2"
        ),
        format!("INSERT INTO {table} VALUES (4,'12004',4.00,'2026-01-02 00:00:00',0)"),
    ] {
        sqlx::raw_sql(&statement).execute(&mut db).await.unwrap();
    }
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(out.contains("1 row(s) replaced, 1 deleted"), "{out}");
    sqlx::raw_sql(&format!("DROP TABLE {table}"))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        rows(
            &lake,
            "SELECT id, codmun, valor FROM atend_up ORDER BY id",
            None
        ),
        vec![
            vec!["1", "12001", "9.99"],
            vec!["3", "12003", "3.00"],
            vec!["4", "12004", "4.00"],
        ]
    );
}
