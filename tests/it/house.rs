//! The house rules of the code itself (docs/ARCHITECTURE.md, "The house"):
//! each crate depends only on what the crate map allows, and no file or
//! function grows past the limits unless it is a known exception.

use crate::support::repo_root;
use std::collections::BTreeSet;

/// The crate map: each crate and the Lagoa crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("pipeline/core", &[]),
    ("pipeline/keys", &["lagoa-core"]),
    ("pipeline/lake", &["lagoa-core", "lagoa-keys"]),
    ("connectors", &["lagoa-core"]),
    ("schemas", &["lagoa-core"]),
    (
        "pipeline/ingest",
        &[
            "lagoa-core",
            "lagoa-lake",
            "lagoa-governance",
            "lagoa-connectors",
            "lagoa-schemas",
        ],
    ),
    ("pipeline/governance", &["lagoa-core", "lagoa-lake"]),
    ("sql", &["lagoa-core", "lagoa-lake", "lagoa-governance"]),
    (
        "pipeline/daemon",
        &[
            "lagoa-core",
            "lagoa-lake",
            "lagoa-ingest",
            "lagoa-connectors",
            "lagoa-schemas",
            "lagoa-sql",
        ],
    ),
    (
        "pipeline/console",
        &[
            "lagoa-core",
            "lagoa-lake",
            "lagoa-governance",
            "lagoa-sql",
            "lagoa-daemon",
        ],
    ),
    (
        "pipeline/api",
        &[
            "lagoa-core",
            "lagoa-lake",
            "lagoa-governance",
            "lagoa-sql",
            "lagoa-daemon",
        ],
    ),
    (
        "pipeline/pg",
        &["lagoa-core", "lagoa-lake", "lagoa-governance", "lagoa-sql"],
    ),
    (
        "pipeline/cluster",
        &["lagoa-core", "lagoa-lake", "lagoa-sql"],
    ),
    (
        "pipeline/demo",
        &[
            "lagoa-schemas",
            "lagoa-core",
            "lagoa-lake",
            "lagoa-governance",
            "lagoa-daemon",
        ],
    ),
];

/// The `lagoa-*` crates a manifest's `[dependencies]` names (dev- and
/// build-dependencies are the tests' business).
fn lagoa_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let runtime = section == "[dependencies]" || section.ends_with(".dependencies]");
        if runtime
            && !section.contains("dev-dependencies")
            && let Some(name) = line.split(['.', ' ', '=']).next()
            && name.starts_with("lagoa-")
        {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
fn every_crate_depends_only_on_what_the_crate_map_allows() {
    let mut broken = Vec::new();
    for (dir, allowed) in ALLOWED {
        let path = repo_root().join(dir).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let used = lagoa_dependencies(&manifest);
        assert!(
            dir != &"pipeline/ingest" || used.contains("lagoa-lake"),
            "the manifest reader finds nothing in {dir}: {used:?}"
        );
        for name in used {
            if !allowed.contains(&name.as_str()) {
                broken.push(format!("{dir} depends on {name}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "arrows the crate map forbids (docs/ARCHITECTURE.md): {broken:?}"
    );
}

#[test]
fn the_manifest_reader_sees_runtime_dependencies_only() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nlagoa-core.workspace = true\nserde = \"1\"\n\
                    [target.'cfg(unix)'.dependencies]\nlagoa-lake = { path = \"../lake\" }\n\
                    [dev-dependencies]\nlagoa-sql.workspace = true\n";
    let found: Vec<String> = lagoa_dependencies(manifest).into_iter().collect();
    assert_eq!(found, ["lagoa-core", "lagoa-lake"]);
}

#[test]
fn no_file_or_function_grows_past_the_house_limits() {
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("scripts/figures"))
        .arg("--check")
        .output()
        .expect("python3 runs scripts/figures (installed with the system)");
    assert!(
        out.status.success(),
        "scripts/figures --check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
