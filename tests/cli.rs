//! `pushrail check` and `pushrail serve` as an operator meets them on the command line.

mod support;

use std::process::{Command, Output};

use support::BIN;

fn check(config: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushrail.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("PUSHRAIL_MISSING")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_valid_config_passes() {
    let output = check(
        "[server]\nlisten = \"127.0.0.1:9999\"\n[[destinations]]\nname = \"local\"\nplugin = \"file\"\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK (1 destination(s)"));
}

#[test]
fn every_problem_is_printed_with_its_path_and_exit_code_2() {
    let output = check(
        r#"
        [server]
        listen = "nowhere"
        api_tokens = ["${PUSHRAIL_MISSING}"]
        typo = 1

        [[destinations]]
        name = "a"
        plugin = "file"

        [[destinations]]
        name = "b"
        plugin = "file"
        retry = { max_wait = "whenever" }
        "#,
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    for expected in [
        "4 problem(s)",
        "server.listen: expected an address like \"127.0.0.1:8080\"",
        "server.api_tokens[0]: environment variable PUSHRAIL_MISSING is not set",
        "server.typo: unknown key",
        "destinations[1].retry.max_wait: expected a duration like \"30s\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn syntax_errors_and_missing_files_exit_2() {
    let output = check("[server\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is not valid TOML"),
        "{}",
        stderr(&output)
    );

    let output = Command::new(BIN)
        .args(["check", "--config", "/nonexistent/pushrail.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read config file"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[storage]\nretention = \"forever\"\n").unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("storage.retention: expected a duration"),
        "{}",
        stderr(&output)
    );
}
