//! AWS's own Python SDK (boto3 and botocore, installed with moto) for what
//! a test needs from the AWS side: setting up buses, rules and queues in
//! moto, reading what landed, and checking our SigV4 signatures with
//! botocore's signer.
#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

/// Runs `script` with boto3 against moto at `endpoint` and returns the JSON
/// of its `out`. The script sees `kw` (endpoint, region us-east-1, test
/// credentials) and `args` (the JSON `args`).
pub fn run(endpoint: &str, script: &str, args: &Value) -> Value {
    let python = super::venv::tool("moto", super::moto::MOTO, "python");
    let program = format!(
        "import boto3, json, sys\nargs = json.loads(sys.argv[2])\nkw = dict(endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nout = None\n{script}\nprint(json.dumps(out))\n"
    );
    let output = Command::new(python)
        .args(["-c", &program, endpoint, &args.to_string()])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "boto script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
