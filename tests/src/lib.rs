//! The local world the integration is tested in: moto for the AWS services ([`moto_harness`])
//! and each test's own resources in it ([`world`]), the SIR and Jira emulators (their own crates),
//! and the whole integration wired both ways over them ([`pipeline`]).

pub mod bus;
pub mod clients;
pub mod iam;
pub mod local;
pub mod pipeline;
pub mod world;

pub use moto_harness::{MotoError, MotoServer};
pub use world::World;

/// Prints the one line a standalone emulator owes its caller: where it listens.
pub fn announce(endpoint: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // Nothing useful can be done if stdout is gone; the server keeps serving.
    if writeln!(out, "listening on {endpoint}")
        .and_then(|()| out.flush())
        .is_err()
    {
        tracing::warn!("could not print the listening line");
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn until_stopped() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// What can go wrong while setting up the local world (never a finding about the product).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("local world: {0}")]
    Setup(String),
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    #[error("AWS call {operation} to moto failed")]
    Aws {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The local IAM refused a Lambda a call (its role lacks the grant): a finding about the stack.
    #[error(
        "IAM refused what a Lambda called (grant it in cdk/lib/permissions.ts, or stop calling it): {0}"
    )]
    IamDenied(String),
    #[error("building an AWS request")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl HarnessError {
    /// Keeps an SDK error (with its whole chain) as the cause of a failed set-up call.
    pub fn aws<E>(operation: &'static str) -> impl FnOnce(E) -> HarnessError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| HarnessError::Aws {
            operation,
            source: Box::new(source),
        }
    }

    pub fn build<E>(source: E) -> HarnessError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        HarnessError::Build(Box::new(source))
    }
}
