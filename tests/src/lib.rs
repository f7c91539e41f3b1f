//! The local world the integration is tested in: moto for the AWS services ([`moto_harness`])
//! and each test's own resources in it ([`world`]), the SIR and Jira emulators (their own crates),
//! and the whole integration wired both ways over them ([`pipeline`]): what the integration tests
//! in `tests/tests/` share. The runner built on it (`./deploy.sh --local`, the emulators on their
//! own) is the `local-world` crate. [`in_process`] answers the production adapters' HTTP with
//! the emulators without a socket, for runs on a paused clock; [`lambda_host`] runs the Lambda
//! binaries as Lambda does.

pub mod bus;
pub mod clients;
pub mod function_url;
pub mod iam;
pub mod in_process;
pub mod lambda_host;
pub mod metrics_log;
pub mod pipeline;
pub mod world;

pub use moto_harness::{MotoError, MotoServer};
pub use world::World;

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
