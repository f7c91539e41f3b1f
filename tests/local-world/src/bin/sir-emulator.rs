//! The SIR emulator on its own, for any client in any language:
//! `cargo run -p local-world --bin sir-emulator -- --port 0`.
//! Prints exactly one line, `listening on http://127.0.0.1:<port>`, once it accepts requests,
//! and runs until Ctrl-C or SIGTERM. See the `sir-emulator` crate docs for the admin API.

use std::path::PathBuf;

use clap::Parser;
use sir_emulator::{SirEmulator, SirEmulatorConfig};

/// Emulator of AWS Security Incident Response (security-ir 2018-05-10, restJson1).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// EventBridge endpoint (e.g. moto) where native `aws.security-ir` events go; none by default.
    #[arg(long)]
    events_endpoint: Option<String>,
    /// Bus for the native events.
    #[arg(long, default_value = "default")]
    event_bus: String,
    /// The botocore model (service-2.json or .json.gz); found in the project's .venv by default.
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The local world's IAM to ask before every call (moto_runner.py's
    /// `http://127.0.0.1:<port>/_local-world/iam/authorize`); none allows every caller everything.
    #[arg(long)]
    authorizer: Option<String>,
    #[arg(long, default_value = "123456789012")]
    account_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let emulator = SirEmulator::start(SirEmulatorConfig {
        port: args.port,
        events_endpoint: args.events_endpoint,
        event_bus_name: args.event_bus,
        model_path: args.model,
        region: args.region,
        account_id: args.account_id,
        authorizer: args.authorizer,
        ..SirEmulatorConfig::default()
    })
    .await?;
    local_world::announce(&emulator.endpoint());
    local_world::until_stopped().await?;
    Ok(())
}
