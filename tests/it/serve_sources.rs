//! `lagoa serve` sees the sources folder as it is now: a source added or
//! removed after the server started shows in the API's datasets (and in
//! the console, which reads the same folder) without a restart.

use crate::support::*;

#[test]
fn sources_added_and_removed_after_start_show_without_a_restart() {
    let (dir, lake) = new_lake();
    ingest_populacao_amplo(dir.path(), &lake);
    let token = admin_token(&lake, &[]);
    let (_server, base) = serve(&lake, None);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let http = reqwest::Client::new();
    let sources_of = |dataset: &str| -> Vec<String> {
        runtime.block_on(async {
            let view: serde_json::Value = http
                .get(format!("{base}/api/v1/datasets/{dataset}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("the API answers")
                .json()
                .await
                .expect("JSON");
            view["freshness"]["sources"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    assert!(sources_of("populacao").is_empty(), "no source yet");
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).expect("a drop folder");
    drop_folder_source(&lake, "populacao", &folder, "0 6 * * *", "", "");
    assert_eq!(sources_of("populacao"), vec!["populacao".to_owned()]);
    std::fs::remove_file(lake.join("sources/populacao.source.toml")).expect("removed");
    assert!(sources_of("populacao").is_empty(), "the source removed");
}
