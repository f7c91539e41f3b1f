//! The whole integration on one machine (what `./deploy.sh --local` runs): moto, the SIR
//! emulator and the Jira emulator (or a real Jira site) on loopback, the stack's resources in
//! moto, and the four Lambda handlers fed as Lambda feeds them. See the `local_world` crate.
//!
//! `--demo` runs a scripted walk-through and exits 0 only if every step was seen in time. With
//! `--url/--email/--project-key` (token in `JIRA_API_TOKEN`, never on the command line) a real
//! Jira site is used instead of the emulator. `--reconcile [--dry-run] [--audit]` asks the local
//! world already running on this machine for an on-demand reconcile (with `--audit`, of every
//! open linked pair too) and prints its report; `--status` asks it for its status facts, and
//! `--replay-dlq [--function F] [--dry-run]` to run its dead-lettered events again.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use local_world::{
    Intake, LocalOptions, RealJira, request_reconcile, request_replay, request_status, run,
};
use secrecy::SecretString;
use shared::config::{DataCenterAuth, JiraFlavor};

/// deploy.sh's `--intake`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum IntakeArg {
    Automation,
    Webhook,
    Both,
}

/// deploy.sh's `--jira-flavor` (after its detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum JiraFlavorArg {
    Cloud,
    DataCenter,
}

/// Runs the SIR ⇄ Jira integration locally, with no AWS account.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Run the scripted walk-through and exit (0: every step was seen on the other side).
    #[arg(long)]
    demo: bool,
    /// A real Jira site (https://<site>.atlassian.net) instead of the emulator.
    #[arg(long, requires_all = ["email", "project_key"])]
    url: Option<String>,
    /// The Jira user's e-mail (with --url).
    #[arg(long)]
    email: Option<String>,
    /// The Jira project to sync (with --url).
    #[arg(long)]
    project_key: Option<String>,
    /// When the Jira token expires, YYYY-MM-DD or never (with --url), stored beside the token as
    /// deploy.sh stores it.
    #[arg(long, requires = "url")]
    token_expires: Option<String>,
    /// Where the functions send their Jira REST calls when not to the site: Atlassian's API
    /// gateway for it (an API token with scopes), as deploy.sh stores it beside the token.
    #[arg(long, requires = "url")]
    jira_api_url: Option<String>,
    /// Port of the SIR emulator (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    sir_port: u16,
    /// Port of the Jira emulator (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    jira_port: u16,
    /// Ask the local world already running here to publish again every change not yet applied
    /// (and print, pair by pair, what it found).
    #[arg(long, conflicts_with_all = ["demo", "url"])]
    reconcile: bool,
    /// With --reconcile: only list what is pending, publish nothing; with --replay-dlq: only
    /// list the dead-lettered events.
    #[arg(long)]
    dry_run: bool,
    /// Ask the local world already running here to run each dead-lettered event again and
    /// delete it once its function succeeded.
    #[arg(long, conflicts_with_all = ["demo", "url", "reconcile", "status"])]
    replay_dlq: bool,
    /// With --replay-dlq: only this function's dead-letter queue.
    #[arg(long, requires = "replay_dlq", value_parser = ["poller", "jira-client", "jira-notifications-handler", "sir-client"])]
    function: Option<String>,
    /// How Jira tells the integration about changes: automation (SNS), webhook (signed, to a
    /// local function URL) or both.
    #[arg(long, value_enum, default_value_t = IntakeArg::Automation, conflicts_with = "reconcile")]
    intake: IntakeArg,
    /// Which Jira: cloud, or data-center (Jira Data Center / Server: the emulator runs as one,
    /// signed in with a personal access token; needs --intake webhook).
    #[arg(long, value_enum, default_value_t = JiraFlavorArg::Cloud, conflicts_with = "reconcile")]
    jira_flavor: JiraFlavorArg,
    /// With --reconcile: audit every open linked pair too (compare the live case with the live
    /// issue and fix what differs; with --dry-run only list the pairs).
    #[arg(long, requires = "reconcile")]
    audit: bool,
    /// Ask the local world already running here for its status facts (JSON on stdout; deploy.sh
    /// --local --status prints them as it prints a deployed stack's).
    #[arg(long, conflicts_with_all = ["demo", "url", "reconcile"])]
    status: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if args.dry_run && !args.reconcile && !args.replay_dlq {
        eprintln!("--dry-run goes with --reconcile or --replay-dlq");
        return ExitCode::from(2);
    }
    if args.replay_dlq {
        let (lines, code) = match request_replay(args.function.as_deref(), args.dry_run).await {
            Ok(lines) => (lines, ExitCode::SUCCESS),
            Err(error) => (vec![error], ExitCode::FAILURE),
        };
        let mut out = std::io::stdout().lock();
        for line in lines {
            if writeln!(out, "{line}").is_err() {
                return ExitCode::FAILURE;
            }
        }
        return code;
    }
    if args.status {
        return match request_status().await {
            Ok(facts) => {
                if writeln!(std::io::stdout().lock(), "{facts}").is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("status: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if args.reconcile {
        return match request_reconcile(args.dry_run, args.audit).await {
            Ok(report) => {
                let mut out = std::io::stdout().lock();
                for line in report.lines() {
                    if writeln!(out, "{line}").is_err() {
                        return ExitCode::FAILURE;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("reconcile: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let real_jira = match (args.url, args.email, args.project_key) {
        (Some(url), Some(email), Some(project_key)) => {
            let Some(token) = std::env::var("JIRA_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
            else {
                eprintln!("a real Jira site needs its API token in JIRA_API_TOKEN");
                return ExitCode::from(2);
            };
            Some(RealJira {
                url: url.trim_end_matches('/').to_owned(),
                email,
                token: SecretString::from(token),
                project_key,
                token_expires_on: args.token_expires,
                api_url: args.jira_api_url,
            })
        }
        _ => None,
    };
    let options = LocalOptions {
        demo: args.demo,
        real_jira,
        sir_port: args.sir_port,
        jira_port: args.jira_port,
        intake: match args.intake {
            IntakeArg::Automation => Intake::Automation,
            IntakeArg::Webhook => Intake::Webhook,
            IntakeArg::Both => Intake::Both,
        },
        jira_flavor: match args.jira_flavor {
            JiraFlavorArg::Cloud => JiraFlavor::Cloud,
            JiraFlavorArg::DataCenter => {
                JiraFlavor::DataCenter(DataCenterAuth::PersonalAccessToken)
            }
        },
    };
    match run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("local mode failed: {}", shared::error::error_chain(&error));
            ExitCode::from(2)
        }
    }
}
