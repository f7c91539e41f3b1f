//! moto, the AWS half of the local world: one `moto_server` per test process, started from the
//! project's virtualenv on a free loopback port, and gone when the process ends.
//!
//! The server is started by `tests/moto_runner.py`, which exits when its stdin reaches end of
//! file; this process holds the write end for its whole life, so however the tests end (pass,
//! panic, abort, SIGKILL) the kernel closes the pipe and moto stops. `MOTO_ENDPOINT` may name a
//! server that is already running instead.

#![allow(
    clippy::disallowed_methods,
    reason = "moto is a real process, waited for in real time"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto: {0}")]
    Start(String),
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
}

/// Region the local world pretends to be in.
pub const REGION: &str = "us-east-1";
/// Account moto reports by default.
pub const ACCOUNT: &str = "123456789012";

/// AWS SDK configuration pointing every client at `endpoint` with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "local-world",
        ))
        .load()
        .await
}

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    // Held only so they live as long as the process: dropping stdin would stop moto.
    _child: Option<Child>,
    _stdin: Option<ChildStdin>,
}

static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();

impl MotoServer {
    /// The process-wide server, started on first use.
    pub fn shared() -> Result<&'static MotoServer, MotoError> {
        MOTO.get_or_init(|| MotoServer::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| MotoError::Start(e.clone()))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn start() -> Result<MotoServer, MotoError> {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return Ok(MotoServer {
                endpoint,
                _child: None,
                _stdin: None,
            });
        }
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(MotoError::Start(format!(
                "{} not found: run tests/bootstrap.sh to create the virtualenv with moto",
                python.display()
            )));
        }
        let log_path = root
            .join("target")
            .join(format!("moto-{}.log", std::process::id()));
        std::fs::create_dir_all(root.join("target"))
            .map_err(|e| MotoError::Io("creating target/".into(), e))?;
        let log = std::fs::File::create(&log_path)
            .map_err(|e| MotoError::Io(format!("creating {}", log_path.display()), e))?;
        // The local IAM (tests/local_iam.py) appends each (function, action) it allowed here, for
        // the coverage check after the whole suite (tests/iam_coverage.py).
        let exercised = root.join("target").join("iam-exercised");
        std::fs::create_dir_all(&exercised)
            .map_err(|e| MotoError::Io(format!("creating {}", exercised.display()), e))?;
        let mut child = Command::new(&python)
            .arg(root.join("tests/moto_runner.py"))
            .env(
                "LOCAL_IAM_EXERCISED_LOG",
                exercised.join(format!("moto-{}.jsonl", std::process::id())),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| MotoError::Io(format!("starting {}", python.display()), e))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| MotoError::Start("moto_runner has no stdout".into()))?;
        let endpoint = read_listening_line(stdout, &log_path)?;
        wait_until_ready(&endpoint)?;
        Ok(MotoServer {
            endpoint,
            _child: Some(child),
            _stdin: stdin,
        })
    }
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    // This crate lives in `<root>/tests/moto-harness`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn read_listening_line(
    stdout: impl Read + Send + 'static,
    log_path: &Path,
) -> Result<String, MotoError> {
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(|e| MotoError::Io("reading moto's stdout".into(), e))?;
    // Keep draining so a chatty server can never block on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    first
        .and_then(|line| line.strip_prefix("listening on ").map(str::to_owned))
        .ok_or_else(|| {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            MotoError::Start(format!("moto did not start; its log says:\n{log}"))
        })
}

fn wait_until_ready(endpoint: &str) -> Result<(), MotoError> {
    let address = endpoint.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(address).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(MotoError::Start(format!(
        "moto at {endpoint} did not accept connections in 30 s"
    )))
}
