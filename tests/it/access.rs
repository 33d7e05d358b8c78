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

    // Removing the newest entry leaves a valid-looking chain; the anchor
    // kept from an earlier verify shows it.
    let (_dir2, lake2) = new_lake();
    lagoa_ok(
        &lake2,
        &["institution", "add", "olinda", "--role", "provider"],
    );
    lagoa_ok(
        &lake2,
        &["institution", "add", "paulista", "--role", "provider"],
    );
    let verified = lagoa_ok(&lake2, &["audit", "verify"]);
    let head = word_after(&verified, "head ");
    tamper(&lake2, "DELETE FROM lagoa_audit WHERE seq = 2").await;
    lagoa_ok(&lake2, &["audit", "verify"]);
    let out = lagoa(&lake2, &["audit", "verify", "--expect-head", &head]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 2 is gone"));
}
