//! The seam under every plain HTTP exchange of the integration (Jira's REST API and its media
//! host, SIR's presigned attachment transfers): one request in, one response out.
//!
//! Production sends through [`ReqwestTransport`] (a `reqwest::Client` with its timeouts and TLS).
//! The local world can answer the same requests in process (the emulators' routers, no socket),
//! so a test or a simulation runs the production adapters on a paused tokio clock. Where a
//! redirect matters (Jira's attachment downloads, answered 303 to its media host) the adapter
//! follows it itself over a client that follows none ([`crate::jira`]), so both transports
//! behave alike and the credentials are dropped by our code, not by a library default.

use std::fmt::Debug;

use async_trait::async_trait;

/// Sends one HTTP request and answers its response, whatever the status.
#[async_trait]
pub trait HttpTransport: Send + Sync + Debug {
    /// The response to `request`; an error only when no response came (connection, timeout,
    /// TLS, a request that could not be sent).
    async fn send(&self, request: reqwest::Request) -> reqwest::Result<reqwest::Response>;
}

/// [`HttpTransport`] over a `reqwest::Client`: the network.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Sends with `client`, which keeps its own timeouts and redirect policy.
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestTransport { client }
    }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: reqwest::Request) -> reqwest::Result<reqwest::Response> {
        self.client.execute(request).await
    }
}
