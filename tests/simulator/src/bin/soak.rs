//! The soak: many seeds of the simulated integration, judged as CI judges them
//! ([`simulator::runner`]), with a summary for `BENCHMARKS.md`.
//!
//! `cargo run --release -p simulator --bin soak -- [--seeds 10000] [--first 1] [--actions 50]
//! [--preset faulty|hostile|exact] [--threads <cores>] [--markdown <file>]
//! [--minutes <budget>]`
//!
//! Prints progress every 100 seeds (`--minutes` stops starting new ones after that long) and, at
//! the end, each failing seed's shortest report and a summary (seeds, actions, faults injected
//! by kind, violations, time); `--markdown` also writes the summary as a Markdown table. Exits 1
//! when any seed fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use simulator::runner::{self, ACTIONS, Preset, SeedRun};
use simulator::world::{FaultKind, SimOptions};

/// Seeds run between two looks at the time budget.
const BATCH: usize = 100;

/// What the command line asks for.
#[derive(Debug, Clone)]
struct Args {
    seeds: u64,
    first: u64,
    actions: usize,
    preset: String,
    threads: usize,
    markdown: Option<String>,
    /// Start no new batch of seeds after this long (the summary says how many ran).
    budget: Option<Duration>,
}

fn usage() -> String {
    "usage: soak [--seeds N] [--first N] [--actions N] [--preset faulty|hostile|exact] \
     [--threads N] [--markdown FILE] [--minutes N]"
        .to_owned()
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        seeds: 10_000,
        first: 1,
        actions: ACTIONS,
        preset: "faulty".to_owned(),
        threads: runner::cores(),
        markdown: None,
        budget: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag} takes a whole number, not {text:?}"))
        };
        match flag.as_str() {
            "--seeds" => parsed.seeds = number(value()?)?,
            "--first" => parsed.first = number(value()?)?,
            "--actions" => parsed.actions = usize::try_from(number(value()?)?).unwrap_or(ACTIONS),
            "--threads" => parsed.threads = usize::try_from(number(value()?)?).unwrap_or(1),
            "--preset" => parsed.preset = value()?,
            "--markdown" => parsed.markdown = Some(value()?),
            "--minutes" => parsed.budget = Some(Duration::from_secs(60 * number(value()?)?)),
            "--help" | "-h" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if parsed.seeds == 0 || parsed.actions == 0 || parsed.threads == 0 {
        return Err("--seeds, --actions and --threads must be 1 or more".to_owned());
    }
    Ok(parsed)
}

fn preset(name: &str) -> Option<Preset> {
    match name {
        "faulty" => Some(SimOptions::faulty),
        "hostile" => Some(SimOptions::hostile),
        "exact" => Some(SimOptions::exact),
        _ => None,
    }
}

/// What the runs add up to.
#[derive(Debug, Default)]
struct Totals {
    seeds: u64,
    actions: usize,
    faults: BTreeMap<FaultKind, usize>,
    failing: Vec<u64>,
}

impl Totals {
    fn add(&mut self, run: &SeedRun) {
        self.seeds += 1;
        self.actions += run.actions;
        for (kind, count) in &run.faults {
            *self.faults.entry(*kind).or_default() += count;
        }
        if run.outcome.is_err() {
            self.failing.push(run.seed);
        }
    }
}

fn markdown(args: &Args, totals: &Totals, elapsed: Duration) -> String {
    let faults_total: usize = totals.faults.values().sum();
    let mut out = format!(
        "| figure | value |\n|---|---|\n\
         | seeds run | {} ({}–{}) |\n\
         | preset | {} |\n\
         | responder actions | {} ({} per seed) |\n\
         | faults injected | {faults_total} |\n",
        totals.seeds,
        args.first,
        args.first + totals.seeds.max(1) - 1,
        args.preset,
        totals.actions,
        args.actions,
    );
    for (kind, count) in &totals.faults {
        out.push_str(&format!("| – {kind:?} | {count} |\n"));
    }
    let failing = if totals.failing.is_empty() {
        "0".to_owned()
    } else {
        let seeds: Vec<String> = totals.failing.iter().map(u64::to_string).collect();
        format!("{} (seeds {})", totals.failing.len(), seeds.join(", "))
    };
    out.push_str(&format!(
        "| seeds with a violation | {failing} |\n\
         | wall time | {:.0} s on {} threads ({:.2} s per seed per thread) |\n",
        elapsed.as_secs_f64(),
        args.threads,
        elapsed.as_secs_f64() * args.threads as f64 / totals.seeds.max(1) as f64,
    ));
    out
}

/// The soak's own wall time, a figure it reports (the worlds run on virtual time).
struct Stopwatch(std::time::Instant);

#[allow(
    clippy::disallowed_methods,
    reason = "wall time is what the soak measures of itself"
)]
impl Stopwatch {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let Some(preset) = preset(&args.preset) else {
        eprintln!("unknown preset {:?}\n{}", args.preset, usage());
        return ExitCode::from(2);
    };
    let seeds: Vec<u64> = (args.first..args.first + args.seeds).collect();
    let started = Stopwatch::start();
    let totals = Mutex::new(Totals::default());
    let progress = |run: &SeedRun| {
        let mut totals = match totals.lock() {
            Ok(totals) => totals,
            Err(poisoned) => poisoned.into_inner(),
        };
        totals.add(run);
        if let Err(report) = &run.outcome {
            eprintln!("{report}");
        }
        if totals.seeds % 100 == 0 {
            eprintln!(
                "{} of {} seeds, {} failing, {:.0} s",
                totals.seeds,
                args.seeds,
                totals.failing.len(),
                started.elapsed().as_secs_f64()
            );
        }
    };
    // In batches, so that a time budget stops between them.
    for batch in seeds.chunks(BATCH) {
        if args
            .budget
            .is_some_and(|budget| started.elapsed() >= budget)
        {
            break;
        }
        runner::run_parallel(preset, batch, args.actions, args.threads, &progress);
    }
    let elapsed = started.elapsed();
    let mut totals = match totals.into_inner() {
        Ok(totals) => totals,
        Err(poisoned) => poisoned.into_inner(),
    };
    totals.failing.sort_unstable();
    let summary = markdown(&args, &totals, elapsed);
    if let Err(error) = writeln!(std::io::stdout().lock(), "{summary}") {
        eprintln!("could not print the summary: {error}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.markdown
        && let Err(error) = std::fs::write(path, &summary)
    {
        eprintln!("could not write {path}: {error}");
        return ExitCode::FAILURE;
    }
    if totals.failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn defaults_are_ten_thousand_faulty_seeds_of_the_ci_length() {
        let args = parse(&[]).unwrap();
        assert_eq!((args.seeds, args.first, args.actions), (10_000, 1, ACTIONS));
        assert_eq!(args.preset, "faulty");
        assert!(preset(&args.preset).is_some());
    }

    #[test]
    fn flags_set_the_run_and_bad_ones_are_refused_with_the_usage() {
        let args = parse(&[
            "--seeds",
            "20",
            "--first",
            "101",
            "--actions",
            "8",
            "--preset",
            "exact",
        ])
        .unwrap();
        assert_eq!((args.seeds, args.first, args.actions), (20, 101, 8));
        assert!(
            parse(&["--seeds", "many"])
                .unwrap_err()
                .contains("whole number")
        );
        assert!(parse(&["--seeds", "0"]).is_err());
        assert!(parse(&["--bogus"]).unwrap_err().contains("usage"));
        assert!(parse(&["--seeds"]).unwrap_err().contains("needs a value"));
        let budgeted = parse(&["--minutes", "30"]).unwrap();
        assert_eq!(budgeted.budget, Some(Duration::from_secs(1800)));
        assert!(preset("kind").is_none());
    }
}
