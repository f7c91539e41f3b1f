//! The Jira Cloud emulator on its own, for any client in any language:
//! `cargo run -p local-world --bin jira-emulator -- --port 0 --email E --token T --project SEC`.
//! Prints exactly one line, `listening on http://127.0.0.1:<port>`, once it accepts requests,
//! and runs until Ctrl-C or SIGTERM. See the `jira-emulator` crate docs for the admin API.

use clap::Parser;
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, SnsTarget};

/// Emulator of Jira Cloud REST v3 (and v2), playing Jira Automation towards SNS.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The integration user's e-mail (Basic auth user name).
    #[arg(long, default_value = "integration@example.com")]
    email: String,
    /// The integration user's API token.
    #[arg(long, default_value = "integration-token")]
    token: String,
    /// The project key.
    #[arg(long, default_value = "SEC")]
    project: String,
    /// SNS endpoint (e.g. moto) where Automation messages go; none by default.
    #[arg(long, requires = "sns_topic_arn")]
    sns_endpoint: Option<String>,
    /// The SNS topic Automation publishes to.
    #[arg(long, requires = "sns_endpoint")]
    sns_topic_arn: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sns = match (args.sns_endpoint, args.sns_topic_arn) {
        (Some(endpoint), Some(topic_arn)) => Some(SnsTarget {
            endpoint,
            topic_arn,
            region: args.region,
        }),
        _ => None,
    };
    let emulator = JiraEmulator::start(JiraEmulatorConfig {
        port: args.port,
        email: args.email,
        token: args.token,
        project_key: args.project,
        sns,
        ..JiraEmulatorConfig::default()
    })
    .await?;
    local_world::announce(&emulator.base_url());
    local_world::until_stopped().await?;
    Ok(())
}
