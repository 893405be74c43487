//! Python tools the tests run against (moto, schemathesis), each installed
//! from PyPI into its own virtualenv under `<target>/test-tools/` on first
//! use and shared by every later test run of this build.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static INSTALL: Mutex<()> = Mutex::new(());

/// The path of `program` in the virtualenv `name`, after installing
/// `requirement` (pinned PyPI requirements, space-separated) there unless
/// the virtualenv already holds exactly those.
pub fn tool(name: &str, requirement: &str, program: &str) -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let exe = std::env::current_exe().expect("test binary path");
    let venv = exe
        .ancestors()
        .nth(3)
        .expect("target dir")
        .join("test-tools")
        .join(name);
    let path = venv.join("bin").join(program);
    let marker = venv.join("pushrail-requirements");
    let installed = std::fs::read_to_string(&marker).unwrap_or_default();
    if !path.exists() || installed != requirement {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "creating the {name} virtualenv failed");
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(requirement.split_whitespace())
            .status()
            .expect("pip install");
        assert!(status.success(), "pip install {requirement} failed");
        std::fs::write(&marker, requirement).expect("write the requirements marker");
    }
    path
}
