#!/usr/bin/env bash
# Tests of deploy.sh: each runs a copy of deploy.sh (with cdk/contract.json) in a sandbox whose
# PATH has stub aws, npx (cdk), npm, cargo, curl and rustup (tests/deploy/stub.sh) recording every
# call, with a clean environment (env -i), and checks the calls, their order and the output.
# Prints one line per test and a closing "deploy.sh tests: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
node_dir=$(dirname "$(command -v node)")
TOKEN='ATATT3xFfGF0-SECRET-test_token-4711'
DEPLOY_ARGS=(--email bot@example.com --url https://example.atlassian.net --project-key SEC --region eu-west-1)
STACK=SecurityIncidentResponseJira

SANDBOX='' STUB_LOG='' OUT='' STDIN=/dev/null
STUB_ENV=()

setup() {
  SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/deploy-test.XXXXXX")
  mkdir -p "$SANDBOX/repo/cdk" "$SANDBOX/bin" "$SANDBOX/tmp" "$SANDBOX/stub"
  cp "$repo/deploy.sh" "$SANDBOX/repo/"
  cp "$repo/cdk/contract.json" "$SANDBOX/repo/cdk/"
  for tool in aws npx npm cargo curl rustup; do ln -s "$here/stub.sh" "$SANDBOX/bin/$tool"; done
  STUB_LOG=$SANDBOX/calls.log
  OUT=$SANDBOX/out
  : >"$STUB_LOG"
  STDIN=/dev/null
  STUB_ENV=()
}

# Runs deploy.sh with these arguments; its exit code goes to $SANDBOX/rc, its output to $OUT.
deploy() {
  local rc=0
  env -i HOME="$SANDBOX" PATH="$SANDBOX/bin:$node_dir:/usr/bin:/bin" TMPDIR="$SANDBOX/tmp" \
    STUB_LOG="$STUB_LOG" STUB_DIR="$SANDBOX/stub" "${STUB_ENV[@]}" \
    bash "$SANDBOX/repo/deploy.sh" "$@" <"$STDIN" >"$OUT" 2>&1 || rc=$?
  echo "$rc" >"$SANDBOX/rc"
}
with_token_on_stdin() { printf '%s\n' "$TOKEN" >"$SANDBOX/stdin"; STDIN=$SANDBOX/stdin; }

# ---- checks: each prints what it expected when it fails ----
expect() { "$@" || { printf '    expected: %s\n' "$*"; return 1; }; }
expect_not() { ! "$@" || { printf '    expected not: %s\n' "$*"; return 1; }; }
exit_code() { [ "$(cat "$SANDBOX/rc")" = "$1" ]; }
output_has() { grep -qF -- "$1" "$OUT"; }
output_lacks() { ! grep -qF -- "$1" "$OUT"; }
called() { grep -qF -- "$1" "$STUB_LOG"; }
not_called() { ! grep -qF -- "$1" "$STUB_LOG"; }
no_calls() { ! grep -q '^[a-z]' "$STUB_LOG"; }
# The first call line matching each pattern comes in this order.
in_order() {
  local last=0 n pattern
  for pattern in "$@"; do
    n=$(grep -nF -- "$pattern" "$STUB_LOG" | head -1 | cut -d: -f1)
    [ -n "$n" ] && [ "$n" -gt "$last" ] || return 1
    last=$n
  done
}
token_nowhere_in_calls() { ! grep -qF -- "$TOKEN" "$STUB_LOG"; }
token_file_was_private() { grep -q 'value-file mode=600' "$STUB_LOG" && [ "$(cat "$SANDBOX/stub/ssm-value")" = "$TOKEN" ]; }
temp_files_removed() { [ -z "$(ls -A "$SANDBOX/tmp")" ]; }
# The deploy call line (one line, argv shell-quoted).
deploy_call() { grep -F 'npx --no-install cdk --no-notices deploy' "$STUB_LOG"; }

# ---------------------------------------------------------------------------------------------
test_help_lists_the_flags() {
  deploy -h
  expect exit_code 0
  for flag in --local --demo --email --url --token --project-key --log-level --issue-type --region --profile --dry-run --destroy --intake \
    --jira-case-filter --jira-sweep-minutes --backfill-since --backfill-closed --audit \
    --audit-interval-minutes --audits-per-pass --jira-audit-per-run --jira-flavor --jira-auth --vpc-subnets \
    --vpc-security-groups --vpc-id --status --replay-dlq --function; do
    expect output_has "$flag"
  done
  expect no_calls
}

# --local: tests/bootstrap.sh is a stub here; the local binary is started through (stub) cargo.
local_sandbox() {
  mkdir -p "$SANDBOX/repo/tests" "$SANDBOX/repo/target/debug"
  # shellcheck disable=SC2016 # $STUB_LOG etc. are expanded when the stubs run
  printf '#!/bin/sh\necho bootstrap >>"$STUB_LOG"\n' >"$SANDBOX/repo/tests/bootstrap.sh"
  # shellcheck disable=SC2016
  printf '#!/bin/sh\necho "sir-jira-local $*" >>"$STUB_LOG"\necho "  env JIRA_API_TOKEN=${JIRA_API_TOKEN:+set}" >>"$STUB_LOG"\n' \
    >"$SANDBOX/repo/target/debug/sir-jira-local"
  chmod +x "$SANDBOX/repo/tests/bootstrap.sh" "$SANDBOX/repo/target/debug/sir-jira-local"
}

test_local_starts_the_local_binary_and_touches_no_aws() {
  local_sandbox
  deploy --local
  expect exit_code 0
  expect in_order 'bootstrap' 'cargo build --quiet --locked --workspace --bins --tests' 'sir-jira-local'
  expect not_called 'aws '
  expect not_called 'npx '
}

test_local_demo_passes_demo_to_the_local_binary() {
  local_sandbox
  deploy --local --demo
  expect exit_code 0
  expect called 'sir-jira-local --demo'
  expect not_called 'aws '
}

test_local_passes_the_intake_to_the_local_binary() {
  local_sandbox
  deploy --local --demo --intake webhook
  expect exit_code 0
  expect called 'sir-jira-local --demo --intake webhook'
  setup
  local_sandbox
  deploy --local --intake smoke-signals
  expect exit_code 2
  expect output_has '--intake smoke-signals: use automation, webhook or both'
}

test_demo_without_local_is_refused() {
  deploy --demo
  expect exit_code 2
  expect output_has '--demo goes with --local'
  expect no_calls
}

test_local_with_a_real_jira_passes_the_token_only_in_the_environment() {
  local_sandbox
  with_token_on_stdin
  deploy --local --email bot@example.com --url https://example.atlassian.net --project-key SEC --token -
  expect exit_code 0
  expect called 'sir-jira-local --url https://example.atlassian.net --email bot@example.com --project-key SEC'
  expect called 'JIRA_API_TOKEN=set'
  expect token_nowhere_in_calls
  expect not_called 'aws '
  # The token's expiry date goes with it, as deploy.sh stores it beside the token.
  local day
  day=$(days_from_today 30)
  setup
  local_sandbox
  with_token_on_stdin
  deploy --local --email bot@example.com --url https://example.atlassian.net --project-key SEC --token - --token-expires "$day"
  expect exit_code 0
  expect called "sir-jira-local --url https://example.atlassian.net --email bot@example.com --project-key SEC --token-expires $day"
  setup
  local_sandbox
  deploy --local --token-expires "$day"
  expect exit_code 2
  expect output_has '--token-expires goes with a real Jira site'
}

test_local_with_a_real_jira_signs_in_first_and_takes_a_token_with_scopes_through_the_gateway() {
  local gateway=https://api.atlassian.com/ex/jira/8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f
  local_sandbox
  with_token_on_stdin
  STUB_ENV=(STUB_SCOPED_TOKEN=1)
  deploy --local --email bot@example.com --url https://example.atlassian.net --project-key SEC --token -
  expect exit_code 0
  expect in_order 'https://example.atlassian.net/rest/api/3/myself' \
    'https://example.atlassian.net/_edge/tenant_info' "$gateway/rest/api/3/myself" \
    'cargo build' "sir-jira-local --url https://example.atlassian.net --email bot@example.com --project-key SEC --jira-api-url $gateway"
  expect token_nowhere_in_calls
  expect not_called 'aws '
  expect temp_files_removed
  # A token neither takes stops before the build.
  setup
  local_sandbox
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_MYSELF=401)
  deploy --local --email bot@example.com --url https://example.atlassian.net --project-key SEC --token -
  expect exit_code 1
  expect output_has "at the site and at Atlassian's API gateway"
  expect not_called 'cargo build'
  expect not_called 'sir-jira-local'
}

test_local_demo_with_a_real_jira_is_refused() {
  local_sandbox
  with_token_on_stdin
  deploy --local --demo --email bot@example.com --url https://example.atlassian.net --project-key SEC --token -
  expect exit_code 2
  expect output_has '--demo runs against the Jira emulator only'
  expect no_calls
}

test_unknown_flag_is_refused() {
  deploy --frobnicate
  expect exit_code 2
  expect output_has 'unknown option: --frobnicate'
  expect no_calls
}

test_bad_email_is_refused_before_anything_runs() {
  with_token_on_stdin
  deploy --email not-an-email --url https://example.atlassian.net --token - --project-key SEC
  expect exit_code 2
  expect output_has 'is not an e-mail address'
  expect no_calls
}

test_http_url_is_refused() {
  with_token_on_stdin
  deploy --email bot@example.com --url http://example.atlassian.net --token - --project-key SEC
  expect exit_code 2
  expect output_has 'must be an https:// URL'
  expect no_calls
}

test_bad_project_key_is_refused() {
  with_token_on_stdin
  deploy --email bot@example.com --url https://example.atlassian.net --token - --project-key sec-1
  expect exit_code 2
  expect output_has 'is not a Jira project key'
  expect no_calls
}

test_missing_token_is_refused() {
  deploy "${DEPLOY_ARGS[@]}"
  expect exit_code 2
  expect output_has 'missing Jira API token'
  expect no_calls
}

test_bad_log_level_is_refused() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --log-level verbose
  expect exit_code 2
  expect output_has '--log-level verbose'
  expect no_calls
}

test_deploy_runs_the_steps_in_order_and_prints_the_topic() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect in_order 'aws --region eu-west-1 sts get-caller-identity' \
    '/rest/api/3/myself' '/rest/api/3/project/SEC' \
    'aws --region eu-west-1 ssm put-parameter --name /SecurityIncidentResponse/jiraToken --type SecureString --overwrite' \
    'cargo lambda build --release --arm64 --locked --package poller --package jira-client --package jira-notifications-handler --package sir-client' \
    'npm ci' 'cdk --no-notices synth' 'cdk --no-notices bootstrap aws://123456789012/eu-west-1' \
    "cdk --no-notices deploy $STACK --require-approval never"
  expect output_has "arn:aws:sns:eu-west-1:123456789012:$STACK-JiraAutomationTopic-TEST"
  expect output_has '{"automationData":{"IssueId":"{{issue.key}}","Initiator":"{{initiator.accountId}}"}}'
  expect output_has '{"automationData":{"IssueId":"{{issue.key}}","Event":"issue_deleted","Initiator":"{{initiator.accountId}}"}}'
  expect output_has 'Initiator is not'
  expect output_has 'Publish to Amazon SNS'
  expect token_file_was_private
  expect token_nowhere_in_calls
  expect temp_files_removed
}

# A date N days from today (UTC), YYYY-MM-DD.
days_from_today() { node -e 'process.stdout.write(new Date(Date.now() + Number(process.argv[1]) * 86400000).toISOString().slice(0, 10))' -- "$1"; }

test_the_token_expiry_date_is_stored_beside_the_token() {
  local day
  day=$(days_from_today 90)
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --token-expires "$day"
  expect exit_code 0
  # "unknown" before the token, the date after it: a run stopped in between never leaves the
  # old token's date beside a new token.
  expect in_order 'ssm put-parameter --name /SecurityIncidentResponse/jiraTokenExpiresOn --type String --overwrite' \
    'ssm put-parameter --name /SecurityIncidentResponse/jiraToken --type SecureString' \
    'cdk --no-notices deploy'
  expect [ "$(grep -c 'ssm put-parameter --name /SecurityIncidentResponse/jiraTokenExpiresOn' "$STUB_LOG")" = 2 ]
  expect [ "$(grep -n 'put-parameter --name /SecurityIncidentResponse/jiraTokenExpiresOn' "$STUB_LOG" | tail -1 | cut -d: -f1)" -gt \
    "$(grep -n 'put-parameter --name /SecurityIncidentResponse/jiraToken ' "$STUB_LOG" | cut -d: -f1)" ]
  expect [ "$(cat "$SANDBOX/stub/ssm-value-expires")" = "$day" ]
  expect output_lacks 'is not known'
  # Given, it is not read back from SSM (the deployed token is never read then).
  expect not_called 'ssm get-parameters'
  expect token_file_was_private
  expect temp_files_removed
}

test_a_token_expiry_that_is_no_date_passed_or_too_far_is_refused_before_anything_runs() {
  local bad
  for bad in 2026-02-30 31.12.2026 "$(days_from_today -1)" "$(days_from_today 400)" never; do
    setup
    with_token_on_stdin
    deploy "${DEPLOY_ARGS[@]}" --token - --token-expires "$bad"
    expect exit_code 2 || return 1
    expect output_has "--token-expires $bad" || return 1
    expect not_called 'put-parameter' || return 1
  done
  expect output_has 'Atlassian API tokens expire'
}

test_without_a_token_expiry_the_deployed_tokens_date_is_kept_or_it_is_stored_as_unknown() {
  local day
  day=$(days_from_today 40)
  # The token deployed is the one given: its date stays.
  STUB_ENV=(STUB_DEPLOYED_TOKEN="$TOKEN" STUB_TOKEN_EXPIRES="$day")
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect called 'ssm get-parameters --names /SecurityIncidentResponse/jiraToken /SecurityIncidentResponse/jiraTokenExpiresOn --with-decryption'
  expect [ "$(cat "$SANDBOX/stub/ssm-value-expires")" = "$day" ]
  expect [ "$(grep -c 'ssm put-parameter --name /SecurityIncidentResponse/jiraTokenExpiresOn' "$STUB_LOG")" = 1 ]
  expect output_has "its expiry date ($day) is kept"
  expect token_nowhere_in_calls
  # Another token, no terminal to ask on: unknown, and said.
  setup
  STUB_ENV=(STUB_TOKEN_EXPIRES="$day")
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect [ "$(cat "$SANDBOX/stub/ssm-value-expires")" = unknown ]
  expect output_has 'warning: the expiry date of the Jira API token is not known'
  expect temp_files_removed
}

test_non_secret_values_go_to_cdk_as_parameters_and_the_token_does_not() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --log-level debug --issue-type Incident
  expect exit_code 0
  local call
  call=$(deploy_call)
  for part in 'JiraEmail=bot@example.com' 'JiraUrl=https://example.atlassian.net' 'JiraProjectKey=SEC' \
    'LogLevel=DEBUG' 'JiraIssueType=Incident' 'requireBuiltLambdas=true' 'lambdaAssetDir='; do
    expect grep -qF -- "$part" <<<"$call"
  done
  expect token_nowhere_in_calls
  expect not_called 'oken='
}

test_curl_gets_the_credentials_from_a_private_file() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect called 'config mode=600'
  expect grep -qF "user = \"bot@example.com:$TOKEN\"" "$SANDBOX/stub/curl.cfg"
  expect token_nowhere_in_calls
}

test_token_from_the_environment_stays_out_of_argv_and_child_environments() {
  STUB_ENV=(JIRA_API_TOKEN="$TOKEN")
  deploy "${DEPLOY_ARGS[@]}"
  expect exit_code 0
  expect token_file_was_private
  expect token_nowhere_in_calls
  expect not_called 'JIRA_API_TOKEN=set'
}

test_token_given_as_an_argument_still_never_reaches_a_command_line() {
  deploy "${DEPLOY_ARGS[@]}" --token "$TOKEN"
  expect exit_code 0
  expect token_file_was_private
  expect token_nowhere_in_calls
}

test_dry_run_builds_and_synthesizes_but_changes_nothing_in_aws() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --dry-run
  expect exit_code 0
  expect called 'cargo lambda build --release --arm64'
  expect called 'cdk --no-notices synth'
  expect not_called 'put-parameter'
  expect not_called 'cdk --no-notices deploy'
  expect not_called 'cdk --no-notices bootstrap'
  expect not_called 'cloudformation deploy'
  expect not_called 'delete-'
  expect output_has 'would run: aws --region eu-west-1 ssm put-parameter'
  expect output_has 'would run: cdk deploy'
  expect output_has 'nothing was changed in AWS'
  expect token_nowhere_in_calls
  expect not_output_has_token
}
not_output_has_token() { ! grep -qF -- "$TOKEN" "$OUT"; }

test_jira_401_stops_before_aws_is_changed() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_MYSELF=401)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'HTTP 401'
  expect output_has 'API token'
  expect not_called 'put-parameter'
  expect not_called 'cargo lambda build'
}

test_a_token_with_scopes_is_checked_and_used_through_atlassians_gateway() {
  local gateway=https://api.atlassian.com/ex/jira/8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f
  with_token_on_stdin
  STUB_ENV=(STUB_SCOPED_TOKEN=1)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  # The site refuses it; its cloud id (asked without credentials) names the gateway, which takes it.
  expect in_order 'https://example.atlassian.net/rest/api/3/myself' \
    'https://example.atlassian.net/_edge/tenant_info' \
    "$gateway/rest/api/3/myself" "$gateway/rest/api/3/project/SEC" \
    'ssm put-parameter --name /SecurityIncidentResponse/jiraApiUrl --type String' \
    'cdk --no-notices deploy'
  expect output_has "an API token with scopes: the functions call Jira through Atlassian's API gateway, $gateway"
  expect [ "$(cat "$SANDBOX/stub/ssm-value-api-url")" = "$gateway" ]
  expect not_called 'example.atlassian.net/rest/api/3/project'
  expect called "$gateway/rest/api/3/search/approximate-count"
  expect token_nowhere_in_calls
  # --status asks the gateway the deployed functions use.
  setup
  STUB_ENV=(STUB_SCOPED_TOKEN=1 STUB_API_URL="$gateway")
  deploy --status --region eu-west-1
  expect exit_code 0
  expect called "$gateway/rest/api/3/myself"
  expect output_has 'the credentials work'
  # A token neither takes: both refusals said, with the scopes a token with scopes needs.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_MYSELF=401)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has "at the site and at Atlassian's API gateway"
  expect output_has 'read:jira-user, read:jira-work, write:jira-work'
  expect not_called 'put-parameter'
}

test_jira_project_404_is_explained() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_PROJECT=404)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'project SEC not found'
  expect not_called 'put-parameter'
}

test_jira_check_can_be_skipped() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --skip-jira-check
  expect exit_code 0
  expect not_called 'curl '
  # Whether the new token goes through Atlassian's gateway is not known without asking Jira.
  expect not_called 'put-parameter --name /SecurityIncidentResponse/jiraApiUrl'
  expect output_has 'is kept as it was stored, not checked for this token'
}

test_missing_credentials_stop_before_aws_is_changed() {
  with_token_on_stdin
  STUB_ENV=(STUB_STS_FAIL=1)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'no usable AWS credentials'
  expect not_called 'put-parameter'
  expect not_called 'curl '
}

test_missing_cargo_is_reported() {
  with_token_on_stdin
  rm "$SANDBOX/bin/cargo"
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'cargo not found'
  expect not_called 'put-parameter'
}

test_missing_cargo_lambda_is_installed_into_the_venv() {
  with_token_on_stdin
  ln -s "$here/stub.sh" "$SANDBOX/bin/python3"
  STUB_ENV=(STUB_NO_CARGO_LAMBDA=1)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect in_order "python3 -m venv $SANDBOX/repo/.venv" \
    "python -m pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2" \
    'cargo lambda build'
  expect output_has 'installing cargo-lambda==1.9.2'
}

test_failed_build_stops_before_cdk_deploy() {
  with_token_on_stdin
  STUB_ENV=(STUB_BUILD_FAIL=1)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'cargo lambda build failed'
  expect not_called 'cdk --no-notices deploy'
}

test_region_from_the_profile_and_profile_passed_on() {
  with_token_on_stdin
  STUB_ENV=(STUB_PROFILE_REGION=ap-southeast-2)
  deploy --email bot@example.com --url https://example.atlassian.net/ --project-key SEC --token - --profile sec
  expect exit_code 0
  expect called 'aws --profile sec configure get region'
  expect called 'aws --profile sec --region ap-southeast-2 ssm put-parameter'
  expect called 'AWS_REGION=ap-southeast-2 AWS_PROFILE=sec'
  expect called 'bootstrap aws://123456789012/ap-southeast-2'
  expect grep -qF 'JiraUrl=https://example.atlassian.net ' <<<"$(deploy_call)"
}

test_no_region_anywhere_is_reported() {
  with_token_on_stdin
  deploy --email bot@example.com --url https://example.atlassian.net --project-key SEC --token -
  expect exit_code 1
  expect output_has 'no AWS region'
  expect not_called 'put-parameter'
}

test_status_mapping_file_is_checked_and_passed_compact() {
  with_token_on_stdin
  printf '{ "jiraToSir": { "Done": "Closed" } }\n' >"$SANDBOX/mapping.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --status-mapping "$SANDBOX/mapping.json"
  expect exit_code 0
  expect grep -qF 'StatusMapping=\{\"jiraToSir\":\{\"Done\":\"Closed\"\}\}' <<<"$(deploy_call)"
  setup
  with_token_on_stdin
  printf '[1, 2' >"$SANDBOX/broken.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --status-mapping "$SANDBOX/broken.json"
  expect exit_code 2
  expect output_has 'is not a JSON object'
  expect not_called 'cdk --no-notices deploy'
}

test_field_mapping_is_merged_into_the_deployed_status_mapping_and_checked_against_the_site() {
  with_token_on_stdin
  STUB_ENV=(STUB_STATUS_MAPPING='{"jiraToSir":{"Done":"Closed"}}')
  printf '{"sirToJira": {"impactedAccounts": "AWS accounts"}, "onCreate": {"labels": ["sir"]},
    "jiraToSir": {"impactedAccounts": "customfield_10050"}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 0
  expect called 'ssm get-parameter --name /SecurityIncidentResponse/statusMapping'
  expect output_has 'every field the field mapping names exists'
  # The deployed status mapping is kept, the fields added.
  expect grep -qF 'StatusMapping=\{\"jiraToSir\":\{\"Done\":\"Closed\"\}\,\"fields\":\{\"sirToJira\":\{\"impactedAccounts\":\"AWS' <<<"$(deploy_call)"

  # A status mapping given alone keeps the deployed fields.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_STATUS_MAPPING='{"fields":{"onCreate":{"Severity":{"value":"Sev 2"}}}}')
  printf '{"sirToJira": {"Closed": "Done"}}\n' >"$SANDBOX/status.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --status-mapping "$SANDBOX/status.json"
  expect exit_code 0
  expect grep -qF 'StatusMapping=\{\"sirToJira\":\{\"Closed\":\"Done\"\}\,\"fields\":\{\"onCreate\"' <<<"$(deploy_call)"

  # A field the site does not have stops the deployment before anything is written.
  setup
  with_token_on_stdin
  printf '{"sirToJira": {"impactedRegions": "Regions hit"}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 1
  expect output_has 'names fields'
  expect output_has 'Regions hit'
  expect not_called 'cdk --no-notices deploy'

  # An unknown key is refused before anything runs.
  setup
  with_token_on_stdin
  printf '{"toJira": {}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 2
  expect output_has 'unknown key toJira'
  expect not_called 'cdk --no-notices deploy'
}

test_field_mapping_is_checked_as_the_functions_check_it_before_anything_is_deployed() {
  # A SIR field the mapping cannot carry, and a Jira field the integration writes itself:
  # refused before the site is asked.
  with_token_on_stdin
  printf '{"jiraToSir": {"reportedIncidentStartDate": "Start"}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 2
  expect output_has 'jiraToSir has reportedIncidentStartDate, which is not one of'
  expect not_called 'cdk --no-notices deploy'
  setup
  with_token_on_stdin
  printf '{"onTransition": {"Done": {"Summary": "closed"}}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 2
  expect output_has 'onTransition.Done names Summary, which the integration writes itself'
  expect not_called 'cdk --no-notices deploy'

  # On the site: a name two fields share, and a name that is the integration's own field.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_FIELDS='[{"id":"customfield_1","name":"Regions"},{"id":"customfield_2","name":"regions"},{"id":"issuetype","name":"Work type"}]')
  printf '{"sirToJira": {"impactedRegions": "Regions", "engagementType": "Work type"}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 1
  expect output_has 'names that several fields share (use the id): Regions (customfield_1, customfield_2)'
  expect output_has 'fields the integration writes itself: Work type'
  expect not_called 'cdk --no-notices deploy'

  # A field whose type jira-client cannot fill (a user picker): refused as jira-client would.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_FIELDS='[{"id":"customfield_3","name":"Owner","schema":{"type":"user"}},{"id":"customfield_4","name":"Hit","schema":{"type":"array","items":"option"}}]')
  printf '{"sirToJira": {"impactedAccounts": "Owner", "impactedRegions": "Hit"}}\n' >"$SANDBOX/fields.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --field-mapping "$SANDBOX/fields.json"
  expect exit_code 1
  expect output_has 'fields whose type the mapping cannot fill'
  expect output_has 'Owner (user)'
  expect output_lacks 'Hit ('
  expect not_called 'cdk --no-notices deploy'

  # A "fields" key in --status-mapping is a field mapping too: checked against the site.
  setup
  with_token_on_stdin
  printf '{"sirToJira": {"Closed": "Done"}, "fields": {"jiraToSir": {"impactedRegions": "Regions hit"}}}\n' >"$SANDBOX/status.json"
  deploy "${DEPLOY_ARGS[@]}" --token - --status-mapping "$SANDBOX/status.json"
  expect exit_code 1
  expect output_has 'fields the site does not have: Regions hit'
  expect not_called 'cdk --no-notices deploy'
}

test_first_deployment_records_the_installation_time_and_keeps_the_case_filter_default() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect called 'ssm get-parameter --name /SecurityIncidentResponse/installedAt'
  local call
  call=$(deploy_call)
  expect grep -qE -- 'InstalledAt=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' <<<"$call"
  # not given: CloudFormation keeps the last value (the template's default the first time)
  expect not_called 'JiraCaseFilter='
  expect output_has 'first installation at'
  expect output_has '12 existing issue(s) in SEC; only issues created after'
}

test_redeployment_keeps_the_recorded_installation_time() {
  STUB_ENV=(STUB_INSTALLED_AT=2026-01-02T03:04:05Z)
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect grep -qF -- 'InstalledAt=2026-01-02T03:04:05Z' <<<"$(deploy_call)"
  expect output_has 'installation time 2026-01-02T03:04:05Z (kept from /SecurityIncidentResponse/installedAt)'
}

test_a_malformed_recorded_installation_time_stops_the_deployment() {
  STUB_ENV=(STUB_INSTALLED_AT=yesterday)
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has "holds 'yesterday'"
  expect not_called 'cdk --no-notices deploy'
}

test_case_filter_is_counted_in_jira_and_passed_to_the_stack() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --dry-run --jira-case-filter 'labels = "security"'
  expect exit_code 0
  expect called 'count {"jql":"project = \"SEC\" AND (labels = \"security\")"}'
  expect output_has 'the case filter matches 3 of the 12 existing issue(s) in SEC'
  expect output_has 'JiraCaseFilter=labels\ =\ \"security\"'
  expect not_called 'cdk --no-notices deploy'
}

test_a_case_filter_jira_refuses_stops_before_aws_is_changed() {
  STUB_ENV=(STUB_JIRA_BAD_JQL=nonsense)
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-case-filter 'nonsense ='
  expect exit_code 1
  expect output_has 'Jira refused the query'
  expect output_has 'Error in the JQL Query: nonsense'
  expect not_called 'put-parameter'
  expect not_called 'cdk --no-notices deploy'
}

test_empty_case_filter_goes_back_to_the_default() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-case-filter ''
  expect exit_code 0
  expect grep -qF -- 'JiraCaseFilter=default' <<<"$(deploy_call)"
}

# $SANDBOX/cases.json: 30 SIR cases from 2020 (10 closed: 15 from March, 5 of them closed; 15 from
# September, 5 of them closed), plus $1 cases created on 2020-11-01 (one of them closed).
sir_cases() {
  node -e '
    const cases = [];
    for (let i = 0; i < 30; i++) {
      cases.push({ caseId: String(1000000000 + i), caseStatus: i % 3 === 0 ? "Closed" : "Submitted",
        createdDate: i < 15 ? "2020-03-01T10:00:00.123000+00:00" : 1598954400 });
    }
    for (let i = 0; i < Number(process.argv[1]); i++) {
      cases.push({ caseId: String(2000000000 + i), caseStatus: i === 0 ? "Closed" : "Detection and Analysis",
        createdDate: "2020-11-01T00:00:00+00:00" });
    }
    console.log(JSON.stringify(cases));' "${1:-0}" >"$SANDBOX/cases.json"
  STUB_ENV+=(STUB_SIR_CASES="$SANDBOX/cases.json" STUB_SIR_PAGE_SIZE=12)
}

test_dry_run_counts_the_sir_cases_brought_over_over_every_page_and_writes_nothing() {
  sir_cases 0
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --dry-run --backfill-since 2020-06-15
  expect exit_code 0
  expect called 'security-ir list-cases --max-items 100 --output json --starting-token 24'
  expect output_has '30 SIR case(s): 10 get a Jira issue (10 open and 0 closed created before the installation, 0 created since); 20 left out (5 closed, 15 created before the cut-off 2020-06-15)'
  expect output_has 'Backfill=\{\"since\":\"2020-06-15\"\,\"closed\":false\}'
  expect not_called 'cdk --no-notices deploy'
  expect not_called 'ssm put-parameter'
  expect temp_files_removed
}

test_backfill_closed_brings_old_closed_cases_over_and_is_passed_to_the_stack() {
  sir_cases 0
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --backfill-closed --backfill-since 2020-06-15
  expect exit_code 0
  expect output_has '30 SIR case(s): 15 get a Jira issue (10 open and 5 closed created before the installation, 0 created since); 15 left out (0 closed, 15 created before the cut-off 2020-06-15)'
  expect grep -qF -- 'Backfill=\{\"since\":\"2020-06-15\"\,\"closed\":true\}' <<<"$(deploy_call)"
}

test_without_backfill_flags_the_default_is_counted_and_the_stack_keeps_its_value() {
  sir_cases 0
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect output_has '30 SIR case(s): 20 get a Jira issue (20 open and 0 closed created before the installation, 0 created since); 10 left out (10 closed, 0 created before the cut-off)'
  expect output_has 'backfill: open only'
  expect not_called 'Backfill='
}

test_on_redeployment_one_backfill_flag_keeps_the_other_and_newer_cases_always_count() {
  sir_cases 2
  STUB_ENV+=(STUB_INSTALLED_AT=2020-10-01T00:00:00Z 'STUB_BACKFILL={"since":"2020-06-15","closed":false}')
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --backfill-closed
  expect exit_code 0
  expect called 'ssm get-parameter --name /SecurityIncidentResponse/backfill'
  expect output_has '32 SIR case(s): 17 get a Jira issue (10 open and 5 closed created before the installation, 2 created since); 15 left out'
  expect grep -qF -- 'Backfill=\{\"since\":\"2020-06-15\"\,\"closed\":true\}' <<<"$(deploy_call)"
}

test_sir_that_cannot_be_listed_is_a_warning() {
  STUB_ENV=(STUB_SIR_FAIL=1)
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect output_has 'warning: could not list the SIR cases'
}

test_a_bad_backfill_date_is_refused_before_anything_runs() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --backfill-since 2020-02-30
  expect exit_code 2
  expect output_has '--backfill-since 2020-02-30 is not a date'
  expect no_calls
}

test_jira_sweep_minutes_become_cdk_context_and_are_checked() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-sweep-minutes 0
  expect exit_code 0
  expect grep -qF -- 'jiraSweepMinutes=0' <<<"$(deploy_call)"
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-sweep-minutes often
  expect exit_code 2
  expect output_has '--jira-sweep-minutes must be a whole number'
}

test_audit_settings_become_cdk_context() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --audit-interval-minutes 90 --audits-per-pass 0 --jira-audit-per-run 12
  expect exit_code 0
  expect grep -qF -- 'auditIntervalMinutes=90' <<<"$(deploy_call)"
  expect grep -qF -- 'auditsPerPass=0' <<<"$(deploy_call)"
  expect grep -qF -- 'jiraAuditPerRun=12' <<<"$(deploy_call)"
}

test_audit_settings_left_out_are_not_cdk_context() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect not_called 'auditIntervalMinutes'
  expect not_called 'auditsPerPass'
  expect not_called 'jiraAuditPerRun'
}

test_audit_settings_that_are_not_whole_numbers_are_refused() {
  local flag
  for flag in '--audit-interval-minutes hourly' '--audit-interval-minutes 0' '--audits-per-pass -1' '--jira-audit-per-run 2.5'; do
    with_token_on_stdin
    # shellcheck disable=SC2086 # the flag and its value, split on purpose
    deploy "${DEPLOY_ARGS[@]}" --token - $flag
    expect exit_code 2
    expect output_has "${flag% *} ${flag#* } must be a whole number"
    expect no_calls
  done
}

test_options_become_cdk_context() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --encrypt-topic --reserved-concurrency 0 --memory-mb 256 \
    --alarm-topic-arn arn:aws:sns:eu-west-1:123456789012:ops --reuse-table KeptTable --stack-name SirJira
  expect exit_code 0
  local call
  call=$(grep -F 'cdk --no-notices deploy SirJira' "$STUB_LOG")
  for part in encryptTopic=true reservedConcurrency=0 memoryMb=256 alarmTopicArn=arn:aws:sns:eu-west-1:123456789012:ops \
    existingTableName=KeptTable stackName=SirJira; do
    expect grep -qF -- "$part" <<<"$call"
  done
  expect output_has 'arn:aws:sns:eu-west-1:123456789012:SirJira-JiraAutomationTopic-TEST'
}

test_running_twice_updates_in_place() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect [ "$(grep -c 'ssm put-parameter --name /SecurityIncidentResponse/jiraToken .*--overwrite' "$STUB_LOG")" = 2 ]
  expect [ "$(grep -c 'cdk --no-notices deploy' "$STUB_LOG")" = 2 ]
  # the second run found the CDK dependencies installed
  expect [ "$(grep -c '^npm ci' "$STUB_LOG")" = 1 ]
}

test_a_second_stack_keeps_its_settings_under_its_own_names() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --stack-name SirJiraSecondSite
  expect exit_code 0
  expect in_order 'ssm get-parameter --name /SirJiraSecondSite/installedAt' \
    'ssm put-parameter --name /SirJiraSecondSite/jiraToken --type SecureString --overwrite' \
    'cdk --no-notices deploy SirJiraSecondSite --require-approval never'
  expect called 'stackName=SirJiraSecondSite'
  expect not_called '/SecurityIncidentResponse/'
  expect output_has 'arn:aws:sns:eu-west-1:123456789012:SirJiraSecondSite-JiraAutomationTopic-TEST'
  deploy --destroy --region eu-west-1 --stack-name SirJiraSecondSite
  expect exit_code 0
  expect in_order 'cloudformation delete-stack --stack-name SirJiraSecondSite' \
    'ssm delete-parameter --name /SirJiraSecondSite/jiraToken' \
    'ssm delete-parameter --name /SirJiraSecondSite/jiraTokenExpiresOn'
  expect not_called 'ssm delete-parameter --name /SecurityIncidentResponse/jiraToken'
}

test_a_stack_name_that_would_share_the_default_stacks_names_is_refused() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --stack-name SecurityIncidentResponse
  expect exit_code 2
  expect output_has "would share the default stack's bus or SSM parameters"
  expect no_calls
}

test_the_default_stack_name_is_the_contracts() {
  local contract_default
  contract_default=$(node -e 'process.stdout.write(require(process.argv[1]).defaultStackName)' "$repo/cdk/contract.json")
  expect [ "$contract_default" = "$STACK" ]
  expect grep -qx "DEFAULT_STACK=$contract_default" "$repo/deploy.sh"
}

test_webhook_intake_generates_a_secret_and_registers_the_signed_webhook() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --intake webhook
  expect exit_code 0
  expect called 'ssm get-parameter --name /SecurityIncidentResponse/jiraWebhookSecret --with-decryption'
  expect called 'ssm put-parameter --name /SecurityIncidentResponse/jiraWebhookSecret --type SecureString'
  expect grep -qE '^[0-9a-f]{64}$' "$SANDBOX/stub/ssm-value"
  local secret
  secret=$(cat "$SANDBOX/stub/ssm-value")
  # Never in argv (the call log holds every argument) nor on the terminal.
  expect not_called "$secret"
  expect output_lacks "$secret"
  expect grep -qF -- 'webhookIntake=true' <<<"$(deploy_call)"
  # Jira Automation is no intake: the topic admits no Atlassian publisher
  expect grep -qF -- 'automationIntake=false' <<<"$(deploy_call)"
  # Registered through the administrators' REST API, signed with the same secret, for the project.
  expect called 'webhook-post mode=600'
  expect grep -qF "\"secret\":\"$secret\"" "$SANDBOX/stub/webhook-post.json"
  expect grep -qF '"url":"https://abc123.lambda-url.eu-west-1.on.aws/"' "$SANDBOX/stub/webhook-post.json"
  expect grep -qF '"issue-related-events-section":"project = \"SEC\""' "$SANDBOX/stub/webhook-post.json"
  expect grep -qF '"comment_created"' "$SANDBOX/stub/webhook-post.json"
  expect_not grep -qF 'attachment_' "$SANDBOX/stub/webhook-post.json"
  expect output_has 'registered the Jira webhook (project SEC)'
  expect output_lacks 'SNS topic for Jira Automation'
  expect output_has 'no Jira Automation rule is needed'
}

test_webhook_intake_keeps_the_secret_and_prints_the_steps_when_the_user_may_not_register() {
  with_token_on_stdin
  STUB_ENV=(STUB_WEBHOOK_SECRET=kept-secret-value STUB_JIRA_WEBHOOK_POST=403)
  deploy "${DEPLOY_ARGS[@]}" --token - --intake both
  expect exit_code 0
  expect not_called 'ssm put-parameter --name /SecurityIncidentResponse/jiraWebhookSecret'
  expect output_has 'kept the one in SSM SecureString /SecurityIncidentResponse/jiraWebhookSecret'
  expect grep -qF '"secret":"kept-secret-value"' "$SANDBOX/stub/webhook-post.json"
  expect output_has 'may not register webhooks (HTTP 403)'
  expect output_has 'Settings -> System -> WebHooks'
  expect output_has 'URL:      https://abc123.lambda-url.eu-west-1.on.aws/'
  expect output_has 'aws ssm get-parameter --with-decryption --name /SecurityIncidentResponse/jiraWebhookSecret'
  expect output_lacks 'kept-secret-value'
  # both: the Automation rules too
  expect output_has 'SNS topic for Jira Automation'
  expect not_called 'automationIntake'

  # A webhook to the same URL already there is left as it is.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_WEBHOOK_SECRET=kept-secret-value "STUB_JIRA_WEBHOOKS=[{\"name\":\"SIR\",\"url\":\"https://abc123.lambda-url.eu-west-1.on.aws/\"}]")
  deploy "${DEPLOY_ARGS[@]}" --token - --intake webhook
  expect exit_code 0
  expect output_has 'is registered already'
  expect not_called 'webhook-post'

  # A webhook there already while the secret is new: the secret must be entered in it.
  setup
  with_token_on_stdin
  STUB_ENV=("STUB_JIRA_WEBHOOKS=[{\"name\":\"SIR\",\"url\":\"https://abc123.lambda-url.eu-west-1.on.aws/\"}]")
  deploy "${DEPLOY_ARGS[@]}" --token - --intake webhook
  expect exit_code 0
  expect output_has 'the secret was just generated: enter it in that webhook'
  expect output_has 'Settings -> System -> WebHooks'

  # A kept secret that is not a SecureString stops the deployment.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_WEBHOOK_SECRET=plain STUB_WEBHOOK_SECRET_TYPE=String)
  deploy "${DEPLOY_ARGS[@]}" --token - --intake webhook
  expect exit_code 1
  expect output_has 'is a String, not a SecureString'
  expect not_called 'cdk --no-notices deploy'
}

test_intake_defaults_to_automation_and_is_checked() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect not_called 'jiraWebhookSecret'
  expect not_called 'webhookIntake'
  expect output_has 'SNS topic for Jira Automation'
  setup
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --intake sns
  expect exit_code 2
  expect output_has '--intake sns: use automation, webhook or both'
  expect no_calls
  setup
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --intake webhook --reserved-concurrency 0
  expect exit_code 2
  expect output_has '--intake webhook|both needs a reserved concurrency'
}

test_destroy_keeps_the_table_and_removes_the_token() {
  deploy --destroy --region eu-west-1
  expect exit_code 0
  expect in_order 'cloudformation describe-stacks --stack-name SecurityIncidentResponseJira' \
    'cloudformation delete-stack --stack-name SecurityIncidentResponseJira' \
    'cloudformation wait stack-delete-complete' \
    'ssm delete-parameter --name /SecurityIncidentResponse/jiraToken' \
    'ssm delete-parameter --name /SecurityIncidentResponse/jiraTokenExpiresOn' \
    'ssm delete-parameter --name /SecurityIncidentResponse/jiraWebhookSecret'
  expect not_called 'dynamodb delete-table'
  expect output_has 'kept the mapping table SecurityIncidentResponseJira-MappingTable-TEST'
  expect output_has '--reuse-table SecurityIncidentResponseJira-MappingTable-TEST'
}

test_destroy_with_delete_table_deletes_it_after_the_stack() {
  deploy --destroy --delete-table --region eu-west-1
  expect exit_code 0
  expect in_order 'cloudformation wait stack-delete-complete' \
    'dynamodb update-table --table-name SecurityIncidentResponseJira-MappingTable-TEST --no-deletion-protection-enabled' \
    'dynamodb delete-table --table-name SecurityIncidentResponseJira-MappingTable-TEST'
}

test_destroy_dry_run_deletes_nothing() {
  deploy --destroy --delete-table --dry-run --region eu-west-1
  expect exit_code 0
  expect called 'cloudformation describe-stacks'
  expect not_called 'delete-stack'
  expect not_called 'delete-parameter'
  expect not_called 'delete-table'
  expect output_has 'would run: aws --region eu-west-1 cloudformation delete-stack'
}

test_destroy_of_a_missing_stack_is_reported() {
  STUB_ENV=(STUB_NO_STACK=1)
  deploy --destroy --region eu-west-1
  expect exit_code 1
  expect output_has 'stack SecurityIncidentResponseJira not found in eu-west-1'
  expect not_called 'delete-stack'
}

test_status_of_a_healthy_stack_prints_each_part_and_exits_0() {
  deploy --status --region eu-west-1
  expect exit_code 0
  expect output_has 'Status of stack SecurityIncidentResponseJira in eu-west-1'
  expect output_has 'poller'
  expect output_has '10 min ago'
  expect output_has 'SecurityIncidentResponseJira-poller-schedule: enabled, rate(1 minute)'
  expect output_has 'SecurityIncidentResponseJira-JiraClientRule-TEST: enabled'
  expect output_has 'jira-client: empty'
  expect output_has 'the credentials work'
  expect output_has 'pairs with a sync problem (label sir-sync-problem): none'
  expect output_has 'Nothing needs attention.'
  # The rule on the integration bus is read on its bus; the DLQ is peeked only when not empty.
  expect called 'events describe-rule --name SecurityIncidentResponseJira-JiraClientRule-TEST --event-bus-name security-incident-event-bus'
  expect not_called 'sqs receive-message'
  expect called 'ssm get-parameter --name /SecurityIncidentResponse/jiraToken --with-decryption'
  expect called 'search project = "SEC" AND labels = "sir-sync-problem"'
  # The deployed token reached Jira in the curl config only, never a command line.
  expect grep -qF 'ATATT3xFfGF0-DEPLOYED-token' "$SANDBOX/stub/curl.cfg"
  expect not_called 'ATATT3xFfGF0-DEPLOYED-token'
  # Errors, runs and the DLQ ages of all four functions are asked in one call.
  expect grep -qF '"MetricName":"SuccessfulRuns"' "$SANDBOX/stub/metric-queries.json"
  expect grep -qF '"Value":"SecurityIncidentResponseJira-SirClient-TEST"' "$SANDBOX/stub/metric-queries.json"
  expect grep -qF '"Value":"SecurityIncidentResponseJira-JiraClientDeadLetterQueue-TEST"' "$SANDBOX/stub/metric-queries.json"
  expect temp_files_removed
}

test_status_names_what_needs_attention_and_exits_1() {
  # Two visible, one hidden by a replay under way.
  STUB_ENV=(STUB_DLQ_JIRA_CLIENT=2 STUB_DLQ_HIDDEN=1 STUB_RULE_DISABLED=SirClientRule STUB_JIRA_MYSELF=401
    STUB_LAST_RUN_AGO=7200 STUB_ERRORS=2)
  deploy --status --region eu-west-1
  expect exit_code 1
  expect output_has 'jira-client: 3 message(s), the oldest 3 h old'
  expect output_has 'e.g. CaseUpdated of case 1234567890: Jira answered 400: Field customfield_1 is required'
  expect output_has 'SecurityIncidentResponseJira-SirClientRule-TEST: disabled'
  expect output_has 'Jira refused the credentials (HTTP 401): the token expired or was revoked'
  expect output_has 'Needs attention:'
  expect output_has "3 event(s) in jira-client's dead-letter queue"
  expect output_has './deploy.sh --replay-dlq --function jira-client'
  expect output_has 'the poller has not finished a run for over 15 minutes'
  expect output_has 'jira-notifications-handler failed 4 time(s) in the last hour and succeeded not once'
  expect output_has 'the rule SecurityIncidentResponseJira-SirClientRule-TEST is disabled'
  # A peek leaves the message for the replay.
  expect called 'sqs receive-message --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/SecurityIncidentResponseJira-JiraClientDeadLetterQueue-TEST --max-number-of-messages 1 --visibility-timeout 0'
  expect not_called 'sqs delete-message'

  # Pairs labelled with a sync problem need attention too.
  setup
  STUB_ENV=(STUB_JIRA_PROBLEMS='{"issues":[{"key":"SEC-4"},{"key":"SEC-9"}],"nextPageToken":"x"}')
  deploy --status --region eu-west-1
  expect exit_code 1
  expect output_has 'pairs with a sync problem (label sir-sync-problem): SEC-4, SEC-9 and more'
  expect output_has '2+ pair(s) with a sync problem'
}

test_status_shows_the_days_the_jira_token_has_left_and_a_near_expiry_needs_attention() {
  STUB_ENV=(STUB_TOKEN_EXPIRES="$(days_from_today 120)")
  deploy --status --region eu-west-1
  expect exit_code 0
  expect output_has "the token expires on $(days_from_today 120): 120 day(s) left"
  expect output_has 'Nothing needs attention.'
  setup
  STUB_ENV=(STUB_TOKEN_EXPIRES="$(days_from_today 12)")
  deploy --status --region eu-west-1
  expect exit_code 1
  expect output_has "the Jira token expires in 12 day(s), on $(days_from_today 12): create a new one and run ./deploy.sh again with it (--token - --token-expires YYYY-MM-DD)"
  setup
  STUB_ENV=(STUB_TOKEN_EXPIRES="$(days_from_today -3)")
  deploy --status --region eu-west-1
  expect exit_code 1
  expect output_has "the Jira token expired on $(days_from_today -3)"
  # No date stored (an installation from before this release): said, not an alarm.
  setup
  deploy --status --region eu-west-1
  expect exit_code 0
  expect output_has "the token's expiry date is not known"
}

test_status_on_jira_data_center_asks_rest_api_2_with_the_bearer_token() {
  STUB_ENV=(STUB_JIRA_CLIENT_ENV='{"JIRA_FLAVOR":"data-center","JIRA_AUTH":"token"}' STUB_JIRA_URL=https://jira.example.com/jira)
  deploy --status --region eu-west-1
  expect exit_code 0
  expect called 'https://jira.example.com/jira/rest/api/2/myself'
  expect called 'search project = "SEC" AND labels = "sir-sync-problem"'
  expect grep -qF 'Authorization: Bearer ATATT3xFfGF0-DEPLOYED-token' "$SANDBOX/stub/curl.cfg"
  expect output_has 'signed in as svc-sir'
}

test_status_of_a_missing_stack_fails_clearly_and_takes_no_jira_option() {
  STUB_ENV=(STUB_NO_STACK=1)
  deploy --status --region eu-west-1
  expect exit_code 1
  expect output_has 'stack SecurityIncidentResponseJira not found in eu-west-1'
  setup
  deploy --status --url https://example.atlassian.net --region eu-west-1
  expect exit_code 2
  expect output_has '--status needs no Jira options'
}

test_local_status_asks_the_local_binary_and_prints_its_facts() {
  local_sandbox
  # The local binary answers with the facts of a world whose jira-client dead-lettered one event.
  # shellcheck disable=SC2016
  printf '#!/bin/sh\necho "sir-jira-local $*" >>"$STUB_LOG"\nprintf %%s %s\n' \
    "'{\"target\":\"the local world\",\"now\":1796412600,\"functions\":[{\"crate\":\"poller\",\"name\":\"poller\",\"lastSuccessfulRun\":1796412590,\"errorsLastHour\":0,\"deadLetters\":{\"messages\":0}},{\"crate\":\"jira-client\",\"name\":\"jira-client\",\"lastSuccessfulRun\":null,\"errorsLastHour\":3,\"deadLetters\":{\"messages\":1,\"oldestAgeSeconds\":30,\"sample\":{\"body\":\"{}\",\"attributes\":{\"ErrorMessage\":\"boom\"}}}}],\"rules\":[{\"name\":\"poller-schedule\",\"state\":\"ENABLED\",\"schedule\":\"rate(1 minute)\"}],\"jira\":{\"url\":\"http://127.0.0.1:1\",\"credentials\":{\"status\":200,\"user\":\"bot\"},\"problems\":{\"status\":200,\"keys\":[]}}}'" \
    >"$SANDBOX/repo/target/debug/sir-jira-local"
  deploy --local --status
  expect exit_code 1
  expect called 'sir-jira-local --status'
  expect output_has 'Status of the local world'
  expect output_has 'jira-client: 1 message(s), the oldest 30 s old'
  expect output_has "1 event(s) in jira-client's dead-letter queue"
  expect not_called 'aws '
}

test_replay_dlq_invokes_each_event_again_and_deletes_it_only_after_success() {
  deploy --replay-dlq --region eu-west-1
  expect exit_code 0
  expect output_has 'jira-client: its dead-letter queue'
  expect output_has 'CaseUpdated of case 1234567890, dead-lettered 181 min ago; it failed with: Jira answered 400: Field customfield_1 is required'
  expect output_has 'Jira notification for SEC-12, dead-lettered 10 min ago; it failed with: no error given'
  expect output_has '2 replayed, 0 failed again'
  # Each invoked synchronously (its success is known) with the original event, then deleted.
  expect in_order 'lambda invoke --function-name SecurityIncidentResponseJira-JiraClient-TEST' \
    'sqs delete-message --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/SecurityIncidentResponseJira-JiraClientDeadLetterQueue-TEST --receipt-handle r-eb-1'
  expect not_called '--invocation-type Event'
  expect grep -qF '"detail-type":"CaseUpdated"' "$SANDBOX/stub/invoked-1.json"
  # SNS's envelope (the subscription's redrive) is invoked as the SNS event Lambda gets.
  expect grep -qF '"EventSource":"aws:sns"' "$SANDBOX/stub/invoked-2.json"
  expect grep -qF '"SigningCertUrl":"https://sns.eu-west-1.amazonaws.com/cert.pem"' "$SANDBOX/stub/invoked-2.json"
  expect grep -qF 'IssueId' "$SANDBOX/stub/invoked-2.json"
  expect called 'sqs delete-message --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/SecurityIncidentResponseJira-JiraNotificationsHandlerDeadLetterQueue-TEST --receipt-handle r-sns-1'
  expect temp_files_removed
}

test_replay_dlq_keeps_an_event_that_fails_again_and_exits_1() {
  STUB_ENV=(STUB_INVOKE_FAIL=1 STUB_DLQ_QUEUES=JiraClient)
  deploy --replay-dlq --function jira-client --region eu-west-1
  expect exit_code 1
  expect output_has 'failed again (Unhandled): Jira answered HTTP 503; the message stays in the queue'
  expect output_has '0 replayed, 1 failed again (kept in the queue)'
  expect not_called 'sqs delete-message'
  # Visible again at once for the next look; only the one function's queue was read.
  expect called 'sqs change-message-visibility --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/SecurityIncidentResponseJira-JiraClientDeadLetterQueue-TEST --receipt-handle r-eb-1 --visibility-timeout 0'
  expect not_called 'SirClientDeadLetterQueue'
}

test_replay_dlq_dry_run_lists_without_invoking_or_deleting() {
  STUB_ENV=(STUB_DLQ_MESSAGES=2)
  deploy --replay-dlq --dry-run --region eu-west-1
  expect exit_code 0
  expect output_has '4 dead-lettered event(s); dry run: nothing was invoked or deleted'
  expect not_called 'lambda invoke'
  expect not_called 'sqs delete-message'
  expect called 'sqs change-message-visibility'
  setup
  deploy --replay-dlq --function smtp-relay --region eu-west-1
  expect exit_code 2
  expect output_has '--function smtp-relay: use one of poller jira-client jira-notifications-handler sir-client'
  setup
  deploy --function poller --region eu-west-1
  expect exit_code 2
  expect output_has '--function goes with --replay-dlq'
}

test_local_replay_dlq_asks_the_local_binary() {
  local_sandbox
  deploy --local --replay-dlq --function jira-client --dry-run
  expect exit_code 0
  expect called 'sir-jira-local --replay-dlq --function jira-client --dry-run'
  expect not_called 'aws '
}

test_reconcile_invokes_the_deployed_poller_and_prints_each_pair() {
  deploy --reconcile --region eu-west-1
  expect exit_code 0
  expect in_order "cloudformation describe-stacks --stack-name SecurityIncidentResponseJira --query Stacks\[0\].Outputs\[\?OutputKey==\'PollerFunctionName\'\]" \
    'lambda invoke --function-name SecurityIncidentResponseJira-Poller-TEST'
  expect called "--payload \{\\\"reconcile\\\":\{\\\"dryRun\\\":false\}\}"
  expect output_has 'case 1234567890 <-> issue SEC-7: CaseUpdated (title, status, 2 comment(s)) not applied for 25 min, published 3 time(s); published again'
  expect not_called 'npx '
  expect not_called 'cargo '
  expect temp_files_removed
}

test_reconcile_dry_run_only_lists() {
  deploy --reconcile --dry-run --region eu-west-1
  expect exit_code 0
  expect called "--payload \{\\\"reconcile\\\":\{\\\"dryRun\\\":true\}\}"
  expect output_has 'would be published again'
  expect output_has '1 pending pair(s); dry run: nothing was published'
}

test_reconcile_audit_asks_for_the_audit_and_prints_each_pair() {
  deploy --reconcile --audit --region eu-west-1
  expect exit_code 0
  expect called "--payload \{\\\"reconcile\\\":\{\\\"dryRun\\\":false\\,\\\"audit\\\":true\}\}"
  expect output_has 'case 1234567890 <-> issue SEC-7: CaseUpdated (title, status, 2 comment(s))'
  expect output_has 'case 1234567890 <-> issue SEC-7: audited (jira-client compares the live case with the live issue)'
  expect output_has 'case 2345678901 <-> issue SEC-9: not audited (SIR no longer has the case)'
  expect output_has '2 open pair(s) audited'
  expect output_has '1 more open case(s) beyond the bound of one request: run it again'
}

test_reconcile_audit_dry_run_only_lists_the_pairs() {
  deploy --reconcile --dry-run --audit --region eu-west-1
  expect exit_code 0
  expect called "--payload \{\\\"reconcile\\\":\{\\\"dryRun\\\":true\\,\\\"audit\\\":true\}\}"
  expect output_has 'case 1234567890 <-> issue SEC-7: would be audited'
  expect output_has '2 open pair(s) audited; dry run: nothing was published'
}

test_audit_without_reconcile_is_refused() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --audit
  expect exit_code 2
  expect output_has '--audit goes with --reconcile'
  expect no_calls
}

test_reconcile_says_when_more_are_pending_than_one_request_handles() {
  STUB_ENV=(STUB_RECONCILE_REMAINING=250)
  deploy --reconcile --region eu-west-1
  expect exit_code 0
  expect output_has '250 more pending beyond the bound of one request: run it again'
}

test_reconcile_that_fails_in_lambda_is_reported() {
  STUB_ENV=(STUB_INVOKE_ERROR=1)
  deploy --reconcile --region eu-west-1
  expect exit_code 1
  expect output_has 'the reconcile failed'
}

test_local_reconcile_asks_the_local_binary() {
  local_sandbox
  deploy --local --reconcile --dry-run
  expect exit_code 0
  expect called 'sir-jira-local --reconcile --dry-run'
  expect not_called 'aws '
  deploy --local --reconcile --audit
  expect exit_code 0
  expect called 'sir-jira-local --reconcile --audit'
  expect not_called 'aws '
}

test_reconcile_with_destroy_is_refused() {
  deploy --reconcile --destroy --region eu-west-1
  expect exit_code 2
  expect output_has '--reconcile does not go with --destroy'
  expect no_calls
}

test_delete_table_without_destroy_is_refused() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --delete-table
  expect exit_code 2
  expect output_has '--delete-table only goes with --destroy'
  expect no_calls
}

# ---- Jira Data Center / Server (--jira-flavor, --jira-auth) and the VPC placement ----
DC_ARGS=(--url https://jira.example.com/jira --project-key SEC --region eu-west-1)
DC_INFO='{"baseUrl":"https://jira.example.com/jira","version":"10.3.1","versionNumbers":[10,3,1],"deploymentType":"Server","buildNumber":10030001,"serverTitle":"Jira"}'
# The call line of the first curl to this URL.
curl_call() { grep -F -- "$1" "$STUB_LOG" | grep '^curl ' | head -1; }

test_auto_detects_jira_cloud_from_server_info_asked_without_credentials() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect in_order 'sts get-caller-identity' 'https://example.atlassian.net/rest/api/2/serverInfo' \
    '/rest/api/3/myself' 'ssm put-parameter'
  expect_not grep -qF -- '--config' <<<"$(curl_call /rest/api/2/serverInfo)"
  expect output_has 'Jira Cloud (version 1001.0.0-SNAPSHOT)'
  expect grep -qF -- 'jiraFlavor=cloud' <<<"$(deploy_call)"
  expect_not grep -qF -- 'jiraAuth' <<<"$(deploy_call)"
  expect_not grep -qF -- 'webhookIntake' <<<"$(deploy_call)"
  expect output_has 'SNS topic for Jira Automation'
}

test_auto_detects_jira_data_center_and_deploys_it_with_the_webhook_over_rest_api_2() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --email svc-sir --token -
  expect exit_code 0
  expect_not grep -qF -- '--config' <<<"$(curl_call /rest/api/2/serverInfo)"
  expect output_has 'Jira Data Center / Server 10.3.1 (deploymentType Server)'
  expect output_has 'Jira flavour: data-center (token auth, REST API 2, intake webhook)'
  # Every Jira REST path at the Data Center's base URL (with its context path), REST API 2.
  expect in_order 'https://jira.example.com/jira/rest/api/2/myself' \
    'https://jira.example.com/jira/rest/api/2/project/SEC' \
    "$(printf %q 'https://jira.example.com/jira/rest/api/2/search?jql=')" \
    'https://jira.example.com/jira/rest/webhooks/1.0/webhook'
  expect not_called '/rest/api/3/'
  local call
  call=$(deploy_call)
  for part in jiraFlavor=data-center jiraAuth=token webhookIntake=true JiraEmail=svc-sir \
    'JiraUrl=https://jira.example.com/jira '; do
    expect grep -qF -- "$part" <<<"$call"
  done
  expect called 'ssm put-parameter --name /SecurityIncidentResponse/jiraWebhookSecret'
  expect called 'webhook-post mode=600'
  expect output_has 'registered the Jira webhook (project SEC)'
  expect output_lacks 'SNS topic for Jira Automation'
  expect output_lacks 'Publish to Amazon SNS'
  expect output_has 'Jira Data Center has no Amazon SNS action'
  expect output_has 'Jira personal access token -> SSM SecureString /SecurityIncidentResponse/jiraToken'
  # (the last value written is the webhook secret's: both, the token's expiry date, written
  # "unknown" first, and the REST base, from private files)
  expect [ "$(grep -c 'value-file mode=600' "$STUB_LOG")" = 5 ]
  expect [ "$(cat "$SANDBOX/stub/ssm-value-api-url")" = https://jira.example.com/jira ]
  expect token_nowhere_in_calls
  expect temp_files_removed
}

test_data_center_token_is_a_bearer_header_from_the_private_config_and_names_the_user() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --token -
  expect exit_code 0
  expect called 'config mode=600'
  expect grep -qxF "header = \"Authorization: Bearer $TOKEN\"" "$SANDBOX/stub/curl.cfg"
  expect_not grep -qF 'user =' "$SANDBOX/stub/curl.cfg"
  expect token_nowhere_in_calls
  # No --email: the user the token signs in as (GET /rest/api/2/myself) is the integration user.
  expect output_has 'the personal access token signs in as svc-sir'
  expect grep -qF -- 'JiraEmail=svc-sir' <<<"$(deploy_call)"

  # A given --email must name the token's user (any case).
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --token - --email SVC-SIR
  expect exit_code 0
  expect grep -qF -- 'JiraEmail=SVC-SIR' <<<"$(deploy_call)"
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --token - --email someone-else
  expect exit_code 1
  expect output_has '--email someone-else, but the personal access token signs in as svc-sir: pass --email svc-sir, or leave --email out'
  expect not_called 'put-parameter'
}

test_data_center_basic_auth_sends_the_user_name_and_password_from_the_private_config() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --jira-flavor data-center --jira-auth basic --email svc-sir --token -
  expect exit_code 0
  expect called 'config mode=600'
  expect grep -qxF "user = \"svc-sir:$TOKEN\"" "$SANDBOX/stub/curl.cfg"
  expect_not grep -qF 'Bearer' "$SANDBOX/stub/curl.cfg"
  expect token_nowhere_in_calls
  expect called '/rest/api/2/myself'
  expect grep -qF -- 'jiraAuth=basic' <<<"$(deploy_call)"
  expect grep -qF -- 'jiraFlavor=data-center' <<<"$(deploy_call)"
  expect output_has 'Jira password -> SSM SecureString'
  # basic auth signs in with the user name: it cannot be left out
  setup
  with_token_on_stdin
  deploy "${DC_ARGS[@]}" --jira-flavor data-center --jira-auth basic --token -
  expect exit_code 2
  expect output_has 'missing --email: with --jira-auth basic it is the user name'
  expect no_calls
}

test_data_center_counts_issues_with_search_max_results_0() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --jira-case-filter 'labels = "security" & priority = High'
  expect exit_code 0
  expect called 'dc-count project = "SEC"'
  expect called 'dc-count project = "SEC" AND (labels = "security" & priority = High)'
  # the JQL URL-encoded into the query string (an & in it does not end the parameter)
  expect called "$(printf %q '/rest/api/2/search?jql=project%20%3D%20%22SEC%22%20AND%20(labels%20%3D%20%22security%22%20%26%20priority%20%3D%20High)&maxResults=0')"
  expect not_called 'approximate-count'
  expect output_has 'the case filter matches 3 of the 12 existing issue(s) in SEC'
  # a JQL Jira refuses stops the deployment as on Cloud
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO" STUB_JIRA_BAD_JQL=nonsense)
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --jira-case-filter 'nonsense ='
  expect exit_code 1
  expect output_has 'Error in the JQL Query: nonsense'
  expect not_called 'put-parameter'
}

test_data_center_takes_the_webhook_intake_only() {
  local intake
  for intake in automation both; do
    with_token_on_stdin
    deploy "${DC_ARGS[@]}" --jira-flavor data-center --email svc-sir --token - --intake "$intake"
    expect exit_code 2
    expect output_has "--intake $intake does not go with Jira Data Center: it has no Amazon SNS action"
    expect no_calls
  done
  # Detected: refused once the site has said, before anything is written.
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --intake automation
  expect exit_code 2
  expect output_has '--intake automation does not go with Jira Data Center'
  expect not_called 'put-parameter'
  expect not_called 'cargo lambda build'
  # --intake webhook given explicitly is fine
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO")
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --intake webhook
  expect exit_code 0
  expect grep -qF -- 'webhookIntake=true' <<<"$(deploy_call)"
}

test_data_center_older_than_10_is_refused_as_its_webhook_would_be_unsigned() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO='{"version":"9.12.2","versionNumbers":[9,12,2],"deploymentType":"DataCenter"}')
  deploy "${DC_ARGS[@]}" --email svc-sir --token -
  expect exit_code 1
  expect output_has 'Jira Data Center / Server 9.12.2 (deploymentType DataCenter)'
  expect output_has 'Jira Data Center 9.12.2 cannot sign webhooks (webhook secrets came with Jira 10)'
  expect not_called '/rest/api/2/myself'
  expect not_called 'put-parameter'
  expect not_called 'cdk --no-notices'
}

test_data_center_webhook_steps_for_an_administrator() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO" STUB_JIRA_WEBHOOK_POST=403)
  deploy "${DC_ARGS[@]}" --email svc-sir --token -
  expect exit_code 0
  expect output_has 'svc-sir may not register webhooks (HTTP 403)'
  expect output_has 'Administration (cog) -> System -> WebHooks -> Create a WebHook'
  expect output_has 'Issue: created, updated, deleted; Comment: created, updated, deleted'
  expect output_has 'HTTPS out to *.lambda-url.eu-west-1.on.aws'
  expect output_lacks 'Work item: created'
}

test_data_center_401_and_404_speak_of_the_token_and_the_base_url() {
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO" STUB_JIRA_MYSELF=401)
  deploy "${DC_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'Jira refused the personal access token (HTTP 401)'
  expect output_has 'Personal Access Tokens'
  expect output_lacks 'id.atlassian.com'
  expect not_called 'put-parameter'
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO" STUB_JIRA_MYSELF=401)
  deploy "${DC_ARGS[@]}" --token - --jira-auth basic --email svc-sir --jira-flavor data-center
  expect exit_code 1
  expect output_has 'Jira refused the user name and password (HTTP 401)'
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO="$DC_INFO" STUB_JIRA_MYSELF=404)
  deploy "${DC_ARGS[@]}" --token -
  expect exit_code 1
  expect output_has 'no Jira Data Center REST API at https://jira.example.com/jira (HTTP 404)'
  expect output_has 'with any context path, e.g. https://jira.example.com/jira'
}

test_a_cloud_deployment_goes_on_when_server_info_cannot_be_read() {
  # An Atlassian Cloud host name says Jira Cloud: a proxy or an outage of serverInfo does not
  # stop a deployment that never needed it before.
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO_CODE=000)
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect output_has 'warning: could not read serverInfo'
  expect grep -qF -- 'jiraFlavor=cloud' <<<"$(deploy_call)"
}

test_local_data_center_against_a_real_site_is_refused_before_building() {
  deploy --local --jira-flavor data-center --url https://jira.example.com --email svc --project-key SEC
  expect exit_code 2
  expect output_has 'runs against the Jira emulator only'
  expect not_called 'cargo build'
  # without a flavour, a host that is not Atlassian's may be a Data Center: refused the same way
  setup
  deploy --local --url https://jira.example.com --email svc --project-key SEC
  expect exit_code 2
  expect output_has 'is not an Atlassian Cloud host'
  expect not_called 'cargo build'
}

test_server_info_that_cannot_be_read_asks_for_the_flavour() {
  local code
  for code in 000 404; do
    with_token_on_stdin
    STUB_ENV=(STUB_JIRA_SERVER_INFO_CODE="$code")
    deploy "${DC_ARGS[@]}" --email svc-sir --token -
    expect exit_code 1
    expect output_has 'cannot tell which Jira https://jira.example.com/jira is'
    expect output_has 'pass --jira-flavor cloud or --jira-flavor data-center'
    expect not_called 'put-parameter'
    setup
  done
  # not Jira's JSON (a login page, a proxy's answer)
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO='<html>Sign in</html>')
  deploy "${DC_ARGS[@]}" --email svc-sir --token -
  expect exit_code 1
  expect output_has "its answer is not Jira's JSON serverInfo"
  # With the flavour given, a warning (the version is not checked) and the deployment goes on.
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_JIRA_SERVER_INFO_CODE=404)
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --jira-flavor data-center
  expect exit_code 0
  expect output_has 'warning: could not read serverInfo (HTTP 404); going on with --jira-flavor data-center'
  expect output_has 'the signed webhook needs Jira Data Center 10 or later'
  expect grep -qF -- 'jiraFlavor=data-center' <<<"$(deploy_call)"
}

test_a_given_flavour_the_site_contradicts_is_refused() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-flavor data-center
  expect exit_code 1
  expect output_has '--jira-flavor data-center, but https://example.atlassian.net says it is Jira Cloud (deploymentType Cloud)'
  expect not_called 'put-parameter'
}

test_jira_auth_goes_with_data_center_only() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-auth basic
  expect exit_code 2
  expect output_has '--jira-auth basic goes with Jira Data Center only'
  expect no_calls
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --jira-flavor server
  expect exit_code 2
  expect output_has '--jira-flavor server: use auto, cloud or data-center'
  with_token_on_stdin
  deploy "${DC_ARGS[@]}" --jira-flavor data-center --token - --jira-auth oauth
  expect exit_code 2
  expect output_has '--jira-auth oauth: use token'
  expect no_calls
}

test_skip_jira_check_needs_the_flavour_unless_the_host_is_atlassians() {
  with_token_on_stdin
  deploy "${DC_ARGS[@]}" --email svc-sir --token - --skip-jira-check
  expect exit_code 2
  expect output_has '--skip-jira-check: cannot tell whether https://jira.example.com/jira is Jira Cloud or Jira Data Center'
  expect output_has 'pass --jira-flavor cloud or --jira-flavor data-center'
  expect no_calls
  # Atlassian's hosts are Jira Cloud.
  with_token_on_stdin
  deploy --email bot@example.com --url https://legacy.jira.com --project-key SEC --region eu-west-1 --token - --skip-jira-check
  expect exit_code 0
  expect not_called 'curl '
  expect grep -qF -- 'jiraFlavor=cloud' <<<"$(deploy_call)"
  # Data Center given: no Jira call; the user name is needed (it cannot be read from the token).
  setup
  with_token_on_stdin
  deploy "${DC_ARGS[@]}" --jira-flavor data-center --token - --skip-jira-check
  expect exit_code 2
  expect output_has "missing --email (the integration user's user name): with --skip-jira-check"
  expect no_calls
  with_token_on_stdin
  deploy "${DC_ARGS[@]}" --jira-flavor data-center --email svc-sir --token - --skip-jira-check
  expect exit_code 0
  expect not_called 'curl '
  expect output_has 'version not checked (--skip-jira-check)'
  expect output_has 'Administration (cog) -> System -> WebHooks'
  local call
  call=$(deploy_call)
  for part in jiraFlavor=data-center jiraAuth=token webhookIntake=true JiraEmail=svc-sir; do
    expect grep -qF -- "$part" <<<"$call"
  done
}

test_vpc_placement_is_checked_and_passed_as_context() {
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0,subnet-0fedcba9876543210 \
    --vpc-security-groups sg-0123456789abcdef0
  expect exit_code 0
  expect called 'ec2 describe-subnets --subnet-ids subnet-0123456789abcdef0 subnet-0fedcba9876543210 --query Subnets\[\].VpcId --output text'
  expect called 'ec2 describe-security-groups --group-ids sg-0123456789abcdef0'
  local call
  call=$(deploy_call)
  for part in vpcId=vpc-0123456789abcdef0 vpcSubnetIds=subnet-0123456789abcdef0\\,subnet-0fedcba9876543210 \
    vpcSecurityGroupIds=sg-0123456789abcdef0; do
    expect grep -qF -- "$part" <<<"$call"
  done
  expect output_has 'NAT gateway or VPC endpoints'
  # --vpc-security-group (the singular) is the same option
  setup
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0 --vpc-security-group sg-0123456789abcdef0
  expect exit_code 0
  expect grep -qF -- vpcSecurityGroupIds=sg-0123456789abcdef0 <<<"$(deploy_call)"
  # none by default
  setup
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token -
  expect exit_code 0
  expect not_called 'vpc'
  expect not_called 'ec2 '
}

test_vpc_flags_are_validated() {
  local flags
  for flags in '--vpc-subnets subnet-0123456789abcdef0' '--vpc-security-groups sg-0123456789abcdef0' \
    '--vpc-id vpc-0123456789abcdef0' \
    '--vpc-subnets subnet-xyz --vpc-security-groups sg-0123456789abcdef0' \
    '--vpc-subnets subnet-0123456789abcdef0 --vpc-security-groups default' \
    '--vpc-subnets subnet-0123456789abcdef0 --vpc-security-groups sg-0123456789abcdef0 --vpc-id my-vpc'; do
    with_token_on_stdin
    # shellcheck disable=SC2086 # the flags and their values, split on purpose
    deploy "${DEPLOY_ARGS[@]}" --token - $flags
    expect exit_code 2
    expect no_calls
  done
  expect output_has '--vpc-id my-vpc is not a VPC id'
  # a --vpc-id the subnets are not in; subnets of two VPCs; security groups of another VPC
  with_token_on_stdin
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0 --vpc-security-groups sg-0123456789abcdef0 \
    --vpc-id vpc-0aaaaaaaaaaaaaaaa
  expect exit_code 1
  expect output_has '--vpc-id vpc-0aaaaaaaaaaaaaaaa, but the subnets subnet-0123456789abcdef0 are in vpc-0123456789abcdef0'
  expect not_called 'put-parameter'
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_SUBNET_VPCS=$'vpc-0123456789abcdef0\tvpc-0bbbbbbbbbbbbbbbb')
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0,subnet-0fedcba9876543210 --vpc-security-groups sg-0123456789abcdef0
  expect exit_code 1
  expect output_has 'are not in one VPC (vpc-0123456789abcdef0 vpc-0bbbbbbbbbbbbbbbb)'
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_SECURITY_GROUP_VPCS=vpc-0bbbbbbbbbbbbbbbb)
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0 --vpc-security-groups sg-0123456789abcdef0
  expect exit_code 1
  expect output_has 'the security groups sg-0123456789abcdef0 are not all in vpc-0123456789abcdef0'
  setup
  with_token_on_stdin
  STUB_ENV=(STUB_EC2_FAIL=1)
  deploy "${DEPLOY_ARGS[@]}" --token - --vpc-subnets subnet-0123456789abcdef0 --vpc-security-groups sg-0123456789abcdef0
  expect exit_code 1
  expect output_has 'could not read the subnets subnet-0123456789abcdef0: An error occurred (InvalidSubnetID.NotFound)'
  expect not_called 'put-parameter'
}

test_local_passes_the_data_center_flavour_to_the_local_binary() {
  local_sandbox
  deploy --local --jira-flavor data-center
  expect exit_code 0
  expect called 'sir-jira-local --intake webhook --jira-flavor data-center'
  expect not_called 'aws '
  deploy --local --demo --jira-flavor data-center
  expect exit_code 0
  expect called 'sir-jira-local --demo --intake webhook --jira-flavor data-center'
  # cloud and auto pass nothing
  setup
  local_sandbox
  deploy --local --jira-flavor cloud
  expect exit_code 0
  deploy --local
  expect exit_code 0
  expect not_called '--jira-flavor'
  # the webhook is Data Center's only intake
  setup
  local_sandbox
  deploy --local --jira-flavor data-center --intake automation
  expect exit_code 2
  expect output_has '--intake automation does not go with Jira Data Center'
  expect no_calls
}

# ---------------------------------------------------------------------------------------------
passed=0
failed=0
for test in $(declare -F | awk '{print $3}' | grep "^test_${ONLY:-}"); do
  setup
  (
    set -e
    "$test"
  )
  status=$?
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'ok   %s\n' "$test"
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n' "$test"
    printf '    deploy.sh output:\n'
    sed 's/^/    | /' "$OUT"
    printf '    calls:\n'
    sed 's/^/    | /' "$STUB_LOG"
  fi
  rm -rf "$SANDBOX"
done
printf '\ndeploy.sh tests: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
