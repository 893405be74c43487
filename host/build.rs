//! Builds the plugin components (built-ins, examples and test plugins) for
//! `wasm32-wasip2` with a nested cargo, the way wasmtime builds its own test
//! programs. Built-ins are embedded with `include_bytes!`; tests find the
//! rest through `PUSHRAIL_PLUGIN_DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (plugin name, package) for every component the workspace builds.
const PLUGINS: &[(&str, &str)] = &[
    ("file", "pushrail-plugin-file"),
    ("kinesis", "pushrail-plugin-kinesis"),
    ("kafka", "pushrail-plugin-kafka"),
    ("webhook", "pushrail-plugin-webhook"),
    ("eventbridge", "pushrail-plugin-eventbridge"),
    ("sqs", "pushrail-plugin-sqs"),
    ("redact", "pushrail-example-redact"),
    ("route", "pushrail-example-route"),
    ("enrich", "pushrail-example-enrich"),
    ("chat", "pushrail-example-chat"),
    ("misbehave", "pushrail-test-misbehave"),
    ("shout", "pushrail-test-shout"),
    ("legacy-transform", "pushrail-test-legacy-transform"),
    (
        "legacy-batch-transform",
        "pushrail-test-legacy-batch-transform",
    ),
    ("legacy-destination", "pushrail-test-legacy-destination"),
    ("legacy-signer", "pushrail-test-legacy-signer"),
    ("spoil", "pushrail-test-spoil"),
    ("fetcher", "pushrail-test-fetcher"),
];

/// Test plugins that must be refused, kept out of `PUSHRAIL_PLUGIN_DIR`
/// (a plugin directory with one of them in it does not start).
const HOSTILE: &[(&str, &str)] = &[("sleeper", "pushrail-test-sleeper")];

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "wasm-plugin";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_owned();
    for watched in [
        "wit",
        "sdk",
        "plugins",
        "examples/transforms",
        "examples/destinations",
        "tests/plugins",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: share one plugin build
    // between debug and release hosts, apart from the host's own lock.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .unwrap_or(&out_dir)
        .join("plugin-build");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (_, package) in PLUGINS.iter().chain(HOSTILE) {
        command.args(["-p", package]);
    }
    // The host's flags and wrappers (clippy, coverage) must not leak into the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(var);
    }
    let status = command.status().expect("run cargo for the plugins");
    if !status.success() {
        panic!(
            "building the WebAssembly plugins failed. If the error above says the \
             {TARGET} target is missing, run `rustup target add {TARGET}`."
        );
    }

    let plugins_out = out_dir.join("plugins");
    std::fs::create_dir_all(&plugins_out).unwrap();
    let built = target_dir.join(TARGET).join(PROFILE);
    for (name, package) in PLUGINS {
        let file = format!("{}.wasm", package.replace('-', "_"));
        copy(&built.join(file), &plugins_out.join(format!("{name}.wasm")));
    }
    println!(
        "cargo:rustc-env=PUSHRAIL_PLUGIN_DIR={}",
        plugins_out.display()
    );
    let hostile_out = out_dir.join("hostile-plugins");
    std::fs::create_dir_all(&hostile_out).unwrap();
    for (name, package) in HOSTILE {
        let file = format!("{}.wasm", package.replace('-', "_"));
        copy(&built.join(file), &hostile_out.join(format!("{name}.wasm")));
    }
    println!(
        "cargo:rustc-env=PUSHRAIL_HOSTILE_PLUGIN_DIR={}",
        hostile_out.display()
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}
