//! The command line as a shell user meets it: completions, and a help
//! line for every command and argument (checked in `lagoa-cli`'s unit
//! tests).

use crate::support::lagoa_bin;
use std::process::{Command, Stdio};

/// What bash completes after `words`, with `lagoa completions bash` loaded.
fn bash_completes(words: &[&str]) -> String {
    let script = format!(
        "source <('{}' completions bash) && COMP_WORDS=({}) && COMP_CWORD={} && _lagoa lagoa '{}' '{}' && echo \"${{COMPREPLY[@]}}\"",
        lagoa_bin().display(),
        words.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    crate::support::ok(out, &["completions", "bash"])
}

#[test]
fn bash_completes_commands_and_their_options() {
    assert_eq!(bash_completes(&["lagoa", "ing"]).trim(), "ingest");
    assert_eq!(
        bash_completes(&["lagoa", "ingest", "--da"]).trim(),
        "--dataset"
    );
    let keys = bash_completes(&["lagoa", "keys", ""]);
    for sub in ["rotate", "shred", "list"] {
        assert!(keys.split_whitespace().any(|w| w == sub), "{keys}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_command_with_its_help() {
    for shell in ["zsh", "fish"] {
        let out = Command::new(lagoa_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = String::from_utf8(out.stdout).unwrap();
        for expected in [
            "ingest",
            "quarantine",
            "indicator",
            "The dataset it goes into",
        ] {
            assert!(script.contains(expected), "{shell}: no {expected}");
        }
    }
}

#[test]
fn an_unknown_shell_is_refused_and_a_closed_pipe_is_no_crash() {
    let out = Command::new(lagoa_bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'tcsh'") && err.contains("bash"),
        "{err}"
    );

    // `lagoa completions bash | head -c 10`: the reader goes away early.
    let mut child = Command::new(lagoa_bin())
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn errors_are_said_once_and_a_misspelt_dataset_finds_its_name() {
    let (dir, lake) = crate::support::new_lake();
    crate::support::ingest_populacao_amplo(dir.path(), &lake);
    crate::support::ingest_obitos_especial(dir.path(), &lake);

    let err = crate::support::lagoa_err(&lake, &["query", "SELECT habitante FROM populacao"]);
    assert_eq!(err.matches("No field named habitante").count(), 1, "{err}");
    assert!(err.contains("Did you mean 'populacao.habitantes'"), "{err}");
    let err = crate::support::lagoa_err(&lake, &["query", "SELECT * FROM populaca"]);
    assert_eq!(err.matches("not found").count(), 1, "{err}");
    assert!(err.contains("did you mean populacao?"), "{err}");
    let err = crate::support::lagoa_err(&lake, &["query", "SELECT * FROM escolas"]);
    assert!(!err.contains("did you mean"), "nothing near: {err}");

    // An analyst is offered only the datasets they may read.
    let token = crate::support::agreement(
        &lake,
        &[("educ", "consumer")],
        &[("ana", "educ", "analyst")],
    )
    .remove("ana")
    .unwrap();
    let as_ana =
        |sql: &str| crate::support::lagoa_err(&lake, &["--token", token.as_str(), "query", sql]);
    let err = as_ana("SELECT * FROM populaca");
    assert!(err.contains("did you mean populacao?"), "{err}");
    let err = as_ana("SELECT * FROM obito");
    assert!(
        !err.contains("obitos"),
        "an unreadable dataset is not named: {err}"
    );
}
