//! Personal columns a reader has no personal grant for come as pseudonyms:
//! never the value, the same pseudonym for the same person in every dataset
//! (so joins work), and the keys of personal columns released one column at
//! a time.

use crate::support::*;
use std::path::Path;

const PURPOSE: &str = "vigilância de óbitos após internação";

fn query_as(lake: &Path, token: &str, sql: &str) -> std::process::Output {
    lagoa_env(
        lake,
        &["query", sql, "--format", "csv", "--purpose", PURPOSE],
        &[("LAGOA_TOKEN", token)],
    )
}

/// Two especial datasets of saude with CPFs (one written with separators),
/// and an analyst of educ granted both with `cpf` but not its values.
fn setup(dir: &Path, lake: &Path) -> String {
    ingest_obitos_especial(dir, lake);
    let internacoes = write_file(
        dir,
        "internacoes.csv",
        "municipio,cpf,dias\n260005,529.982.247-25,3\n260055,111.444.777-35,5\n261000,987.654.321-00,2\n",
    );
    ingest(
        lake,
        &internacoes,
        "internacoes",
        &["--personal", "cpf", "--level", "especial"],
    );
    let mut tokens = agreement(
        lake,
        &[("saude", "provider"), ("educ", "consumer")],
        &[("maria", "saude", "steward"), ("ana", "educ", "analyst")],
    );
    let (maria, ana) = (
        tokens.remove("maria").unwrap(),
        tokens.remove("ana").unwrap(),
    );
    for (dataset, columns) in [("obitos", "municipio,ano,cpf"), ("internacoes", "cpf,dias")] {
        grant_through_request(
            lake,
            &maria,
            &ana,
            dataset,
            "saude",
            PURPOSE,
            &["--columns", columns],
        );
    }
    ana
}

#[test]
fn ungranted_personal_columns_come_as_pseudonyms_that_still_join() {
    let (dir, lake) = new_lake();
    let ana = setup(dir.path(), &lake);

    let out = ok(
        query_as(&lake, &ana, "SELECT DISTINCT cpf FROM obitos ORDER BY cpf"),
        &["query"],
    );
    let pseudonyms: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(pseudonyms.len(), PEOPLE.len(), "{out}");
    for p in &pseudonyms {
        assert!(
            p.len() == 33 && p.starts_with('p') && p[1..].chars().all(|c| c.is_ascii_hexdigit()),
            "not a pseudonym: {p}"
        );
    }
    for (cpf, _) in PEOPLE {
        assert!(!out.contains(cpf), "a CPF came out in clear: {out}");
    }

    // The same person has the same pseudonym in both datasets, whatever the
    // CPF's punctuation: two of the three people were admitted.
    let joined = ok(
        query_as(
            &lake,
            &ana,
            "SELECT count(DISTINCT o.cpf) AS pessoas FROM obitos o JOIN internacoes i ON o.cpf = i.cpf",
        ),
        &["query"],
    );
    assert_eq!(joined.lines().nth(1), Some("2"), "{joined}");

    // Functions and casts of the pseudonym give nothing more.
    let cast = ok(
        query_as(
            &lake,
            &ana,
            "SELECT DISTINCT CAST(cpf AS VARCHAR) AS c FROM internacoes",
        ),
        &["query"],
    );
    assert!(
        !cast.contains("529.982.247-25") && !cast.contains("52998224725"),
        "{cast}"
    );

    // The pseudonym function is not there to hash a guessed CPF with.
    for sql in [
        "SELECT lagoa_pseudonym('52998224725') AS p",
        "SELECT lagoa_pseudonym(municipio) AS p FROM obitos",
    ] {
        let out = query_as(&lake, &ana, sql);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql} ran: {stderr}");
        assert!(stderr.contains("Invalid function"), "{sql}: {stderr}");
    }

    // A personal column outside the grant stays hidden.
    let out = query_as(&lake, &ana, "SELECT nome FROM obitos");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("obitos.nome is not available to you"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn personal_column_keys_are_released_one_column_at_a_time() {
    let (dir, lake_dir) = new_lake();
    ingest_obitos_especial(dir.path(), &lake_dir);
    let lake = lagoa_lake::Lake::open(&lake_dir).await.unwrap();
    let (info, files) = dataset_and_files(&lake, "obitos").await;
    // A session whose grants give `cpf` in clear, and not `nome`.
    let released = [("obitos".to_owned(), "cpf".to_owned())]
        .into_iter()
        .collect();
    let gate =
        lagoa_lake::keys::PersonalKeyGate::new(std::sync::Arc::clone(lake.crypto.keys()), released);
    let crypto = std::sync::Arc::new(lagoa_lake::crypto::LakeCrypto::new(
        std::sync::Arc::new(gate),
        lake.crypto.enabled(),
    ));
    let table = lagoa_lake::table::LakeTable::new(
        info,
        files,
        crypto,
        std::sync::Arc::clone(&lake.store.store),
    )
    .unwrap();
    let ctx = lagoa_lake::session::new_context(&lake, false).unwrap();
    ctx.register_table("t", std::sync::Arc::new(table)).unwrap();
    let rows = ctx
        .sql("SELECT count(DISTINCT cpf) AS n FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = arrow::compute::cast(rows[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    let n = n
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, PEOPLE.len() as i64, "the released column decrypts");
    let e = match ctx.sql("SELECT nome FROM t").await.unwrap().collect().await {
        Ok(_) => panic!("a personal column was decrypted with another column's grant"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("obitos.nome is not released to this session"),
        "{e}"
    );
}
