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

/// Runs `serve` with `rest` appended to a config whose plugin directory is
/// `plugin_dir`, expecting it to refuse to start; returns stderr.
fn serve_refuses(plugin_dir: &std::path::Path, rest: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushrail.toml");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n{rest}",
        support::free_port(),
        dir.path().join("data").display(),
        plugin_dir.display()
    );
    std::fs::write(&path, config).unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    stderr(&output)
}

/// A plugin directory with the workspace's components plus a broken one.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(support::PLUGIN_DIR).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("junk.wasm"), b"this is not wasm at all").unwrap();
    // A valid core module, but not a component.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    dir
}

#[test]
fn plugins_that_cannot_serve_are_rejected_at_startup_with_the_reason() {
    let dir = plugin_dir();
    let destination =
        |plugin: &str| format!("[[destinations]]\nname = \"d\"\nplugin = \"{plugin}\"\n");
    let cases = [
        (
            destination("junk"),
            "plugin `junk` is not a WebAssembly component",
        ),
        (
            destination("core"),
            "plugin `core` is not a WebAssembly component",
        ),
        (
            destination("redact"),
            "plugin `redact` is a transform, but is used as a destination",
        ),
        (
            destination("file") + "transforms = [\"misbehave\"]\n",
            "plugin `misbehave` is a destination, but is used as a transform",
        ),
        (
            destination("nope"),
            "no plugin named `nope` (available: chat, enrich, eventbridge, fetcher, file, kafka, kinesis, legacy-batch-transform, legacy-destination, legacy-signer, legacy-transform, misbehave, redact, route, shout, spoil, sqs, webhook)",
        ),
        (
            destination("file")
                + "transforms = [\"bad-redact\"]\n[[transforms]]\nname = \"bad-redact\"\nplugin = \"redact\"\nconfig = { pointers = [\"/nope\"] }\n",
            "plugin `bad-redact` could not start: the plugin rejected its config: bad_config: pointer \"/nope\" must start with /payload/ or /metadata/",
        ),
    ];
    for (rest, expected) in cases {
        let err = serve_refuses(dir.path(), &rest);
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    }
}

#[test]
fn the_example_configs_are_valid() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    // transforms.toml loads the example transforms from ./plugins-dir, as its comment says.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("plugins-dir")).unwrap();
    for name in ["redact", "route", "enrich"] {
        let from = format!("{}/{name}.wasm", support::PLUGIN_DIR);
        std::fs::copy(
            from,
            cwd.path().join("plugins-dir").join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    for name in [
        "pushrail.toml",
        "transforms.toml",
        "kinesis.toml",
        "kafka.toml",
        "webhook.toml",
        "aws.toml",
    ] {
        let output = Command::new(BIN)
            .args(["check", "--config"])
            .arg(examples.join(name))
            .env("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .env("AWS_REGION", "eu-west-1")
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {}", stderr(&output));
    }
}

#[test]
fn check_loads_the_plugins_and_reports_what_serve_would_refuse() {
    let output = check(
        "[[destinations]]\nname = \"a\"\nplugin = \"nope\"\n\n[[destinations]]\nname = \"b\"\nplugin = \"file\"\ntransforms = [\"redact\"]\n",
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("2 plugin problem(s)"), "{err}");
    assert!(
        err.contains("destination a: no plugin named `nope`"),
        "{err}"
    );
    assert!(
        err.contains("destination b: no plugin named `redact`"),
        "{err}"
    );
}

/// #15: the binary sets its allocator to give freed memory back before
/// anything allocates (what keeps RSS from growing with the threads), and
/// an operator's own setting wins. mimalloc prints the options it uses when
/// asked to be verbose.
#[test]
fn the_allocator_settings_hold_from_the_start_and_yield_to_the_operators() {
    let options = |extra: &[(&str, &str)]| {
        let output = Command::new(BIN)
            .args(["check", "--config", "/nonexistent.toml"])
            .env("MIMALLOC_VERBOSE", "1")
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        stderr(&output)
    };
    let ours = options(&[]);
    assert!(ours.contains("option 'purge_delay': 10"), "{ours}");
    assert!(ours.contains("option 'arena_eager_commit': 0"), "{ours}");
    let theirs = options(&[("MIMALLOC_PURGE_DELAY", "250")]);
    assert!(theirs.contains("option 'purge_delay': 250"), "{theirs}");
    assert!(
        theirs.contains("option 'arena_eager_commit': 0"),
        "{theirs}"
    );
}
