#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy, the "no Scan" rule, and all
# unit and integration tests (the integration tests start moto from .venv by themselves).
# Installs what a fresh machine lacks first (the Python virtualenv with moto).
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

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
