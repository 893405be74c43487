//! moto's server: a real STS API (AssumeRole) for credential tests,
//! installed from PyPI into a virtualenv beside the build on first use.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::free_port;

const MOTO: &str = "moto[server]==5.2.5";

static INSTALL: Mutex<()> = Mutex::new(());

/// `<target>/test-tools/moto`, shared by every test run of this build.
fn venv() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("target dir")
        .join("test-tools/moto")
}

fn ensure_installed() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let venv = venv();
    let server = venv.join("bin/moto_server");
    if !server.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "creating the moto virtualenv failed");
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MOTO])
            .status()
            .expect("pip install moto");
        assert!(status.success(), "pip install {MOTO} failed");
    }
    server
}

pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub async fn start() -> Self {
        let server = ensure_installed();
        let port = free_port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
