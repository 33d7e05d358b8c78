//! `lagoa institution`, `lagoa user` and `lagoa token` from the command
//! line: a token is printed once and never stored in clear.

use crate::support::*;

#[test]
fn a_token_is_printed_once_and_only_its_hash_is_kept() {
    let (_dir, lake) = new_lake();
    lagoa_ok(
        &lake,
        &["institution", "add", "recife", "--role", "provider"],
    );
    let e = lagoa_err(
        &lake,
        &["institution", "add", "olinda", "--role", "ministry"],
    );
    assert!(
        e.contains("ministry") && e.contains("provider, consumer or coordinator"),
        "{e}"
    );
    let e = lagoa_err(
        &lake,
        &[
            "user",
            "add",
            "joao",
            "--institution",
            "olinda",
            "--role",
            "operator",
        ],
    );
    assert!(e.contains("institution olinda does not exist"), "{e}");
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "joao",
            "--institution",
            "recife",
            "--role",
            "operator",
        ],
    );
    let users = lagoa_ok(&lake, &["user", "list"]);
    assert!(
        users.contains("joao") && users.contains("recife") && users.contains("operator"),
        "{users}"
    );

    let token = lagoa_ok(&lake, &["token", "create", "joao", "--label", "etl"])
        .trim()
        .to_owned();
    assert!(token.starts_with("lagoa_") && token.len() > 50, "{token}");
    let listed = lagoa_ok(&lake, &["token", "list"]);
    let id = &token[6..18];
    assert!(
        listed.contains(id) && listed.contains("etl") && listed.contains("live"),
        "{listed}"
    );
    let secret = token_secret(&token);
    assert!(!listed.contains(secret));
    // Nowhere in the lake's files, the catalog included.
    for file in all_files(&lake) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the token",
            file.display()
        );
    }
    lagoa_ok(&lake, &["token", "revoke", id]);
    assert!(lagoa_ok(&lake, &["token", "list"]).contains("revoked"));
    let e = lagoa_err(&lake, &["token", "revoke", id]);
    assert!(e.contains("no live token"), "{e}");
}

#[tokio::test]
async fn the_audit_trail_shows_any_edit_deletion_or_truncation() {
    let (_dir, lake) = new_lake();
    lagoa_ok(
        &lake,
        &["institution", "add", "recife", "--role", "provider"],
    );
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "joao",
            "--institution",
            "recife",
            "--role",
            "analyst",
        ],
    );
    lagoa_ok(&lake, &["token", "create", "joao"]);
    lagoa_ok(
        &lake,
        &[
            "user",
            "add",
            "maria",
            "--institution",
            "recife",
            "--role",
            "steward",
        ],
    );
    let listed = lagoa_ok(&lake, &["audit", "list"]);
    for action in ["institution_added", "principal_added", "token_issued"] {
        assert!(listed.contains(action), "{listed}");
    }
    let verified = lagoa_ok(&lake, &["audit", "verify"]);
    assert!(
        verified.contains("4 entries") && verified.contains("intact"),
        "{verified}"
    );
    let head = word_after(&verified, "head ");
    lagoa_ok(&lake, &["audit", "verify", "--expect-head", &head]);

    // An edit: the entry no longer matches its MAC.
    tamper(
        &lake,
        "UPDATE lagoa_audit SET principal = 'outro' WHERE seq = 2",
    )
    .await;
    let e = lagoa_err(&lake, &["audit", "verify"]);
    let out = lagoa(&lake, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("entry 2 was altered"), "{stdout}");
    assert!(e.contains("tampered"), "{e}");
    tamper(
        &lake,
        "UPDATE lagoa_audit SET principal = 'cli:' || substr(principal, 9) WHERE seq = 2",
    )
    .await;

    // A deletion in the middle: a gap.
    tamper(&lake, "DELETE FROM lagoa_audit WHERE seq = 3").await;
    let out = lagoa(&lake, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("entries 3 to 3 are missing"), "{stdout}");

    // Removing the newest entries leaves a whole, shorter chain: the
    // anchor in the object store shows it, with no head kept by anyone.
    let (_dir2, lake2) = new_lake();
    for name in ["olinda", "paulista", "igarassu"] {
        lagoa_ok(&lake2, &["institution", "add", name, "--role", "provider"]);
    }
    let verified = lagoa_ok(&lake2, &["audit", "verify"]);
    assert!(
        verified.contains("anchored in the object store at entry 3"),
        "{verified}"
    );
    let head = word_after(&verified, "head ");
    tamper(&lake2, "DELETE FROM lagoa_audit WHERE seq >= 2").await;
    let out = lagoa(&lake2, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout
            .contains("names entry 3, which is gone: the newest entries of the trail were deleted"),
        "{stdout}"
    );
    let out = lagoa(&lake2, &["audit", "verify", "--expect-head", &head]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 3 is gone"));

    // The anchor cannot be taken away or rewritten without the key.
    let (_dir3, lake3) = new_lake();
    lagoa_ok(
        &lake3,
        &["institution", "add", "olinda", "--role", "provider"],
    );
    let anchor = lake3.join("store/audit/anchor.json");
    let written = std::fs::read_to_string(&anchor).expect("the anchor is in the store");
    let mut forged: serde_json::Value = serde_json::from_str(&written).unwrap();
    forged["seq"] = serde_json::json!(0);
    std::fs::write(&anchor, forged.to_string()).unwrap();
    let out = lagoa(&lake3, &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not signed with this lake's audit key"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_file(&anchor).unwrap();
    let out = lagoa(&lake3, &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no anchor in the object store"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn administration_with_a_token_records_the_person_and_needs_an_admin() {
    let (_dir, lake) = new_lake();
    let tokens = agreement(
        &lake,
        &[("seplag", "coordinator")],
        &[("rita", "seplag", "admin"), ("op", "seplag", "operator")],
    );
    let out = lagoa_env(
        &lake,
        &["institution", "add", "recife", "--role", "provider"],
        &[("LAGOA_TOKEN", &tokens["rita"])],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry: serde_json::Value =
        serde_json::from_str(lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1"]).trim())
            .unwrap();
    assert_eq!(entry["entry"]["principal"], "rita", "{entry}");
    assert_eq!(entry["entry"]["institution"], "seplag", "{entry}");
    assert_eq!(entry["entry"]["action"], "institution_added", "{entry}");
    // An operator's token is not an admin's.
    let out = lagoa_env(
        &lake,
        &[
            "user",
            "add",
            "eve",
            "--institution",
            "recife",
            "--role",
            "admin",
        ],
        &[("LAGOA_TOKEN", &tokens["op"])],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an admin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without a token, the machine's account is named, never "unknown".
    let out = lagoa_env(
        &lake,
        &["institution", "add", "olinda", "--role", "provider"],
        &[("USER", ""), ("LOGNAME", "")],
    );
    assert!(out.status.success());
    let entry: serde_json::Value =
        serde_json::from_str(lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1"]).trim())
            .unwrap();
    let principal = entry["entry"]["principal"].as_str().unwrap();
    assert!(principal.starts_with("cli:uid="), "{principal}");
}

#[test]
fn the_catalog_and_the_keys_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, lake) = new_lake();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    lagoa_ok(
        &lake,
        &["institution", "add", "recife", "--role", "provider"],
    );
    assert_eq!(mode(&lake.join("catalog.db")), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = lake.join(format!("catalog.db{suffix}"));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    assert_eq!(mode(&lake.join("keys")), 0o700);
    assert_eq!(mode(&lake.join("keys/keystore.json")), 0o600);
    // Opened up by someone: refused at open, with the fix.
    std::fs::set_permissions(
        lake.join("catalog.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let e = lagoa_err(&lake, &["datasets"]);
    assert!(
        e.contains("readable by other users") && e.contains("chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(
        lake.join("catalog.db"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(lake.join("keys"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = lagoa_err(&lake, &["datasets"]);
    assert!(e.contains("chmod 700"), "{e}");
}
