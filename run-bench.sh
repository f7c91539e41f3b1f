#!/usr/bin/env bash
# Runs the request-cost bench (issue 15; method in BENCHMARKS.md) and writes its figures into
# BENCHMARKS.md between the "bench:begin" and "bench:end" markers. Not part of ./run-tests.sh
# (run-tests.sh runs a one-run subset to keep it working).
#
#   ./run-bench.sh                 # 5 runs of each scenario, poll cost for 100, 1,000 and 5,000 cases,
#                                  # 30 latency samples a kind, bulk runs of 1,000 items each way (about 1 h)
#   ./run-bench.sh --runs 3 --cases 100,1000 --bulk 300 --samples 20
#   ./run-bench.sh --quick         # one run, 100 cases, 3 samples, bulk of 20, no cold-start profile,
#                                  # output to target/bench.md only
#
# The request counts run on the soak profile (optimized, no LTO): they do not depend on the build,
# and it compiles in minutes. Cold start and memory are measured on the release binaries, as
# deployed (the release profile's LTO build takes a while the first time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

runs=5
cases=100,1000,5000
bulk=1000
samples=30
quick=false
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --bulk) bulk=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --quick) quick=true; runs=1; cases=100; bulk=20; samples=3; shift ;;
    *) echo "usage: $0 [--runs R] [--cases N,...] [--bulk N] [--samples M] [--quick]" >&2; exit 2 ;;
  esac
done

tests/bootstrap.sh
mkdir -p target
out=target/bench.md
cargo run --locked --profile soak -p integration-tests --bin bench -- \
  --runs "$runs" --cases "$cases" --changed 0,5,50 --bulk "$bulk" --samples "$samples" \
  --markdown "$out"

if [ "$quick" = true ]; then
  cat "$out"
  exit 0
fi

cargo build --locked --release -p poller -p jira-client -p jira-notifications-handler -p sir-client
cargo run --locked --profile soak -p integration-tests --bin lambda_profile -- \
  --bin-dir target/release --runs "$runs" --markdown target/lambda-profile.md
{
  echo
  cat target/lambda-profile.md
} >> "$out"

# Replace the section between the markers with the new figures (machine and commit first).
{
  echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' with local changes'), $(date -u +%Y-%m-%d)."
  echo
  cat "$out"
} > target/bench-section.md
awk -v section=target/bench-section.md '
  /<!-- bench:begin -->/ { print; while ((getline line < section) > 0) print line; skipping = 1; next }
  /<!-- bench:end -->/ { skipping = 0 }
  !skipping { print }
' BENCHMARKS.md > target/BENCHMARKS.md.new
if ! grep -q '<!-- bench:end -->' target/BENCHMARKS.md.new; then
  echo "BENCHMARKS.md lacks the bench:begin/bench:end markers" >&2
  exit 1
fi
mv target/BENCHMARKS.md.new BENCHMARKS.md
echo "BENCHMARKS.md updated from $out"
