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
    let secret = token.rsplit_once('_').unwrap().1;
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
