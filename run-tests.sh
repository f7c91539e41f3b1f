#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, the "no Scan" rule, the CDK app's
# type check and tests (template assertions, cdk-nag), ShellCheck, the deploy.sh tests, all unit
# and integration tests (they start moto from .venv by themselves; the Lambda binaries run under
# cargo-lambda's local runtime; every Lambda under its own role from the synthesized template),
# the end-to-end suites once more per Jira set-up (Cloud + webhook, Data Center + webhook), the
# local demo (./deploy.sh --local --demo, also with the webhook intake and against Data Center),
# one run of the bench (./run-bench.sh), and the IAM coverage check (no unused grant).
# Installs what a fresh machine lacks first (the Python virtualenv with moto, ShellCheck and
# cargo-lambda, the CDK app's node_modules from its lockfile).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

step() { printf '\n==> %s\n' "$*"; }

step "set-up: Python virtualenv with moto (tests/bootstrap.sh)"
tests/bootstrap.sh

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    step "installing the $component component"
    rustup component add "$component"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "no DynamoDB Scan outside tests"
if git grep -nE '\.scan\(\)' -- '*.rs' ':!tests/**' ':!**/tests/**'; then
  echo "the product must never Scan the mapping table (DESIGN §5)" >&2
  exit 1
fi

# Logs of the non-cargo test steps, read for the closing line.
logs=target/test-logs
mkdir -p "$logs"

step "CDK app: npm ci (when cdk/node_modules is missing or older than the lockfile)"
command -v npm >/dev/null || { echo "the CDK app needs Node.js 20+ with npm" >&2; exit 1; }
if [ ! -f cdk/node_modules/.package-lock.json ] || [ cdk/package-lock.json -nt cdk/node_modules/.package-lock.json ]; then
  (cd cdk && npm ci --no-audit --no-fund)
fi

step "CDK app: TypeScript type check"
(cd cdk && npx --no-install tsc --noEmit)

step "CDK app: jest (template assertions, cdk-nag AwsSolutions)"
(cd cdk && npx --no-install jest --ci) 2>&1 | tee "$logs/cdk-jest.log"
jest_count() { sed -n 's/^Tests:.* \([0-9][0-9]*\) '"$1"'.*/\1/p' "$logs/cdk-jest.log" | tail -1; }
cdk_passed=$(jest_count passed)
cdk_failed=$(jest_count failed)

step "CDK app: cdk synth as on a fresh clone (no credentials, no lookups), cfn-lint on the template"
(cd cdk && npx --no-install cdk synth --quiet --no-notices --context allowPlaceholderAssets=true)
if [ -x .venv/bin/cfn-lint ]; then # installed with moto[server]
  # W3005: CDK's explicit DependsOn next to a GetAtt, harmless
  .venv/bin/cfn-lint --ignore-checks W3005 -- cdk/cdk.out/SecurityIncidentResponseJira.template.json
else
  echo "cfn-lint is not in .venv (moto[server] no longer brings it): template not linted" >&2
fi

step "ShellCheck: deploy.sh and the project's scripts"
.venv/bin/shellcheck deploy.sh run-tests.sh run-bench.sh .ci/run tests/bootstrap.sh tests/deploy/*.sh

step "deploy.sh tests (stub aws, cdk, cargo, curl on PATH)"
bash tests/deploy/run.sh | tee "$logs/deploy-tests.log"
deploy_passed=$(sed -n 's/^deploy.sh tests: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$logs/deploy-tests.log")
deploy_failed=$(sed -n 's/^deploy.sh tests: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$logs/deploy-tests.log")

step "cargo build: the Lambda binaries with the test build's features (cargo-lambda smoke test)"
# tests/tests/infra_lambda_binaries.rs runs these four binaries under `cargo lambda watch`. Built
# with --tests, features resolve as in `cargo test --workspace`, so this only links the binaries; the
# test's own build of them is then a no-op. The test may not skip here: cargo-lambda is in .venv.
cargo build --workspace --bins --tests --locked
export SIR_JIRA_REQUIRE_CARGO_LAMBDA=1

step "cargo test"
# The local IAM records which granted actions each Lambda used (for the coverage check below).
rm -rf target/iam-exercised
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# The end-to-end suites again against the other Jira set-ups (the run above is Jira Cloud with
# Automation): Jira Cloud with the signed webhook, and Jira Data Center with the signed webhook,
# its only intake (E2E_JIRA, see tests/src/pipeline.rs). Tests that pin a set-up run as pinned.
# --workspace keeps the features of the run above (with -p alone they resolve differently and
# half the dependencies are built again).
step "end-to-end suites: Jira Cloud with the webhook intake (E2E_JIRA=cloud-webhook)"
E2E_JIRA=cloud-webhook cargo test --workspace --locked --test 'e2e_*' 2>&1 | tee -a "$log"

step "end-to-end suites and the Jira adapter's tests: Jira Data Center with the webhook intake (E2E_JIRA=data-center)"
E2E_JIRA=data-center cargo test --workspace --locked --test 'e2e_*' --test adapter_jira 2>&1 |
  tee -a "$log"

step "the demo: ./deploy.sh --local --demo (each step must be seen on the other side in time)"
./deploy.sh --local --demo 2>&1 | tee "$logs/demo.log"
grep -q '^demo passed' "$logs/demo.log"
# the functions' metrics lines (Embedded Metric Format), as each Lambda writes them to its log
[ "$(grep '^{.*"_aws":{.*"CloudWatchMetrics":' "$logs/demo.log" | grep -c '"FunctionName":"jira-client"')" -gt 0 ]

step "the demo with the webhook intake: ./deploy.sh --local --demo --intake webhook"
./deploy.sh --local --demo --intake webhook 2>&1 | tee "$logs/demo-webhook.log"
grep -q '^demo passed' "$logs/demo-webhook.log"
grep -q 'Jira webhooks, signed' "$logs/demo-webhook.log"

step "the demo against Jira Data Center: ./deploy.sh --local --demo --jira-flavor data-center"
./deploy.sh --local --demo --jira-flavor data-center 2>&1 | tee "$logs/demo-data-center.log"
grep -q '^demo passed' "$logs/demo-data-center.log"

step "the bench, one run of each scenario (./run-bench.sh runs the figures in BENCHMARKS.md)"
# The binary the build step above linked with the test build's features (cargo run would resolve
# features for this package alone and rebuild dependencies).
# Latency with 2 samples a kind and bulk runs of 10 items (under Jira's limits and SIR's
# throttling), each checked for nothing missing and nothing duplicated.
target/debug/bench --runs 1 --cases 20 --changed 0,5 --samples 2 --bulk 10 \
  --markdown "$logs/bench-smoke.md"
# The cold-start profile on the debug binaries, with a 4 MiB attachment each way (checked
# byte-exact): keeps the harness working; its figures come from the release binaries.
target/debug/lambda_profile --runs 1 --bin-dir target/debug --attachment-mib 4 \
  --markdown "$logs/lambda-profile-smoke.md"

step "IAM coverage: every permission granted was used by a test, or permissions.ts says why not"
.venv/bin/python tests/iam_coverage.py
# One closing line for the whole run, summed over every test binary, the CDK tests and the
# deploy.sh tests (with the parts on the line before it).
awk -v cdk_p="${cdk_passed:-0}" -v cdk_f="${cdk_failed:-0}" -v dep_p="${deploy_passed:-0}" -v dep_f="${deploy_failed:-0}" '
     /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ncargo test %d/%d, cdk jest %d/%d, deploy.sh %d/%d (passed/failed)\n", p, f, cdk_p, cdk_f, dep_p, dep_f
           printf "tests: %d passed, %d failed\n", p + cdk_p + dep_p, f + cdk_f + dep_f }' "$log"
