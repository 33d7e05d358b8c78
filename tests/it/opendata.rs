//! Open data: an amplo dataset published by its steward as CSV and Parquet
//! with DCAT-AP metadata in JSON-LD, read back as RDF with rdflib (what
//! CKAN's DCAT harvester uses); refused for others and for data that is
//! not amplo; every attempt on the audit trail.

use crate::support::*;

#[test]
fn stewards_publish_amplo_data_with_dcat_metadata_a_harvester_reads() {
    let (dir, lake) = new_lake();
    ingest_obitos_especial(dir.path(), &lake);
    ingest_populacao_amplo(dir.path(), &lake);
    let mut tokens = agreement(
        &lake,
        &[("saude", "provider"), ("educ", "consumer")],
        &[("maria", "saude", "steward"), ("joao", "educ", "analyst")],
    );
    let (maria, joao) = (
        tokens.remove("maria").unwrap(),
        tokens.remove("joao").unwrap(),
    );
    for dataset in ["populacao", "obitos"] {
        lagoa_ok(&lake, &["dataset", "provider", dataset, "saude"]);
        ok(
            lagoa_env(
                &lake,
                &[
                    "dataset",
                    "categorise",
                    dataset,
                    "--provider",
                    "saude",
                    "--reason",
                    "r",
                ],
                &[("LAGOA_TOKEN", &maria)],
            ),
            &["categorise"],
        );
    }
    let out = dir.path().join("abertos");
    let out_arg = out.to_string_lossy().into_owned();
    let publish = |token: &str, dataset: &str| {
        lagoa_env(
            &lake,
            &[
                "publish",
                dataset,
                "--out",
                &out_arg,
                "--base-url",
                "https://dados.pe.gov.br/lagoa",
                "--publisher",
                "SEPLAG-PE",
            ],
            &[("LAGOA_TOKEN", token)],
        )
    };

    let refused = publish(&joao, "populacao");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("may not publish"));
    let refused = publish(&maria, "obitos");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("only amplo data"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!out.join("obitos.csv").exists());

    ok(publish(&maria, "populacao"), &["publish"]);
    let csv = std::fs::read_to_string(out.join("populacao.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("municipio,ano,habitantes"));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let parquet = std::fs::File::open(out.join("populacao.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(parquet)
        .expect("plain Parquet, readable without keys")
        .build()
        .unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 2);

    let catalog: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("catalog.jsonld")).unwrap())
            .unwrap();
    assert_eq!(catalog["@type"], "dcat:Catalog");
    let dataset = &catalog["dcat:dataset"][0];
    assert_eq!(dataset["dct:identifier"], "populacao");
    let distributions = dataset["dcat:distribution"].as_array().unwrap();
    assert_eq!(distributions.len(), 2);
    // Sizes and checksums (taken while the files were written) are the files'.
    for (title, file) in [("CSV", "populacao.csv"), ("PARQUET", "populacao.parquet")] {
        let dist = distributions
            .iter()
            .find(|d| d["dct:title"].as_str().unwrap().contains(title))
            .unwrap();
        let path = out.join(file);
        assert_eq!(
            dist["spdx:checksum"]["spdx:checksumValue"],
            sha256_hex(&path)
        );
        assert_eq!(
            dist["dcat:byteSize"]["@value"],
            std::fs::metadata(&path).unwrap().len().to_string()
        );
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "staging files left behind: {left:?}");
    // Publishing again replaces the entry instead of adding one.
    ok(publish(&maria, "populacao"), &["publish"]);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("catalog.jsonld")).unwrap())
            .unwrap();
    assert_eq!(again["dcat:dataset"].as_array().unwrap().len(), 1);

    // As RDF, the way ckanext-dcat reads it.
    if let Some(python) = python() {
        let script = r#"
import sys, rdflib
from rdflib.namespace import DCAT, DCTERMS, RDF
g = rdflib.Graph().parse(sys.argv[1], format="json-ld")
datasets = list(g.subjects(RDF.type, DCAT.Dataset))
assert len(datasets) == 1, datasets
urls = sorted(str(u) for d in g.objects(datasets[0], DCAT.distribution) for u in g.objects(d, DCAT.downloadURL))
print(str(g.value(datasets[0], DCTERMS.identifier)), " ".join(urls))
"#;
        let out = std::process::Command::new(python)
            .args(["-c", script])
            .arg(out.join("catalog.jsonld"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "populacao https://dados.pe.gov.br/lagoa/populacao.csv https://dados.pe.gov.br/lagoa/populacao.parquet"
        );
    } else {
        skip(
            "stewards_publish_amplo_data_with_dcat_metadata_a_harvester_reads",
            "no .venv/bin/python for the rdflib check: run scripts/bootstrap",
        );
    }

    let trail = lagoa_ok(&lake, &["audit", "list", "--json"]);
    assert_eq!(trail.matches("open_data_export").count(), 4, "{trail}");

    // A catalog someone broke is refused, not replaced (it lists what other
    // publications put there), and the published files stay as they were.
    let csv_before = std::fs::read(out.join("populacao.csv")).unwrap();
    let broken = "{\"dcat:dataset\": [ {\"dct:identifier\": \"escolas\"} ";
    std::fs::write(out.join("catalog.jsonld"), broken).unwrap();
    let refused = publish(&maria, "populacao");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("catalog.jsonld is not JSON") && stderr.contains("move it away"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("catalog.jsonld")).unwrap(),
        broken
    );
    assert_eq!(
        std::fs::read(out.join("populacao.csv")).unwrap(),
        csv_before
    );
    let trail = lagoa_ok(&lake, &["audit", "list", "--json"]);
    assert_eq!(trail.matches("open_data_export").count(), 5, "{trail}");
    assert!(
        trail.contains("is not JSON"),
        "the failure is on record: {trail}"
    );
}

fn sha256_hex(path: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
