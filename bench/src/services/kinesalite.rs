//! kinesalite: a Kinesis API server in Node.js, fast enough to measure
//! throughput against (kinesis-local, which the tests use for correctness,
//! is much slower per call).

use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use aws_sdk_kinesis::Client;

use super::{free_port, kinesis, wait_for_port};

pub struct Kinesalite {
    child: Child,
    pub endpoint: String,
    pub client: Client,
}

impl Kinesalite {
    pub async fn start() -> anyhow::Result<Self> {
        // npm installs kinesalite (a devDependency) with kinesis-local.
        let main = kinesis::ensure_installed();
        let tests = kinesis::tests_dir();
        anyhow::ensure!(
            tests.join("node_modules/kinesalite").exists(),
            "kinesalite is missing: run `npm ci --prefix tests` ({} exists)",
            main.display()
        );
        let port = free_port();
        let script = format!(
            "require('kinesalite')({{createStreamMs: 50, shardLimit: 10000}}).listen({port}, '127.0.0.1')"
        );
        let child = Command::new("node")
            .args(["-e", &script])
            .current_dir(&tests)
            .stdout(Stdio::null())
            .spawn()
            .context("start kinesalite with node")?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            client: kinesis::client(&format!("http://127.0.0.1:{port}")),
        };
        wait_for_port(&mut server.child, port, "kinesalite").await?;
        Ok(server)
    }

    pub async fn create_stream(&self, name: &str, shards: i32) {
        kinesis::create_stream(&self.client, name, shards).await;
    }
}

impl Drop for Kinesalite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
