#!/usr/bin/env bash
# Deploys the AWS Security Incident Response <-> Jira integration into the current AWS account:
# checks everything it can first, stores the Jira API token as an SSM SecureString (never on a
# command line, never in CloudFormation), builds the four Rust Lambdas with cargo-lambda, deploys
# the CDK stack in cdk/, and prints the SNS topic ARN with the Jira Automation rules to create, or
# registers the signed Jira webhook. Jira Cloud or Jira Data Center (--jira-flavor, found out from
# the site by default). Running it again updates the deployment in place. `./deploy.sh -h` lists
# the options.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CDK_DIR="$ROOT/cdk"
CONTRACT="$CDK_DIR/contract.json"
CARGO_LAMBDA_SPEC='cargo-lambda==1.9.2' # pulls ziglang, the cross-linker for --arm64
LAMBDA_TARGET=aarch64-unknown-linux-gnu
DEFAULT_STACK=SecurityIncidentResponseJira

usage() {
  cat <<'EOF'
Usage:
  ./deploy.sh --local [--demo] [--intake M] [--jira-flavor F]           run it all locally
  ./deploy.sh --email E --url U --token T|- --project-key K [options]   deploy or update
  ./deploy.sh --destroy [--delete-table] [--region R] [--profile P]     remove the stack
  ./deploy.sh --reconcile [--dry-run] [--audit] [--region R] [--profile P]
                                                                        republish unapplied changes
  ./deploy.sh --status [--region R] [--profile P]                        what needs attention
  ./deploy.sh --replay-dlq [--function F] [--dry-run] [--region R]      run dead-lettered events again

Local (no AWS account; moto, the SIR emulator and the Jira emulator on loopback):
  --local               run the whole integration on this machine until Ctrl-C
  --demo                with --local: a scripted walk-through; exit 0 only if every step was
                        seen on the other side in time
  --local --email E --url U --token T|- --project-key K
                        the same against your real Jira site (SIR stays emulated)
  --local --jira-flavor data-center
                        the Jira emulator runs as Jira Data Center (webhook intake)
  --local --reconcile [--dry-run] [--audit]
                        --reconcile against the local world running on this machine
  --local --status      --status of the local world running on this machine
  --local --replay-dlq [--function F] [--dry-run]
                        --replay-dlq in the local world running on this machine

Jira (required to deploy):
  --email E             e-mail of the Jira integration user; on Jira Data Center its user
                        name (optional with a personal access token: read from the token)
  --url U               Jira site, https://<site>.atlassian.net, or the base URL of a Jira
                        Data Center with any context path, e.g. https://jira.example.com/jira
  --token T|-           API token (Jira Data Center: a personal access token, or the password
                        with --jira-auth basic); "-" reads it from standard input. Without
                        --token the JIRA_API_TOKEN variable is used, else it is asked for on a
                        terminal. Prefer "-" or JIRA_API_TOKEN: a token given as T is visible
                        in `ps`. An API token with scopes (or a service account's) works: the
                        site refuses it, so deploy.sh checks it at Atlassian's API gateway and
                        the functions call Jira there; it needs the scopes read:jira-user,
                        read:jira-work and write:jira-work (README "API tokens with scopes")
  --project-key K       key of the Jira project to sync, e.g. SEC
  --token-expires D     the day the token expires, YYYY-MM-DD (Atlassian shows it beside the
                        token at id.atlassian.com; API tokens live at most a year), or never
                        (Jira Data Center: a token without expiry, or a password). Stored
                        beside the token: the functions write the days left as a metric, the
                        stack alarms 30 and 7 days before, --status shows them. Without it:
                        kept when the token is the one deployed, else asked for on a terminal

Jira Data Center 10+ (see README "Jira Data Center / Server"):
  --jira-flavor F       auto (default: the site's /rest/api/2/serverInfo says; with
                        --skip-jira-check only *.atlassian.net and *.jira.com are known),
                        cloud or data-center. Data Center takes the webhook intake only, and
                        Jira 10 or later (the webhook must be signed)
  --jira-auth A         with data-center: token (personal access token, the default) or basic
                        (--email is the user name, --token its password)
  --vpc-subnets S,S     run jira-client, jira-notifications-handler and sir-client in these
                        subnets (a Jira on a private network); the subnets then need a NAT
                        gateway or VPC endpoints for SSM, DynamoDB, EventBridge and SIR
  --vpc-security-groups G,G
                        security groups of those functions (with --vpc-subnets; HTTPS out);
                        --vpc-security-group G is the same option
  --vpc-id V            the subnets' VPC (default: read from the subnets)

Options:
  --log-level L         info (default), debug, warn, error or trace
  --issue-type T        issue type of the issues created for SIR cases (default Task; kept
                        from the last deployment when not given)
  --region R            AWS region (default: the profile's or AWS_REGION)
  --profile P           AWS CLI profile
  --status-mapping F    JSON file with the status mapping (see README "Configuration")
  --field-mapping F     JSON file with the field mapping: {"sirToJira":…,"onCreate":…,
                        "onTransition":…,"jiraToSir":…} (see README "Field mapping"); each Jira field it
                        names is checked against the site. Either mapping given alone keeps the
                        other as deployed.
  --jira-case-filter Q  JQL deciding which Jira issues not linked to a case may create one
                        (default: issues created after the first installation, whose time
                        deploy.sh records once); '' or 'default' goes back to the default;
                        kept from the last deployment when not given
  --jira-sweep-minutes N
                        how often the Jira sweep looks for updated issues (default 2;
                        0 = no sweep, Jira Automation only)
  --audit-interval-minutes N
                        minutes between two audits of an open linked pair by the poller
                        (compare the live case with the live issue), and between the starts
                        of two rounds of the Jira sweep's audit over the open issues
                        (default 60)
  --audits-per-pass N   the most pairs one poller schedule pass audits (default 5; 0 = no
                        scheduled audit)
  --jira-audit-per-run N
                        open issues each Jira sweep run audits while a round is under way
                        (default 5; 0 = no audit)
  --backfill-since D    SIR cases created before the first installation get a Jira issue only
                        if created on or after the date D (YYYY-MM-DD, UTC); '' = any date.
                        Cases created after the installation always do.
  --backfill-closed     SIR cases created before the first installation get a Jira issue even
                        when closed (default: open ones only). Either flag keeps the other's
                        value from the last deployment; the counts are printed first
  --skip-jira-check     do not check the Jira credentials and project before deploying
  --intake M            how Jira tells the integration about changes: automation (default on
                        Jira Cloud: Jira Automation rules publish to the SNS topic), webhook
                        (a Jira webhook signed with a secret deploy.sh generates calls a
                        function URL; uses no Automation rule runs; the default and only
                        intake on Jira Data Center) or both (see README "Intake")
  --encrypt-topic       encrypt the Jira Automation SNS topic with a customer managed KMS key
                        (see README "Security notes" before using it)
  --alarm-topic-arn A   SNS topic the CloudWatch alarms notify
  --reserved-concurrency N
                        reserved concurrency of jira-client and sir-client (default 5;
                        jira-notifications-handler gets 2, or N if smaller; 0 = none)
  --memory-mb N         memory of each function in MB (default 128, Lambda's minimum;
                        attachments are streamed, see BENCHMARKS.md)
  --reuse-table NAME    use the mapping table kept by an earlier --destroy
  --stack-name S        CloudFormation stack name (default SecurityIncidentResponseJira); a
                        second stack with another name (another Jira site or project) gets
                        its own bus and SSM parameters /S/..., so both run side by side
  --dry-run             validate, build and synthesize, then print the AWS commands that
                        would run, changing nothing in AWS (with --reconcile or --replay-dlq:
                        only list)
  --destroy             delete the stack and the token parameter; the mapping table is kept
  --reconcile           list, pair by pair, every change published but not applied yet (its
                        event failed or is in a dead-letter queue) and publish each again;
                        with --dry-run only list them
  --audit               with --reconcile: audit every open linked pair too (longest unaudited
                        first, within the bound of one request), fixing what differs; with
                        --dry-run only list the pairs
  --status              print each function's last successful run and errors in the last hour,
                        the rules' states, the dead-letter queues (depth, oldest message, its
                        error), the pairs labelled with a sync problem and whether the Jira
                        credentials still work; exit 1 when something needs attention (cron, CI)
  --replay-dlq          for each event in the functions' dead-letter queues: print what it is
                        (function, event type, case/issue, the error it failed with), invoke
                        the function with it again (every handler re-reads the source, so an
                        old event is safe) and delete it only once the function succeeded;
                        exit 1 if any failed again (kept in the queue)
  --function F          with --replay-dlq: only F's queue (poller, jira-client,
                        jira-notifications-handler or sir-client)
  --delete-table        with --destroy: delete the mapping table too (irreversible)
  -h, --help            this help

See README.md, "Deploying to AWS", for prerequisites, costs and the Jira Automation rules.
EOF
}

fail() { # usage or input error
  printf 'deploy.sh: %s\n' "$*" >&2
  printf "Run './deploy.sh -h' for the options.\n" >&2
  exit 2
}
die() { # a check or a step failed
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}
say() { printf '==> %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
mode=deploy
email='' url='' token_arg='' project_key='' log_level=info issue_type=''
token_expires='' token_expires_given=false
region='' profile='' status_mapping_file='' field_mapping_file='' alarm_topic_arn='' reserved_concurrency='' memory_mb=''
jira_case_filter='' jira_case_filter_given=false jira_sweep_minutes=''
backfill_since='' backfill_since_given=false backfill_closed_given=false
reuse_table='' stack_name=$DEFAULT_STACK
dry_run=false skip_jira_check=false encrypt_topic=false delete_table=false demo=false
reconcile=false audit=false status_wanted=false replay_wanted=false replay_function=''
audit_interval_minutes='' audits_per_pass='' jira_audit_per_run=''
intake='' # automation on Jira Cloud, webhook on Jira Data Center, unless given
jira_flavor=auto jira_auth='' flavor_given=false
vpc_subnets='' vpc_security_groups='' vpc_id=''

parse_args() {
  while [ $# -gt 0 ]; do
    local arg=$1
    # --flag=value is the same as --flag value
    if [[ $arg == --*=* ]]; then
      set -- "${arg%%=*}" "${arg#*=}" "${@:2}"
      arg=$1
    fi
    case $arg in
      -h | --help) usage; exit 0 ;;
      --dry-run) dry_run=true; shift; continue ;;
      --destroy) mode=destroy; shift; continue ;;
      --delete-table) delete_table=true; shift; continue ;;
      --skip-jira-check) skip_jira_check=true; shift; continue ;;
      --encrypt-topic) encrypt_topic=true; shift; continue ;;
      --backfill-closed) backfill_closed_given=true; shift; continue ;;
      --local) mode=local; shift; continue ;;
      --demo) demo=true; shift; continue ;;
      --reconcile) reconcile=true; shift; continue ;;
      --status) status_wanted=true; shift; continue ;;
      --replay-dlq) replay_wanted=true; shift; continue ;;
      --audit) audit=true; shift; continue ;;
    esac
    case $arg in
      --email | --url | --token | --token-expires | --project-key | --log-level | --issue-type | --region | \
        --profile | --status-mapping | --field-mapping | --alarm-topic-arn | --reserved-concurrency | --memory-mb | \
        --reuse-table | --stack-name | --jira-case-filter | --jira-sweep-minutes | \
        --backfill-since | --audit-interval-minutes | --audits-per-pass | --jira-audit-per-run | \
        --intake | --jira-flavor | --jira-auth | --vpc-subnets | --vpc-security-groups | --vpc-security-group | --vpc-id | \
        --function) ;;
      *) fail "unknown option: $arg" ;;
    esac
    [ $# -ge 2 ] || fail "$arg needs a value"
    local value=$2
    case $arg in
      --email) email=$value ;;
      --url) url=$value ;;
      --token) token_arg=$value ;;
      --token-expires) token_expires=$value token_expires_given=true ;;
      --project-key) project_key=$value ;;
      --log-level) log_level=$value ;;
      --issue-type) issue_type=$value ;;
      --region) region=$value ;;
      --profile) profile=$value ;;
      --status-mapping) status_mapping_file=$value ;;
      --field-mapping) field_mapping_file=$value ;;
      --alarm-topic-arn) alarm_topic_arn=$value ;;
      --reserved-concurrency) reserved_concurrency=$value ;;
      --memory-mb) memory_mb=$value ;;
      --reuse-table) reuse_table=$value ;;
      --stack-name) stack_name=$value ;;
      --intake) intake=$value ;;
      --jira-flavor) jira_flavor=$value ;;
      --jira-auth) jira_auth=$value ;;
      --vpc-subnets) vpc_subnets=$value ;;
      --vpc-security-groups | --vpc-security-group) vpc_security_groups=$value ;;
      --vpc-id) vpc_id=$value ;;
      --function) replay_function=$value ;;
      --jira-case-filter) jira_case_filter=$value jira_case_filter_given=true ;;
      --jira-sweep-minutes) jira_sweep_minutes=$value ;;
      --backfill-since) backfill_since=$value backfill_since_given=true ;;
      --audit-interval-minutes) audit_interval_minutes=$value ;;
      --audits-per-pass) audits_per_pass=$value ;;
      --jira-audit-per-run) jira_audit_per_run=$value ;;
    esac
    shift 2
  done
}

# What --token holds, as the flavour calls it (auto: not known yet).
token_label() {
  case $jira_flavor:${jira_auth:-token} in
    data-center:basic) printf 'Jira password' ;;
    data-center:token) printf 'Jira personal access token' ;;
    *) printf 'Jira API token' ;;
  esac
}

JIRA_TOKEN=''
TOKEN_UNCHANGED=false # settle_token_expiry found the token deployed already (and kept its date)
read_token() {
  local label
  label=$(token_label)
  if [ "$token_arg" = - ] && [ -t 0 ]; then
    IFS= read -rsp "$label: " JIRA_TOKEN || true
    printf '\n' >&2
  elif [ "$token_arg" = - ]; then
    IFS= read -r JIRA_TOKEN || true
  elif [ -n "$token_arg" ]; then
    JIRA_TOKEN=$token_arg
  elif [ -n "${JIRA_API_TOKEN:-}" ]; then
    JIRA_TOKEN=$JIRA_API_TOKEN
  elif [ -t 0 ]; then
    IFS= read -rsp "$label: " JIRA_TOKEN || true
    printf '\n' >&2
  fi
  # Child processes (aws, cdk, cargo, curl) never see it, not even in their environment.
  unset JIRA_API_TOKEN token_arg
  JIRA_TOKEN=${JIRA_TOKEN%$'\r'}
  [ -n "$JIRA_TOKEN" ] ||
    fail 'missing Jira API token (on Jira Data Center: the personal access token, or the password with --jira-auth basic): pass --token - (reads standard input), set JIRA_API_TOKEN, or --token TOKEN'
  if [ "$jira_auth" = basic ]; then
    # A password may hold spaces, not at either end (the functions trim it) nor a line break.
    [[ $JIRA_TOKEN != *$'\n'* && $JIRA_TOKEN != [[:space:]]* && $JIRA_TOKEN != *[[:space:]] ]] ||
      fail 'the Jira password starts or ends with white space: check what was pasted'
  else
    case $JIRA_TOKEN in
      *[[:space:]]*) fail "the $(token_label) contains white space: check what was pasted" ;;
    esac
  fi
}

# Days from today (UTC) to the day $1 (YYYY-MM-DD, a real calendar day); fails for anything else.
days_until() {
  # shellcheck disable=SC2016 # a JavaScript template literal
  node -e '
    const d = process.argv[1];
    if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) process.exit(1);
    const t = Date.parse(`${d}T00:00:00Z`);
    if (!Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== d) process.exit(1);
    process.stdout.write(String(t / 86400000 - Math.floor(Date.now() / 86400000)));' -- "$1"
}

# Checks an expiry date (--token-expires or the answer on the terminal): a day not passed yet,
# within a year on Jira Cloud (where API tokens always expire); never only off Cloud.
check_token_expiry() {
  local given=$1 days
  if [ "$given" = never ]; then
    [ "$jira_flavor" != cloud ] ||
      fail '--token-expires never: Atlassian API tokens expire (at most a year after they are created); give the date id.atlassian.com shows beside the token'
    return 0
  fi
  days=$(days_until "$given") || fail "--token-expires $given: not a date (YYYY-MM-DD)"
  [ "$days" -ge 0 ] ||
    fail "--token-expires $given: that day has passed, the token no longer works: create a new one and pass it with its expiry date"
  if [ "$jira_flavor" = cloud ] && [ "$days" -gt 366 ]; then
    fail "--token-expires $given: more than a year ahead, and Atlassian API tokens expire at most a year after they are created: check the date"
  fi
}

# The token's expiry date to store beside it: --token-expires; else the stored one when the token
# is the one deployed (read back from SSM and compared in node, through standard input, never
# argv); else asked for on a terminal; else "unknown" (no alarm before it expires).
settle_token_expiry() {
  TOKEN_UNCHANGED=false
  if $token_expires_given; then
    check_token_expiry "$token_expires"
    return 0
  fi
  local prefix kept=''
  prefix=$(parameter_prefix)
  if aws_cli ssm get-parameters --names "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraToken')" \
    "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraTokenExpiresOn')" --with-decryption \
    --query 'Parameters[].[Name,Value]' --output json >"$WORK/stored.json" 2>"$WORK/ssm.err"; then
    kept=$(printf '%s' "$JIRA_TOKEN" | node -e '
      const fs = require("fs");
      const token = fs.readFileSync(0, "utf8");
      const stored = JSON.parse(fs.readFileSync(process.argv[1], "utf8") || "[]") || [];
      const value = (leaf) => ((stored.find((p) => String(p[0]).endsWith("/" + leaf)) || [])[1]);
      const expiry = value(process.argv[3]);
      if (value(process.argv[2]) === token && expiry && expiry !== "unknown") process.stdout.write(expiry);' \
      "$WORK/stored.json" "$(json_get "$CONTRACT" 'j.parameters.jiraToken')" "$(json_get "$CONTRACT" 'j.parameters.jiraTokenExpiresOn')") || kept=''
  else
    printf '    warning: could not read the deployed token to compare it (%s): its expiry date is not kept\n' "$(tr -s '\n' ' ' <"$WORK/ssm.err")"
  fi
  rm -f "$WORK/stored.json" "$WORK/ssm.err"
  local days=''
  if [ "$kept" = never ] && [ "$jira_flavor" != cloud ]; then
    days=never
  elif [ -n "$kept" ]; then
    days=$(days_until "$kept") || days=''
  fi
  if [ -n "$days" ]; then
    token_expires=$kept TOKEN_UNCHANGED=true
    printf '    the token is the one deployed: its expiry date (%s) is kept\n' "$token_expires"
    if [ "$days" != never ] && [ "$days" -le 30 ]; then
      printf '    warning: the %s expires in %s day(s): create a new one and deploy it with --token - --token-expires YYYY-MM-DD\n' "$(token_label)" "$days"
    fi
    return 0
  fi
  if [ -t 0 ] && [ -t 2 ]; then
    local answer=''
    IFS= read -rp "When does the $(token_label) expire? YYYY-MM-DD$([ "$jira_flavor" = cloud ] && printf ' (id.atlassian.com shows it beside the token)' || printf ', or never'); Enter if not known: " answer || true
    if [ -n "$answer" ]; then
      check_token_expiry "$answer"
      token_expires=$answer
      return 0
    fi
  fi
  token_expires=unknown
  printf '    warning: the expiry date of the %s is not known: no alarm will warn before it expires (pass --token-expires YYYY-MM-DD)\n' "$(token_label)"
}

# The host of --url, lower case (no port, no path).
url_host() {
  local host=${url#https://}
  host=${host%%/*}
  host=${host%%:*}
  printf '%s' "$host" | tr '[:upper:]' '[:lower:]'
}

# Atlassian's own Jira Cloud host names (a Cloud site on a custom domain is found by serverInfo).
is_cloud_host() {
  case $(url_host) in
    *.atlassian.net | *.jira.com) return 0 ;;
    *) return 1 ;;
  esac
}

validate_deploy_args() {
  case $jira_flavor in
    auto) ;;
    cloud | data-center) flavor_given=true ;;
    *) fail "--jira-flavor $jira_flavor: use auto, cloud or data-center" ;;
  esac
  case $jira_auth in
    '' | token | basic) ;;
    *) fail "--jira-auth $jira_auth: use token (a personal access token) or basic (user name and password)" ;;
  esac
  [ -n "$url" ] || fail 'missing --url (https://<site>.atlassian.net, or the base URL of a Jira Data Center)'
  url=${url%/}
  [[ $url =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^[:space:]]*)?$ ]] ||
    fail "--url $url must be an https:// URL of the Jira site, e.g. https://example.atlassian.net or https://jira.example.com/jira"
  if [ "$jira_flavor" = auto ]; then
    # Atlassian's Cloud hosts are Cloud (serverInfo still confirms it unless --skip-jira-check);
    # any other host is asked, which --skip-jira-check forbids.
    if is_cloud_host; then
      jira_flavor=cloud
    elif $skip_jira_check; then
      fail "--skip-jira-check: cannot tell whether $url is Jira Cloud or Jira Data Center without asking it; pass --jira-flavor cloud or --jira-flavor data-center"
    fi
  fi
  ! $token_expires_given || check_token_expiry "$token_expires"
  [ -n "$project_key" ] || fail 'missing --project-key (e.g. SEC)'
  [[ $project_key =~ ^[A-Z][A-Z0-9_]+$ ]] ||
    fail "--project-key $project_key is not a Jira project key (upper-case letter, then upper-case letters, digits or _)"
  case $log_level in
    trace | debug | info | warn | error) ;;
    *) fail "--log-level $log_level: use info, debug, warn, error or trace" ;;
  esac
  case $intake in
    '' | automation | webhook | both) ;;
    *) fail "--intake $intake: use automation, webhook or both" ;;
  esac
  validate_vpc_args
  [[ $issue_type != *$'\n'* ]] || fail '--issue-type must be one line'
  if [ -n "$status_mapping_file" ]; then
    [ -r "$status_mapping_file" ] || fail "--status-mapping $status_mapping_file: cannot read the file"
  fi
  if [ -n "$field_mapping_file" ]; then
    [ -r "$field_mapping_file" ] || fail "--field-mapping $field_mapping_file: cannot read the file"
  fi
  if [ -n "$alarm_topic_arn" ]; then
    [[ $alarm_topic_arn =~ ^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$ ]] ||
      fail "--alarm-topic-arn $alarm_topic_arn is not an SNS topic ARN"
  fi
  if [ -n "$reserved_concurrency" ]; then
    [[ $reserved_concurrency =~ ^[0-9]+$ ]] || fail '--reserved-concurrency must be a whole number'
  fi
  if [ -n "$memory_mb" ]; then
    [[ $memory_mb =~ ^[0-9]+$ ]] && [ "$memory_mb" -ge 128 ] && [ "$memory_mb" -le 10240 ] ||
      fail '--memory-mb must be a whole number from 128 to 10240'
  fi
  if [ -n "$reuse_table" ]; then
    [[ $reuse_table =~ ^[A-Za-z0-9_.-]{3,255}$ ]] || fail "--reuse-table $reuse_table is not a DynamoDB table name"
  fi
  if [ -n "$jira_sweep_minutes" ]; then
    [[ $jira_sweep_minutes =~ ^[0-9]+$ ]] && [ "$jira_sweep_minutes" -le 1440 ] ||
      fail '--jira-sweep-minutes must be a whole number of minutes from 0 (no sweep) to 1440'
  fi
  if [ -n "$audit_interval_minutes" ]; then
    [[ $audit_interval_minutes =~ ^[0-9]+$ ]] && [ "$audit_interval_minutes" -ge 1 ] ||
      fail "--audit-interval-minutes $audit_interval_minutes must be a whole number of minutes, 1 or more"
  fi
  if [ -n "$audits_per_pass" ]; then
    [[ $audits_per_pass =~ ^[0-9]+$ ]] ||
      fail "--audits-per-pass $audits_per_pass must be a whole number (0 = no scheduled audit)"
  fi
  if [ -n "$jira_audit_per_run" ]; then
    [[ $jira_audit_per_run =~ ^[0-9]+$ ]] ||
      fail "--jira-audit-per-run $jira_audit_per_run must be a whole number (0 = no audit)"
  fi
  if [ -n "$backfill_since" ]; then
    if ! [[ $backfill_since =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
      ! node -e 'const d = process.argv[1]; process.exit(new Date(d + "T00:00:00Z").toISOString().startsWith(d) ? 0 : 1)' "$backfill_since" 2>/dev/null; then
      fail "--backfill-since $backfill_since is not a date like 2026-01-31"
    fi
  fi
  [ -n "$jira_case_filter" ] || jira_case_filter=$(json_get "$CONTRACT" 'j.parameters.caseFilterDefault')
  [[ $jira_case_filter != *$'\n'* ]] || fail '--jira-case-filter must be one line'
  [ "${#jira_case_filter}" -le 2000 ] || fail '--jira-case-filter is over 2000 characters'
  $delete_table && fail '--delete-table only goes with --destroy'
  # The flavour known (given, or an Atlassian host): what depends on it is checked now, before
  # anything runs; otherwise once the site has said (detect_jira_flavor).
  [ "$jira_flavor" = auto ] || settle_jira_flavor
  return 0
}

validate_vpc_args() {
  vpc_subnets=${vpc_subnets// /} vpc_security_groups=${vpc_security_groups// /}
  [ -n "$vpc_subnets$vpc_security_groups$vpc_id" ] || return 0
  [ -n "$vpc_subnets" ] && [ -n "$vpc_security_groups" ] ||
    fail '--vpc-subnets and --vpc-security-groups go together (--vpc-id only with them)'
  [[ $vpc_subnets =~ ^subnet-[0-9a-f]{8,17}(,subnet-[0-9a-f]{8,17})*$ ]] ||
    fail "--vpc-subnets $vpc_subnets: give subnet ids separated by commas, e.g. subnet-0123456789abcdef0,subnet-0fedcba9876543210"
  [[ $vpc_security_groups =~ ^sg-[0-9a-f]{8,17}(,sg-[0-9a-f]{8,17})*$ ]] ||
    fail "--vpc-security-groups $vpc_security_groups: give security group ids separated by commas, e.g. sg-0123456789abcdef0"
  [ -z "$vpc_id" ] || [[ $vpc_id =~ ^vpc-[0-9a-f]{8,17}$ ]] || fail "--vpc-id $vpc_id is not a VPC id (vpc-…)"
}

# Once the flavour is known: the REST API version, the intake, the user, and the flags that go
# with one flavour only. An error here is a usage error (exit 2), before anything is changed.
JIRA_API=3
FLAVOR_SETTLED=false
settle_jira_flavor() {
  FLAVOR_SETTLED=true
  case $jira_flavor in
    cloud)
      JIRA_API=3
      [ -z "$jira_auth" ] ||
        fail "--jira-auth $jira_auth goes with Jira Data Center only: Jira Cloud signs in with the user's e-mail and an API token"
      [ -n "$intake" ] || intake=automation
      [ -n "$email" ] || fail 'missing --email (the Jira integration user)'
      [[ $email =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]] ||
        fail "--email $email is not an e-mail address (Jira Data Center takes a user name: pass --jira-flavor data-center)"
      ;;
    data-center)
      JIRA_API=2
      [ -n "$jira_auth" ] || jira_auth=token
      case $intake in
        '' | webhook) intake=webhook ;;
        *) fail "--intake $intake does not go with Jira Data Center: it has no Amazon SNS action for Jira Automation to publish with; its intake is the signed Jira webhook (--intake webhook, the default there)" ;;
      esac
      if [ -n "$email" ]; then
        [[ $email != *$'\n'* && $email != [[:space:]]* && $email != *[[:space:]] ]] ||
          fail "--email '$email': a Jira Data Center user name has no white space at either end"
        [ "$jira_auth" = token ] || [[ $email != *:* ]] ||
          fail "--email $email: with --jira-auth basic the user name cannot hold a colon"
      elif [ "$jira_auth" = basic ]; then
        fail 'missing --email: with --jira-auth basic it is the user name Jira Data Center signs in with'
      elif $skip_jira_check; then
        fail "missing --email (the integration user's user name): with --skip-jira-check it cannot be read from the personal access token"
      fi
      ;;
  esac
  if [ "$intake" != automation ] && [ "$reserved_concurrency" = 0 ]; then
    fail '--intake webhook|both needs a reserved concurrency (the function URL is public: it bounds what a flood of requests can run)'
  fi
  return 0
}

validate_common_args() {
  if [ -n "$region" ]; then
    [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || fail "--region $region is not an AWS region name"
  fi
  [[ $stack_name =~ ^[A-Za-z][A-Za-z0-9-]{0,100}$ ]] || fail "--stack-name $stack_name is not a stack name"
  if [ "$stack_name" != "$DEFAULT_STACK" ] && command -v node >/dev/null 2>&1; then
    # A name whose derived bus or SSM prefix is the default stack's would take over its token.
    local clash
    clash=$(json_get "$CONTRACT" '[j.parameters.prefixOfOtherStacks, j.eventBus.nameOfOtherStacks].map(p => p.split("{stackName}").join(arg)).some(n => n === j.parameters.defaultPrefix || n === j.eventBus.name) ? "clash" : ""' "$stack_name")
    [ -z "$clash" ] || fail "--stack-name $stack_name would share the default stack's bus or SSM parameters; choose another name"
  fi
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
WORK=''
cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
make_workdir() {
  umask 077 # every file below (token, curl config, outputs) is readable by this user only
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/sir-jira-deploy.XXXXXX")
}

aws_opts=()
aws_cli() { aws "${aws_opts[@]}" "$@"; }

shown() { # a command line as it would be typed
  local out='' arg
  for arg in "$@"; do out+=" $(printf '%q' "$arg")"; done
  printf '%s' "${out# }"
}

# Runs a command that changes something in AWS, or only shows it with --dry-run.
mutate() {
  if $dry_run; then
    printf '    would run: %s\n' "$(shown "$@")"
  else
    "$@"
  fi
}

json_get() { # json_get FILE EXPRESSION [ARG]: prints the value of a JavaScript expression over `j` (and `arg`)
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const arg = process.argv[3]; const v = eval(process.argv[2]); process.stdout.write(v === undefined || v === null ? "" : String(v));' "$1" "$2" "${3-}"
}

crates() { json_get "$CONTRACT" 'Object.values(j.functions).map(f => f.crate).join(" ")'; }
# The stack's SSM prefix, as cdk/lib/contract.ts stackNames derives it: the default stack keeps
# the contract's, any other stack's comes from its name (so stacks live side by side).
parameter_prefix() {
  json_get "$CONTRACT" 'arg === j.defaultStackName ? j.parameters.defaultPrefix : j.parameters.prefixOfOtherStacks.split("{stackName}").join(arg)' "$stack_name"
}

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

check_node() {
  need node 'install Node.js 20 or later (https://nodejs.org), it runs the CDK'
  need npm 'install npm (it comes with Node.js)'
  need npx 'install npm (it comes with Node.js)'
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "Node.js $(node --version) is too old: the CDK needs Node.js 20 or later"
}

check_aws_cli() {
  need aws 'install the AWS CLI (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)'
  [ -z "$profile" ] || aws_opts+=(--profile "$profile")
  if [ -z "$region" ]; then
    region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
    # (the ${a[@]+...} form keeps an empty array safe under set -u in bash 3.2, macOS's bash)
    [ -n "$region" ] || region=$(aws ${aws_opts[@]+"${aws_opts[@]}"} configure get region 2>/dev/null || true)
  fi
  [ -n "$region" ] ||
    die 'no AWS region: pass --region (the region of your Security Incident Response membership)'
  aws_opts+=(--region "$region")
  # The CDK CLI and anything else started below use the same account and region.
  export AWS_REGION=$region AWS_DEFAULT_REGION=$region
  [ -z "$profile" ] || export AWS_PROFILE=$profile
}

ACCOUNT=''
check_credentials() {
  say "AWS credentials (aws sts get-caller-identity)"
  if ! ACCOUNT=$(aws_cli sts get-caller-identity --query Account --output text 2>"$WORK/sts.err"); then
    if $dry_run; then
      printf '    warning: no usable AWS credentials (%s); continuing the dry run\n' "$(tr -s '\n' ' ' <"$WORK/sts.err")"
      ACCOUNT='<account>'
      return 0
    fi
    die "no usable AWS credentials: $(tr -s '\n' ' ' <"$WORK/sts.err")(configure them with 'aws configure' or --profile)"
  fi
  printf '    account %s, region %s\n' "$ACCOUNT" "$region"
}

check_build_tools() {
  need cargo 'install Rust 1.94.1 or later (https://rustup.rs)'
  if ! cargo lambda --version >/dev/null 2>&1; then
    say "installing $CARGO_LAMBDA_SPEC into $ROOT/.venv (cargo lambda was not found)"
    need python3 'install Python 3.9 or later (cargo-lambda is installed from PyPI into .venv)'
    [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv" ||
      die "cannot create $ROOT/.venv (on Debian/Ubuntu: apt-get install python3-venv)"
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "$CARGO_LAMBDA_SPEC" ||
      die "pip could not install $CARGO_LAMBDA_SPEC"
  fi
  # cargo-lambda from the venv, and the venv's python, which runs zig (the ziglang package).
  if [ -d "$ROOT/.venv/bin" ]; then PATH="$ROOT/.venv/bin:$PATH"; fi
  cargo lambda --version >/dev/null 2>&1 || die 'cargo lambda does not run after installing it'
  if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$LAMBDA_TARGET"; then
      say "adding the Rust target $LAMBDA_TARGET (rustup target add)"
      rustup target add "$LAMBDA_TARGET" || die "rustup could not add $LAMBDA_TARGET"
    fi
  fi
}

# GET a Jira REST path with the credentials from a 0600 curl config file (never on the command
# line); prints the HTTP status (000 when Jira could not be reached).
jira_get() {
  curl --silent --show-error --max-time 30 --config "$WORK/curl.cfg" \
    --header 'Accept: application/json' --output "$WORK/jira.json" --write-out '%{http_code}' \
    "${api_base:-$url}$1" 2>"$WORK/curl.err" || true
}

# Where the Jira REST calls go: the site, or Atlassian's API gateway for it
# (https://api.atlassian.com/ex/jira/<cloud id>), which an API token with scopes needs. Set by
# check_jira on Jira Cloud when the site refuses the token and the gateway takes it.
api_base=''

# The classic scopes an API token with scopes needs (cdk/contract.json jiraTokenScopes).
scopes_needed() { json_get "$CONTRACT" 'j.jiraTokenScopes.join(", ")'; }

# Atlassian's API gateway for the site ($url), by its cloud id (GET /_edge/tenant_info, without
# credentials); fails when the site does not say.
jira_gateway() {
  local cloud_id
  curl --silent --show-error --max-time 30 --header 'Accept: application/json' \
    --output "$WORK/tenant.json" "$url/_edge/tenant_info" >/dev/null 2>&1 || return 1
  cloud_id=$(node -e '
      try {
        const id = JSON.parse(require("fs").readFileSync(0, "utf8")).cloudId;
        if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) process.stdout.write(id);
        else process.exit(1);
      } catch (e) { process.exit(1); }' <"$WORK/tenant.json") || { rm -f "$WORK/tenant.json"; return 1; }
  rm -f "$WORK/tenant.json"
  printf 'https://api.atlassian.com/ex/jira/%s' "$cloud_id"
}

# The Jira credentials for curl, in a file (never argv); removed after use. Jira Data Center with
# a personal access token: the Bearer header; otherwise basic auth (Cloud: e-mail and API token;
# Data Center: user name and password).
write_curl_config() {
  local quoted
  if [ "$jira_flavor" = data-center ] && [ "$jira_auth" = token ]; then
    quoted=$(printf 'Authorization: Bearer %s' "$JIRA_TOKEN" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
    printf 'header = "%s"\n' "$quoted" >"$WORK/curl.cfg"
  else
    quoted=$(printf '%s:%s' "$email" "$JIRA_TOKEN" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
    printf 'user = "%s"\n' "$quoted" >"$WORK/curl.cfg"
  fi
}

# Which Jira the site is: GET /rest/api/2/serverInfo, without credentials (every Jira, Cloud or
# Data Center, answers it anonymously). deploymentType Cloud is Jira Cloud; anything else
# (Server, DataCenter) is Jira Data Center. A given --jira-flavor must agree; on Data Center the
# version must be 10 or later, the first that signs webhooks (the intake there is the webhook,
# which must not go unsigned).
SITE_VERSION=''
detect_jira_flavor() {
  if $skip_jira_check; then
    [ "$jira_flavor" != data-center ] ||
      say 'Jira Data Center version not checked (--skip-jira-check): the signed webhook needs Jira 10 or later'
    return 0
  fi
  need curl 'install curl, or pass --skip-jira-check with --jira-flavor'
  say "which Jira $url is (GET /rest/api/2/serverInfo)"
  local code info='' deployment major detected
  code=$(curl --silent --show-error --max-time 30 --header 'Accept: application/json' \
    --output "$WORK/server-info.json" --write-out '%{http_code}' "$url/rest/api/2/serverInfo" 2>"$WORK/curl.err") || true
  if [ "$code" = 200 ]; then
    info=$(node -e '
      try {
        const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        if (typeof j.deploymentType !== "string" || j.deploymentType === "") process.exit(1);
        const major = Array.isArray(j.versionNumbers) ? j.versionNumbers[0] : parseInt(String(j.version), 10);
        process.stdout.write([j.deploymentType, String(j.version || "?"), Number.isInteger(major) ? major : ""].join("\t"));
      } catch (e) { process.exit(1); }' "$WORK/server-info.json" 2>/dev/null) || info=''
  fi
  rm -f "$WORK/server-info.json"
  if [ -z "$info" ]; then
    local why
    case $code in
      000) why="cannot reach it: $(tr -s '\n' ' ' <"$WORK/curl.err")" ;;
      200) why='its answer is not Jira'"'"'s JSON serverInfo' ;;
      *) why="HTTP $code" ;;
    esac
    # An Atlassian Cloud host name already says Jira Cloud: a deployment to Cloud goes on as before.
    $flavor_given || [ "$jira_flavor" = cloud ] ||
      die "cannot tell which Jira $url is ($why): check --url (a Jira Data Center URL includes any context path, e.g. https://jira.example.com/jira), or pass --jira-flavor cloud or --jira-flavor data-center"
    printf '    warning: could not read serverInfo (%s); going on with --jira-flavor %s\n' "$why" "$jira_flavor"
    [ "$jira_flavor" != data-center ] ||
      printf '    warning: the Jira version is not checked: the signed webhook needs Jira Data Center 10 or later\n'
    return 0
  fi
  IFS=$'\t' read -r deployment SITE_VERSION major <<<"$info"
  if [ "$deployment" = Cloud ]; then detected=cloud; else detected=data-center; fi
  if [ "$detected" = cloud ]; then
    printf '    Jira Cloud (version %s)\n' "$SITE_VERSION"
  else
    printf '    Jira Data Center / Server %s (deploymentType %s)\n' "$SITE_VERSION" "$deployment"
  fi
  if [ "$jira_flavor" != auto ] && [ "$jira_flavor" != "$detected" ]; then
    if $flavor_given; then
      die "--jira-flavor $jira_flavor, but $url says it is $([ "$detected" = cloud ] && echo 'Jira Cloud' || echo 'Jira Data Center / Server') (deploymentType $deployment): check --url, or drop --jira-flavor"
    fi
    die "$url is an Atlassian Cloud host name but says deploymentType $deployment: pass --jira-flavor"
  fi
  if [ "$detected" = data-center ] && { [ -z "$major" ] || [ "$major" -lt 10 ]; }; then
    die "Jira Data Center $SITE_VERSION cannot sign webhooks (webhook secrets came with Jira 10), and on Data Center the integration's only intake is the webhook, which must not go unsigned (its URL is public): upgrade Jira to 10 or later first"
  fi
  jira_flavor=$detected
  $FLAVOR_SETTLED || settle_jira_flavor
  say "Jira flavour: $jira_flavor$([ "$jira_flavor" = data-center ] && printf ' (%s auth, REST API 2, intake %s)' "$jira_auth" "$intake")"
}

# GET /myself at the site and, on Jira Cloud when the site refuses the token, at Atlassian's API
# gateway for it: an API token with scopes (or a service account's) works only there. Sets
# MYSELF_CODE (the HTTP status of the answer that counts) and api_base (the gateway, when it
# took the token).
MYSELF_CODE=''
sign_in_check() {
  MYSELF_CODE=$(jira_get "/rest/api/$JIRA_API/myself")
  local gateway
  if [ "$jira_flavor:$MYSELF_CODE" = cloud:401 ] && gateway=$(jira_gateway); then
    api_base=$gateway
    MYSELF_CODE=$(jira_get "/rest/api/3/myself")
    case $MYSELF_CODE in
      200) printf '    an API token with scopes: the functions call Jira through Atlassian'"'"'s API gateway, %s\n' "$api_base" ;;
      401) api_base='' ;;
      *) die "the site refused the token (HTTP 401) and Atlassian's API gateway $api_base answered HTTP $MYSELF_CODE to /myself: $(tr -s '\n' ' ' <"$WORK/curl.err")" ;;
    esac
  fi
}
die_cloud_token_refused() {
  die "Jira refused the e-mail and API token (HTTP 401), at the site and at Atlassian's API gateway: check --email and --token (an API token from https://id.atlassian.com/manage-profile/security/api-tokens, not the account password; a token with scopes needs $(scopes_needed))"
}

check_jira() {
  if $skip_jira_check; then
    say 'Jira check skipped (--skip-jira-check)'
    return 0
  fi
  need curl 'install curl, or pass --skip-jira-check'
  say "Jira credentials and project $project_key at $url"
  write_curl_config
  local code unreachable_hint=''
  [ "$jira_flavor" != data-center ] ||
    unreachable_hint=' (a Jira on a private network: run deploy.sh where it is reachable, or pass --skip-jira-check)'
  sign_in_check
  code=$MYSELF_CODE
  case $jira_flavor:$code in
    *:200) ;;
    cloud:401) die_cloud_token_refused ;;
    data-center:401)
      if [ "$jira_auth" = token ]; then
        die "Jira refused the personal access token (HTTP 401): check --token (create one in Jira: profile picture -> Profile -> Personal Access Tokens, Jira 8.14 or later) and that it has not expired or been revoked; or sign in with a password: --jira-auth basic"
      fi
      die "Jira refused the user name and password (HTTP 401): check --email (the user name, not an e-mail address) and --token (the password)" ;;
    cloud:403) die "Jira answered HTTP 403 for $email: the user may not use the REST API (after failed logins Jira asks for a CAPTCHA: log in once in a browser), or the site blocks API tokens" ;;
    data-center:403) die "Jira answered HTTP 403 for ${email:-the user of the personal access token}: the user may not use the REST API, or after failed logins Jira asks for a CAPTCHA (log in once in a browser)" ;;
    cloud:404) die "no Jira Cloud REST API at $url (HTTP 404): check --url, e.g. https://example.atlassian.net" ;;
    data-center:404) die "no Jira Data Center REST API at $url (HTTP 404): check --url, the site's base URL with any context path, e.g. https://jira.example.com/jira" ;;
    *:000) die "cannot reach $url: $(tr -s '\n' ' ' <"$WORK/curl.err")$unreachable_hint" ;;
    *) die "unexpected HTTP $code from $url/rest/api/$JIRA_API/myself" ;;
  esac
  if [ "$jira_flavor" = data-center ]; then
    # The user the credentials sign in as (a token's owner); --email, when given, must name it.
    local name
    name=$(json_get "$WORK/jira.json" 'j.name') || name=''
    [ -n "$name" ] || die "Jira did not name the integration user (no name in $url/rest/api/2/myself)"
    if [ -z "$email" ]; then
      email=$name
      printf '    the personal access token signs in as %s: the integration user\n' "$email"
    elif [ "$(printf '%s' "$email" | tr '[:upper:]' '[:lower:]')" != "$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')" ]; then
      die "--email $email, but the $(token_label | sed 's/^Jira //') signs in as $name: pass --email $name$([ "$jira_auth" = token ] && printf ', or leave --email out')"
    fi
  fi
  code=$(jira_get "/rest/api/$JIRA_API/project/$project_key")
  case $code in
    200) ;;
    404) die "project $project_key not found, or $email may not browse it (HTTP 404): check --project-key and the user's project permissions" ;;
    401) die "$email may not read project $project_key (HTTP 401)$([ -z "$api_base" ] || printf ': the token with scopes lacks one; it needs %s' "$(scopes_needed)")" ;;
    403) die "$email has no permission to read project $project_key (HTTP $code)" ;;
    000) die "cannot reach $url: $(tr -s '\n' ' ' <"$WORK/curl.err")$unreachable_hint" ;;
    *) die "unexpected HTTP $code from $url/rest/api/$JIRA_API/project/$project_key" ;;
  esac
  printf '    %s can read project %s\n' "$email" "$project_key"
  check_mapped_fields
  count_case_filter_matches
  rm -f "$WORK/curl.cfg" "$WORK/jira.json" "$WORK/count.json"
}

# POST a JSON body (a file) to a Jira REST path, like jira_get.
jira_post() {
  curl --silent --show-error --max-time 30 --config "$WORK/curl.cfg" \
    --header 'Accept: application/json' --header 'Content-Type: application/json' \
    --data "@$2" --output "$WORK/jira.json" --write-out '%{http_code}' \
    "${api_base:-$url}$1" 2>"$WORK/curl.err" || true
}

# How many issues the JQL finds (Cloud: POST /search/approximate-count; Data Center, which has
# no count: GET /search with maxResults=0, its total); prints the count, or nothing when Jira
# could not say. A JQL error stops the deployment.
jira_count() {
  local code
  if [ "$jira_flavor" = data-center ]; then
    local query
    query=$(node -e 'process.stdout.write("jql=" + encodeURIComponent(process.argv[1]) + "&maxResults=0")' "$1")
    code=$(jira_get "/rest/api/2/search?$query")
  else
    node -e 'process.stdout.write(JSON.stringify({jql: process.argv[1]}))' "$1" >"$WORK/count.json"
    code=$(jira_post /rest/api/3/search/approximate-count "$WORK/count.json")
  fi
  case $code in
    200) json_get "$WORK/jira.json" '"count" in j ? j.count : j.total' ;;
    400) die "Jira refused the query $1: $(json_get "$WORK/jira.json" '(j.errorMessages || []).join(" ")')" ;;
    *) printf '    warning: Jira could not count the issues (HTTP %s)\n' "$code" >&2 ;;
  esac
}

# Which existing issues may create cases, counted in Jira (the case filter's dry run).
count_case_filter_matches() {
  local all matching
  all=$(jira_count "project = \"$project_key\"")
  if [ "$jira_case_filter" = "$(json_get "$CONTRACT" 'j.parameters.caseFilterDefault')" ]; then
    printf '    %s existing issue(s) in %s; only issues created after %s may create SIR cases\n' \
      "${all:-?}" "$project_key" "$INSTALLED_AT"
  else
    matching=$(jira_count "project = \"$project_key\" AND ($jira_case_filter)")
    printf '    the case filter matches %s of the %s existing issue(s) in %s; those not linked yet create SIR cases when next updated\n' \
      "${matching:-?}" "${all:-?}" "$project_key"
  fi
}

# The installation time: kept from the parameter an earlier deployment wrote, else now.
INSTALLED_AT=''
read_installed_at() {
  local name
  name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.installedAt')"
  if INSTALLED_AT=$(aws_cli ssm get-parameter --name "$name" --query Parameter.Value --output text 2>"$WORK/ssm.err"); then
    [[ $INSTALLED_AT =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
      die "$name holds '$INSTALLED_AT', not a UTC time like 2026-12-01T09:30:00Z: fix or delete it"
    say "installation time $INSTALLED_AT (kept from $name)"
    return 0
  fi
  if ! grep -q ParameterNotFound "$WORK/ssm.err"; then
    $dry_run || die "could not read $name: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
    printf '    warning: could not read %s; the dry run assumes a first installation\n' "$name"
  fi
  INSTALLED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  say "first installation at $INSTALLED_AT: Jira issues created before it do not create SIR cases (--jira-case-filter)"
}

# The backfill rule (which SIR cases older than the installation the poller brings over): the
# value the last deployment stored, else the default, with the flags given applied over it.
BACKFILL=''
BACKFILL_SINCE='' BACKFILL_CLOSED=false
read_backfill() {
  local name current=''
  name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.backfill')"
  if ! current=$(aws_cli ssm get-parameter --name "$name" --query Parameter.Value --output text 2>"$WORK/ssm.err"); then
    current=''
    if ! grep -q ParameterNotFound "$WORK/ssm.err"; then
      $dry_run || die "could not read $name: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
      printf '    warning: could not read %s; the dry run assumes the default\n' "$name"
    fi
  fi
  [ -n "$current" ] || current=$(json_get "$CONTRACT" 'j.parameters.backfillDefault')
  printf '%s' "$current" >"$WORK/backfill.json"
  BACKFILL_SINCE=$(json_get "$WORK/backfill.json" 'j.since') ||
    die "$name holds '$current', not JSON like {\"since\":\"\",\"closed\":false}: fix or delete it"
  BACKFILL_CLOSED=$(json_get "$WORK/backfill.json" 'j.closed === true')
  ! $backfill_since_given || BACKFILL_SINCE=$backfill_since
  ! $backfill_closed_given || BACKFILL_CLOSED=true
  BACKFILL="{\"since\":\"$BACKFILL_SINCE\",\"closed\":$BACKFILL_CLOSED}"
  rm -f "$WORK/backfill.json"
}

# How many SIR cases the backfill rule brings over, counted from ListCases (all pages; read
# only). A SIR that cannot be listed (no membership yet, no permission) is a warning.
count_backfill() {
  say "SIR cases the poller brings over (aws security-ir list-cases)"
  local token='' page=0 pages=()
  while :; do
    page=$((page + 1))
    local args=(security-ir list-cases --max-items 100 --output json)
    [ -z "$token" ] || args+=(--starting-token "$token")
    if ! aws_cli "${args[@]}" >"$WORK/cases-$page.json" 2>"$WORK/sir.err"; then
      printf '    warning: could not list the SIR cases (%s); counts not shown\n' "$(tr -s '\n' ' ' <"$WORK/sir.err")"
      rm -f "$WORK"/cases-*.json
      return 0
    fi
    pages+=("$WORK/cases-$page.json")
    token=$(json_get "$WORK/cases-$page.json" 'j.NextToken')
    [ -n "$token" ] || break
  done
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  node -e '
    const [installedAt, since, closed, ...files] = process.argv.slice(1);
    const at = (v) => typeof v === "number" ? v * 1000 : Date.parse(v);
    const installed = Date.parse(installedAt), cutOff = since ? Date.parse(since + "T00:00:00Z") : null;
    const n = { all: 0, newer: 0, open: 0, closed: 0, leftClosed: 0, leftBefore: 0 };
    for (const file of files) {
      for (const c of JSON.parse(require("fs").readFileSync(file, "utf8")).items || []) {
        n.all++;
        const created = at(c.createdDate), isClosed = c.caseStatus === "Closed";
        if (created >= installed) n.newer++;
        else if (cutOff !== null && created < cutOff) n.leftBefore++;
        else if (isClosed && closed !== "true") n.leftClosed++;
        else if (isClosed) n.closed++;
        else n.open++;
      }
    }
    const brought = n.newer + n.open + n.closed, left = n.leftBefore + n.leftClosed;
    console.log(`    ${n.all} SIR case(s): ${brought} get a Jira issue (${n.open} open and ${n.closed} closed created before the installation, ${n.newer} created since); ${left} left out (${n.leftClosed} closed, ${n.leftBefore} created before the cut-off${since ? " " + since : ""})`);
  ' "$INSTALLED_AT" "$BACKFILL_SINCE" "$BACKFILL_CLOSED" "${pages[@]}"
  printf '    backfill: %s (cases already synced keep syncing)\n' \
    "$([ -n "$BACKFILL_SINCE" ] && printf 'created on or after %s, ' "$BACKFILL_SINCE")$([ "$BACKFILL_CLOSED" = true ] && printf 'open and closed' || printf 'open only')"
  rm -f "${pages[@]}"
}

# --vpc-subnets/--vpc-security-groups: each exists, all in one VPC (--vpc-id, else theirs, which
# the stack needs), read only. Failing reads stop the deployment (a dry run goes on when
# --vpc-id is given).
check_vpc_placement() {
  [ -n "$vpc_subnets" ] || return 0
  say "VPC placement of jira-client, jira-notifications-handler and sir-client (aws ec2 describe-subnets, describe-security-groups)"
  local subnets=() groups=() found vpcs
  IFS=, read -ra subnets <<<"$vpc_subnets"
  IFS=, read -ra groups <<<"$vpc_security_groups"
  if ! found=$(aws_cli ec2 describe-subnets --subnet-ids "${subnets[@]}" --query 'Subnets[].VpcId' --output text 2>"$WORK/ec2.err"); then
    if $dry_run && [ -n "$vpc_id" ]; then
      printf '    warning: could not read the subnets (%s); the dry run goes on with %s\n' "$(tr -s '\n' ' ' <"$WORK/ec2.err")" "$vpc_id"
      return 0
    fi
    die "could not read the subnets $vpc_subnets: $(tr -s '\n' ' ' <"$WORK/ec2.err")"
  fi
  vpcs=$(one_line_set "$found")
  [ -n "$vpcs" ] && [[ $vpcs != *' '* ]] || die "the subnets $vpc_subnets are not in one VPC (${vpcs:-none found})"
  if [ -z "$vpc_id" ]; then
    vpc_id=$vpcs
  elif [ "$vpc_id" != "$vpcs" ]; then
    die "--vpc-id $vpc_id, but the subnets $vpc_subnets are in $vpcs"
  fi
  found=$(aws_cli ec2 describe-security-groups --group-ids "${groups[@]}" --query 'SecurityGroups[].VpcId' --output text 2>"$WORK/ec2.err") ||
    die "could not read the security groups $vpc_security_groups: $(tr -s '\n' ' ' <"$WORK/ec2.err")"
  vpcs=$(one_line_set "$found")
  [ "$vpcs" = "$vpc_id" ] || die "the security groups $vpc_security_groups are not all in $vpc_id (found: ${vpcs:-none})"
  printf '    %s: subnets %s, security groups %s\n' "$vpc_id" "$vpc_subnets" "$vpc_security_groups"
  printf '    those functions reach SSM, DynamoDB, EventBridge and Security Incident Response through the VPC too: its subnets need a NAT gateway or VPC endpoints\n'
}
one_line_set() { # the distinct words of $1, sorted, on one line
  printf '%s\n' "$1" | tr -s '[:blank:]' '\n' | { grep . || true; } | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------
store_token() {
  local name expiry_name
  name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraToken')"
  expiry_name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraTokenExpiresOn')"
  # A new token's date is written after it, and "unknown" before it: a run stopped between the
  # two never leaves the old token's date beside the new token (a later run would keep it).
  $TOKEN_UNCHANGED || put_token_expiry "$expiry_name" unknown
  say "$(token_label) -> SSM SecureString $name"
  printf '%s' "$JIRA_TOKEN" >"$WORK/token"
  put_secure_string "$name" "$WORK/token" "$(token_label) of the SIR integration (written by deploy.sh)"
  rm -f "$WORK/token"
  # Where the functions send the REST calls: the site, or its API gateway for a token with
  # scopes (unknown with --skip-jira-check: what is stored stays).
  if ! $skip_jira_check; then
    local api_name
    api_name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraApiUrl')"
    say "the Jira REST base (${api_base:-$url}) -> SSM String $api_name"
    put_string "$api_name" "${api_base:-$url}" 'Where the functions send their Jira REST calls: the site, or its API gateway (written by deploy.sh)'
  elif ! $TOKEN_UNCHANGED && [ "$jira_flavor" = cloud ]; then
    printf '    warning: --skip-jira-check: where the functions send their Jira calls (the site, or Atlassian'"'"'s API gateway for a token with scopes) is kept as it was stored, not checked for this token; if the token is new, run ./deploy.sh once without --skip-jira-check to set it\n'
  fi
  say "its expiry date ($token_expires) -> SSM String $expiry_name"
  put_token_expiry "$expiry_name" "$token_expires"
}

# Writes the String NAME = VALUE (from a file) with DESCRIPTION; shown only in a dry run.
put_string() {
  local name=$1 description=$3
  printf '%s' "$2" >"$WORK/string-value"
  local put=(aws "${aws_opts[@]}" ssm put-parameter --name "$name" --type String --overwrite
    --description "$description" --value "file://$WORK/string-value" --output text --query Version)
  if $dry_run; then
    mutate "${put[@]}"
  else
    "${put[@]}" >/dev/null || die "could not write $name (see above)"
  fi
  rm -f "$WORK/string-value"
}

# Writes the token's expiry date (YYYY-MM-DD, unknown or never) to the String NAME.
put_token_expiry() {
  put_string "$1" "$2" "When the $(token_label) expires, YYYY-MM-DD, unknown or never (written by deploy.sh)"
}

# Writes the SecureString NAME from FILE (never argv) with DESCRIPTION; shown only in a dry run.
put_secure_string() {
  local name=$1 file=$2 description=$3
  local put=(aws "${aws_opts[@]}" ssm put-parameter --name "$name" --type SecureString --overwrite
    --description "$description" --value "file://$file" --output text --query Version)
  if $dry_run; then
    mutate "${put[@]}"
  else
    local version
    version=$("${put[@]}") || die "could not write $name (see above)"
    printf '    version %s\n' "$version"
  fi
}

# The webhook intake's secret (--intake webhook|both): the one already in SSM is kept (Jira's
# webhook is signed with it); otherwise 32 random bytes, hex. It goes from a file to SSM and to
# Jira, never through argv, the terminal or CloudFormation.
WEBHOOK_SECRET_NEW=false
webhook_secret_name() {
  printf '%s/%s' "$(parameter_prefix)" "$(json_get "$CONTRACT" 'j.parameters.jiraWebhookSecret')"
}

store_webhook_secret() {
  [ "$intake" != automation ] || return 0
  local name
  name=$(webhook_secret_name)
  : >"$WORK/webhook-secret"
  chmod 600 "$WORK/webhook-secret"
  if aws_cli ssm get-parameter --name "$name" --with-decryption --query Parameter.Value --output text \
    >"$WORK/webhook-secret" 2>"$WORK/ssm.err"; then
    local type
    type=$(aws_cli ssm get-parameter --name "$name" --query Parameter.Type --output text 2>/dev/null) || type=''
    [ "$type" = SecureString ] ||
      die "$name is a ${type:-parameter of unknown type}, not a SecureString: delete it (aws ssm delete-parameter --name $name) and run deploy.sh again"
    say "Jira webhook secret: kept the one in SSM SecureString $name"
    return 0
  fi
  WEBHOOK_SECRET_NEW=true
  grep -q ParameterNotFound "$WORK/ssm.err" || die "could not read $name: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
  node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex"))' >"$WORK/webhook-secret" ||
    die 'could not generate the webhook secret'
  say "Jira webhook secret (generated) -> SSM SecureString $name"
  put_secure_string "$name" "$WORK/webhook-secret" 'Secret of the Jira webhook of the SIR integration (written by deploy.sh)'
}

# Registers the Jira webhook (an administrator's REST API, /rest/webhooks/1.0/webhook); when the
# integration user may not, prints what an administrator enters.
# (An attachment added or deleted is also a jira:issue_updated; attachment events carry no issue.)
webhook_events='["jira:issue_created","jira:issue_updated","jira:issue_deleted","comment_created","comment_updated","comment_deleted"]'
register_webhook() {
  local webhook_url=$1 code
  if $skip_jira_check; then
    print_webhook_steps "$webhook_url"
    return 0
  fi
  write_curl_config
  code=$(jira_get /rest/webhooks/1.0/webhook)
  if [ "$code" = 200 ] && node -e '
    const hooks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.exit((Array.isArray(hooks) ? hooks : []).some((w) => w.url === process.argv[2]) ? 0 : 1);' \
    "$WORK/jira.json" "$webhook_url"; then
    rm -f "$WORK/curl.cfg"
    if $WEBHOOK_SECRET_NEW; then
      # Jira never shows a webhook's secret: a new one must be entered in the webhook.
      printf '    a Jira webhook to %s exists, but the secret was just generated: enter it in that webhook, as below\n' "$webhook_url"
      print_webhook_steps "$webhook_url"
    else
      say "the Jira webhook to $webhook_url is registered already (it must carry the secret in SSM)"
    fi
    return 0
  fi
  # shellcheck disable=SC2016 # ${...} below is a JavaScript template literal
  node -e '
    const fs = require("fs");
    const [secretFile, name, target, project, events] = process.argv.slice(1);
    process.stdout.write(JSON.stringify({
      name, url: target, events: JSON.parse(events), excludeBody: false,
      filters: { "issue-related-events-section": `project = "${project}"` },
      secret: fs.readFileSync(secretFile, "utf8").trim(),
    }));' "$WORK/webhook-secret" "SIR integration ($stack_name)" "$webhook_url" "$project_key" "$webhook_events" \
    >"$WORK/webhook.json"
  chmod 600 "$WORK/webhook.json"
  code=$(jira_post /rest/webhooks/1.0/webhook "$WORK/webhook.json")
  rm -f "$WORK/webhook.json" "$WORK/curl.cfg"
  case $code in
    200 | 201) say "registered the Jira webhook (project $project_key) to $webhook_url, signed with the secret" ;;
    *)
      printf '    %s may not register webhooks (HTTP %s): an administrator enters it once, as below\n' "$email" "$code"
      print_webhook_steps "$webhook_url" ;;
  esac
}

print_webhook_steps() {
  local webhook_url=$1 name
  name=$(webhook_secret_name)
  if [ "$jira_flavor" = data-center ]; then
    cat <<EOF

Jira webhook (a Jira administrator, once; Jira Data Center 10 or later):
Administration (cog) -> System -> WebHooks -> Create a WebHook
  Name:     SIR integration ($stack_name)
  Status:   Enabled
  URL:      $webhook_url
            (the Jira server must reach it: HTTPS out to *.lambda-url.$region.on.aws)
  Secret:   the value of the SSM SecureString $name, read with
              aws ssm get-parameter --with-decryption --name $name --query Parameter.Value --output text
  Events:   JQL: project = "$project_key"
            Issue: created, updated, deleted; Comment: created, updated, deleted
  Exclude body: off
EOF
    return 0
  fi
  cat <<EOF

Jira webhook (a Jira administrator, once): Settings -> System -> WebHooks -> Create a WebHook
  Name:     SIR integration ($stack_name)
  Status:   Enabled
  URL:      $webhook_url
  Secret:   the value of the SSM SecureString $name, read with
              aws ssm get-parameter --with-decryption --name $name --query Parameter.Value --output text
  Events:   JQL filter: project = "$project_key"
            Work item: created, updated, deleted; Comment: created, updated, deleted
  Exclude body: off
EOF
}

build_lambdas() {
  local crate packages=()
  for crate in $(crates); do packages+=(--package "$crate"); done
  say "building the Lambdas: cargo lambda build --release --arm64 (takes a while the first time)"
  (cd "$ROOT" && cargo lambda build --release --arm64 --locked "${packages[@]}") ||
    die 'cargo lambda build failed (see above)'
  for crate in $(crates); do
    [ -f "$ROOT/target/lambda/$crate/bootstrap" ] ||
      die "the build left no target/lambda/$crate/bootstrap"
  done
}

ensure_cdk() {
  if [ ! -x "$CDK_DIR/node_modules/.bin/cdk" ]; then
    say 'installing the CDK app dependencies (npm ci in cdk/)'
    (cd "$CDK_DIR" && npm ci --no-audit --no-fund) || die 'npm ci in cdk/ failed'
  fi
}

cdk() { (cd "$CDK_DIR" && npx --no-install cdk --no-notices "$@"); }

cdk_context=()
cdk_parameters=()
prepare_cdk_arguments() {
  cdk_context=(
    --context "stackName=$stack_name"
    --context "lambdaAssetDir=$ROOT/target/lambda"
    --context requireBuiltLambdas=true
  )
  $encrypt_topic && cdk_context+=(--context encryptTopic=true)
  [ "$intake" = automation ] || cdk_context+=(--context webhookIntake=true)
  [ "$intake" != webhook ] || cdk_context+=(--context automationIntake=false)
  cdk_context+=(--context "jiraFlavor=$jira_flavor")
  [ "$jira_flavor" != data-center ] || cdk_context+=(--context "jiraAuth=$jira_auth")
  if [ -n "$vpc_subnets" ]; then
    cdk_context+=(--context "vpcId=$vpc_id" --context "vpcSubnetIds=$vpc_subnets"
      --context "vpcSecurityGroupIds=$vpc_security_groups")
  fi
  [ -z "$alarm_topic_arn" ] || cdk_context+=(--context "alarmTopicArn=$alarm_topic_arn")
  [ -z "$reserved_concurrency" ] || cdk_context+=(--context "reservedConcurrency=$reserved_concurrency")
  [ -z "$memory_mb" ] || cdk_context+=(--context "memoryMb=$memory_mb")
  [ -z "$reuse_table" ] || cdk_context+=(--context "existingTableName=$reuse_table")
  [ -z "$jira_sweep_minutes" ] || cdk_context+=(--context "jiraSweepMinutes=$jira_sweep_minutes")
  [ -z "$audit_interval_minutes" ] || cdk_context+=(--context "auditIntervalMinutes=$audit_interval_minutes")
  [ -z "$audits_per_pass" ] || cdk_context+=(--context "auditsPerPass=$audits_per_pass")
  [ -z "$jira_audit_per_run" ] || cdk_context+=(--context "jiraAuditPerRun=$jira_audit_per_run")
  local level
  level=$(printf '%s' "$log_level" | tr '[:lower:]' '[:upper:]')
  cdk_parameters=(
    --parameters "JiraEmail=$email"
    --parameters "JiraUrl=$url"
    --parameters "JiraProjectKey=$project_key"
    --parameters "LogLevel=$level"
    --parameters "InstalledAt=$INSTALLED_AT"
  )
  # Unless given, the case filter keeps its value from the last deployment (default: "default").
  ! $jira_case_filter_given || cdk_parameters+=(--parameters "JiraCaseFilter=$jira_case_filter")
  # Unless a flag is given, the backfill rule keeps its value from the last deployment.
  if $backfill_since_given || $backfill_closed_given; then
    cdk_parameters+=(--parameters "Backfill=$BACKFILL")
  fi
  # Unless given, the issue type keeps its value from the last deployment (default Task).
  [ -z "$issue_type" ] || cdk_parameters+=(--parameters "JiraIssueType=$issue_type")
  [ -z "$MAPPING_DOCUMENT" ] || cdk_parameters+=(--parameters "StatusMapping=$MAPPING_DOCUMENT")
}

# The mapping document (status mapping, with the field mapping under "fields") when either
# --status-mapping or --field-mapping is given: the file given, the other part as the last
# deployment stored it (SSM), so neither flag resets the other.
MAPPING_DOCUMENT=''
read_mapping_document() {
  [ -n "$status_mapping_file" ] || [ -n "$field_mapping_file" ] || return 0
  local name deployed=''
  if [ -z "$status_mapping_file" ] || [ -z "$field_mapping_file" ]; then
    name="$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.statusMapping')"
    if ! deployed=$(aws_cli ssm get-parameter --name "$name" --query Parameter.Value --output text 2>"$WORK/ssm.err"); then
      deployed=''
      if ! grep -q ParameterNotFound "$WORK/ssm.err"; then
        $dry_run || die "could not read $name to keep the mapping not given: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
        printf '    warning: could not read %s; the dry run assumes no mapping is deployed\n' "$name"
      fi
    fi
  fi
  [ -n "$deployed" ] || deployed='{}'
  printf '%s' "$deployed" >"$WORK/deployed-mapping.json"
  MAPPING_DOCUMENT=$(node -e '
    const fs = require("fs");
    const [statusFile, fieldFile, deployedFile] = process.argv.slice(1);
    const object = (text, what) => {
      let v; try { v = JSON.parse(text); } catch (e) { throw new Error(what + " is not a JSON object: " + e.message); }
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(what + " is not a JSON object");
      return v;
    };
    try {
      const deployed = object(fs.readFileSync(deployedFile, "utf8"), "the deployed mapping");
      const doc = statusFile ? object(fs.readFileSync(statusFile, "utf8"), "--status-mapping " + statusFile) : deployed;
      // Without --field-mapping, a "fields" key in the status mapping file is the field mapping.
      const given = statusFile && doc.fields !== undefined ? doc.fields : deployed.fields;
      delete doc.fields;
      const fields = fieldFile ? object(fs.readFileSync(fieldFile, "utf8"), "--field-mapping " + fieldFile) : given;
      if (fields !== undefined) {
        if (fields === null || typeof fields !== "object" || Array.isArray(fields)) throw new Error("the field mapping is not a JSON object");
        for (const key of Object.keys(fields)) {
          if (!["sirToJira", "onCreate", "onTransition", "jiraToSir"].includes(key)) throw new Error("the field mapping has an unknown key " + key + " (sirToJira, onCreate, onTransition, jiraToSir)");
          const part = fields[key];
          if (part === null || typeof part !== "object" || Array.isArray(part)) throw new Error("the field mapping'"'"'s " + key + " is not a JSON object");
        }
        // The checks jira-client and sir-client make at cold start, made before anything is deployed.
        const owned = ["summary", "description", "status", "project", "issuetype", "reporter"];
        const jiraField = (where, name) => {
          if (typeof name !== "string" || name.trim() === "") throw new Error(where + " names no Jira field (an id or a name)");
          if (owned.includes(name.trim().toLowerCase())) throw new Error(where + " names " + name + ", which the integration writes itself");
        };
        const sirFields = {
          sirToJira: ["impactedAccounts", "impactedRegions", "impactedServices", "engagementType", "reportedIncidentStartDate"],
          jiraToSir: ["impactedAccounts", "impactedRegions", "impactedServices", "engagementType"],
        };
        for (const [part, allowed] of Object.entries(sirFields)) {
          for (const [sir, jira] of Object.entries(fields[part] || {})) {
            if (!allowed.includes(sir)) throw new Error("the field mapping'"'"'s " + part + " has " + sir + ", which is not one of " + allowed.join(", "));
            jiraField(part + "." + sir, jira);
          }
        }
        for (const name of Object.keys(fields.onCreate || {})) jiraField("onCreate", name);
        for (const [status, set] of Object.entries(fields.onTransition || {})) {
          if (set === null || typeof set !== "object" || Array.isArray(set)) throw new Error("onTransition." + status + " is not a JSON object of fields");
          for (const name of Object.keys(set)) jiraField("onTransition." + status, name);
        }
        doc.fields = fields;
      }
      process.stdout.write(JSON.stringify(doc));
    } catch (e) { console.error(e.message); process.exit(1); }' "$status_mapping_file" "$field_mapping_file" "$WORK/deployed-mapping.json" 2>"$WORK/mapping.err") ||
    fail "$(cat "$WORK/mapping.err")"
  [ "${#MAPPING_DOCUMENT}" -le 4000 ] ||
    fail "the status and field mapping together are over 4000 characters (${#MAPPING_DOCUMENT})"
}

# Each Jira field the field mapping names (by id or by name) exists on the site: GET /field.
check_mapped_fields() {
  # A field mapping given now (--field-mapping, or a "fields" key in --status-mapping).
  [ -n "$field_mapping_file" ] || { [ -n "$status_mapping_file" ] && grep -q '"fields"' "$status_mapping_file"; } || return 0
  local code missing
  code=$(jira_get "/rest/api/$JIRA_API/field")
  [ "$code" = 200 ] || die "could not list the site's fields to check --field-mapping (HTTP $code)"
  missing=$(node -e '
    const fs = require("fs");
    const site = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const fields = JSON.parse(process.argv[2]).fields || {};
    const named = [...Object.values(fields.sirToJira || {}), ...Object.values(fields.jiraToSir || {}),
      ...Object.keys(fields.onCreate || {}),
      ...Object.values(fields.onTransition || {}).flatMap((f) => Object.keys(f))];
    // As jira-client resolves them: an id first, else the one field of that name (any case).
    const matches = (n) => {
      const byId = site.filter((f) => f.id === String(n).trim());
      return byId.length ? byId : site.filter((f) => String(f.name).toLowerCase() === String(n).trim().toLowerCase());
    };
    const owned = ["summary", "description", "status", "project", "issuetype", "reporter"];
    const unique = [...new Set(named)];
    const problems = [];
    const missing = unique.filter((n) => matches(n).length === 0);
    if (missing.length) problems.push("fields the site does not have: " + missing.join(", "));
    const ambiguous = unique.filter((n) => matches(n).length > 1);
    if (ambiguous.length) problems.push("names that several fields share (use the id): " + ambiguous.map((n) => n + " (" + matches(n).map((f) => f.id).join(", ") + ")").join("; "));
    const ours = unique.filter((n) => matches(n).length === 1 && owned.includes(matches(n)[0].id));
    if (ours.length) problems.push("fields the integration writes itself: " + ours.join(", "));
    // The types jira-client can fill (JiraFieldKind::of): labels or text lists, multi-selects,
    // selects, text and paragraph fields, dates and date-times.
    const type = (f) => { const s = f.schema || {}; return s.items ? s.type + " of " + s.items : s.type || "no type"; };
    const fillable = ["array of string", "array of option", "option", "string", "date", "datetime"];
    const unfillable = [...new Set(Object.values(fields.sirToJira || {}))].filter((n) =>
      matches(n).length === 1 && !owned.includes(matches(n)[0].id) && !fillable.includes(type(matches(n)[0])));
    if (unfillable.length) problems.push("fields whose type the mapping cannot fill (it fills text, paragraph, labels, select, multi-select, date and date-time fields): " + unfillable.map((n) => n + " (" + type(matches(n)[0]) + ")").join(", "));
    process.stdout.write(problems.join("; "));' "$WORK/jira.json" "$MAPPING_DOCUMENT") ||
    die 'could not read the site'"'"'s fields'
  [ -z "$missing" ] || die "--field-mapping names $missing (see Jira settings → Work items → Fields for ids and names)"
  printf '    every field the field mapping names exists on %s\n' "$url"
}

print_automation_steps() {
  local arn=$1 changed deleted
  changed=$(printf '{"automationData":{"IssueId":"{{issue.key}}","Initiator":"{{initiator.accountId}}"}}')
  deleted=$(printf '{"automationData":{"IssueId":"{{issue.key}}","Event":"issue_deleted","Initiator":"{{initiator.accountId}}"}}')
  cat <<EOF

SNS topic for Jira Automation:
  $arn

Create these three rules in Jira (Project settings of $project_key -> Automation -> Create rule;
each rule's scope: project $project_key only). In each, add the action "Publish to Amazon SNS"
(search the actions for "SNS"), with
  Topic ARN:     $arn
  Message:       custom data, exactly as below.

  1. Trigger "Work item created".
     Message: $changed
  2. Trigger "Multiple work item events" with: Work item updated, Work item transitioned,
     Work item commented, Work item comment edited.
     Message: $changed
  3. Trigger "Work item deleted".
     Message: $deleted

In each rule, between the trigger and the action, add the condition
"User condition: Initiator is not $email": the integration's own changes then
use none of the site's monthly rule runs.

Name them e.g. "SIR sync: created", "SIR sync: changed", "SIR sync: deleted", turn them on, and
create an issue in $project_key to see the SIR case appear (README "Jira Automation rules").
EOF
}

deploy() {
  validate_deploy_args
  validate_common_args
  read_token
  make_workdir
  $dry_run && say 'dry run: local steps run, AWS commands are only shown'
  check_node
  check_aws_cli
  need cargo 'install Rust 1.94.1 or later (https://rustup.rs)'
  check_credentials
  detect_jira_flavor
  check_vpc_placement
  read_installed_at
  read_backfill
  read_mapping_document
  count_backfill
  check_jira
  settle_token_expiry
  check_build_tools
  prepare_cdk_arguments
  store_token
  store_webhook_secret
  build_lambdas
  ensure_cdk
  say "synthesizing the stack $stack_name"
  cdk synth "$stack_name" --quiet "${cdk_context[@]}" >/dev/null || die 'cdk synth failed (see above)'
  say "CDK bootstrap of aws://$ACCOUNT/$region (once per account and region; no-op when current)"
  mutate cdk bootstrap "aws://$ACCOUNT/$region" "${cdk_context[@]}"
  say "deploying the stack $stack_name"
  mutate cdk deploy "$stack_name" --require-approval never "${cdk_context[@]}" "${cdk_parameters[@]}" \
    --outputs-file "$WORK/outputs.json"
  if $dry_run; then
    say 'dry run finished: nothing was changed in AWS'
    return 0
  fi
  local arn webhook_url
  arn=$(json_get "$WORK/outputs.json" "(j[\"$stack_name\"] || {}).JiraAutomationTopicArn")
  [ -n "$arn" ] || die "the stack deployed but its outputs have no JiraAutomationTopicArn"
  say "deployed $stack_name in $ACCOUNT/$region"
  if [ "$intake" != automation ]; then
    webhook_url=$(json_get "$WORK/outputs.json" "(j[\"$stack_name\"] || {}).JiraWebhookUrl")
    [ -n "$webhook_url" ] || die "the stack deployed but its outputs have no JiraWebhookUrl"
    register_webhook "$webhook_url"
  fi
  rm -f "$WORK/webhook-secret"
  if [ "$jira_flavor" = data-center ]; then
    say 'intake: the Jira webhook only (Jira Data Center has no Amazon SNS action for Automation rules)'
  elif [ "$intake" = webhook ]; then
    say 'intake: the Jira webhook only; no Jira Automation rule is needed (disable the rules of an earlier --intake automation)'
  else
    print_automation_steps "$arn"
  fi
}

destroy() {
  validate_common_args
  make_workdir
  $dry_run && say 'dry run: AWS commands that change something are only shown'
  check_node
  check_aws_cli
  check_credentials
  local table
  table=$(aws_cli cloudformation describe-stacks --stack-name "$stack_name" \
    --query "Stacks[0].Outputs[?OutputKey=='MappingTableName'].OutputValue" --output text 2>"$WORK/cfn.err") ||
    die "stack $stack_name not found in $region: $(tr -s '\n' ' ' <"$WORK/cfn.err")"
  [ "$table" != None ] || table=''
  say "deleting the stack $stack_name"
  mutate aws "${aws_opts[@]}" cloudformation delete-stack --stack-name "$stack_name"
  mutate aws "${aws_opts[@]}" cloudformation wait stack-delete-complete --stack-name "$stack_name"
  local parameter
  for parameter in "$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraToken')" \
    "$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraTokenExpiresOn')" \
    "$(parameter_prefix)/$(json_get "$CONTRACT" 'j.parameters.jiraApiUrl')"; do
    say "deleting the parameter $parameter (the token, its expiry date, the REST base)"
    if $dry_run; then
      mutate aws "${aws_opts[@]}" ssm delete-parameter --name "$parameter"
    elif ! aws_cli ssm delete-parameter --name "$parameter" 2>"$WORK/ssm.err"; then
      grep -q ParameterNotFound "$WORK/ssm.err" || die "could not delete $parameter: $(cat "$WORK/ssm.err")"
    fi
  done
  local secret_name
  secret_name=$(webhook_secret_name)
  say "deleting the webhook secret parameter $secret_name (if any); delete the stack's Jira webhook in Jira (Settings -> System -> WebHooks) too"
  if $dry_run; then
    mutate aws "${aws_opts[@]}" ssm delete-parameter --name "$secret_name"
  elif ! aws_cli ssm delete-parameter --name "$secret_name" 2>"$WORK/ssm.err"; then
    grep -q ParameterNotFound "$WORK/ssm.err" || die "could not delete $secret_name: $(cat "$WORK/ssm.err")"
  fi
  if [ -z "$table" ]; then
    say 'the stack had no mapping table of its own'
  elif $delete_table; then
    say "deleting the mapping table $table (--delete-table)"
    mutate aws "${aws_opts[@]}" dynamodb update-table --table-name "$table" --no-deletion-protection-enabled
    mutate aws "${aws_opts[@]}" dynamodb wait table-exists --table-name "$table"
    mutate aws "${aws_opts[@]}" dynamodb delete-table --table-name "$table"
  else
    say "kept the mapping table $table (deletion protection on): deploy again with --reuse-table $table, or delete it with --destroy --delete-table"
  fi
  say 'the Lambda log groups are kept; delete them in CloudWatch Logs when no longer needed'
}

# ---------------------------------------------------------------------------------------------
# --reconcile: the deployed poller's on-demand reconcile (aws lambda invoke)
# ---------------------------------------------------------------------------------------------
print_reconcile_report() { # print_reconcile_report FILE: the poller's response, pair by pair
  # shellcheck disable=SC2016 # ${...} below are JavaScript template literals
  node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).reconcile || { pending: [] };
const pending = r.pending || [];
if (pending.length === 0 && !r.remaining) console.log("    nothing pending: every published change was applied");
for (const p of pending) {
  let what = p.changedFields.length ? p.changedFields.join(", ") : "everything";
  if (p.comments) what += `, ${p.comments} comment(s)`;
  if (p.attachments) what += `, ${p.attachments} attachment(s)`;
  const done = r.dryRun ? "would be published again" : p.republished ? "published again" : "dropped (the link is broken: one side was deleted)";
  console.log(`    case ${p.caseId || "(none yet)"} <-> issue ${p.issueKey || "(none yet)"}: ${p.eventType} (${what}) not applied for ${Math.floor(p.ageSeconds / 60)} min, published ${p.attempts} time(s); ${done}`);
}
if (pending.length) console.log(`    ${pending.length} pending pair(s)${r.dryRun ? "; dry run: nothing was published" : ""}`);
if (r.remaining) console.log(`    ${r.remaining} more pending beyond the bound of one request: run it again`);
if (r.audit) {
  const pairs = r.audit.pairs || [];
  for (const p of pairs) {
    const done = r.dryRun ? "would be audited" : p.published ? "audited (jira-client compares the live case with the live issue)" : "not audited (SIR no longer has the case)";
    console.log(`    case ${p.caseId} <-> issue ${p.issueKey}: ${done}`);
  }
  console.log(`    ${pairs.length} open pair(s) audited${r.dryRun ? "; dry run: nothing was published" : ""}`);
  if (r.audit.remaining) console.log(`    ${r.audit.remaining} more open case(s) beyond the bound of one request: run it again`);
}
' "$1"
}

reconcile() {
  validate_common_args
  make_workdir
  check_node
  check_aws_cli
  local function_name payload function_error audit_field=''
  function_name=$(aws_cli cloudformation describe-stacks --stack-name "$stack_name" \
    --query "Stacks[0].Outputs[?OutputKey=='PollerFunctionName'].OutputValue" --output text 2>"$WORK/cfn.err") ||
    die "stack $stack_name not found in $region: $(tr -s '\n' ' ' <"$WORK/cfn.err")"
  [ -n "$function_name" ] && [ "$function_name" != None ] || die "the stack $stack_name has no PollerFunctionName output"
  ! $audit || audit_field=',"audit":true'
  payload="{\"reconcile\":{\"dryRun\":$dry_run$audit_field}}"
  if $dry_run; then
    say "pending changes (dry run: nothing is published), from $function_name"
  else
    say "publishing again every pending change, through $function_name"
  fi
  ! $audit || say 'and every open linked pair audited: the live case compared with the live issue'
  function_error=$(aws_cli lambda invoke --function-name "$function_name" --cli-binary-format raw-in-base64-out \
    --payload "$payload" --query FunctionError --output text "$WORK/reconcile.json" 2>"$WORK/invoke.err") ||
    die "could not invoke $function_name: $(tr -s '\n' ' ' <"$WORK/invoke.err")"
  if [ -n "$function_error" ] && [ "$function_error" != None ]; then
    die "the reconcile failed: $(cat "$WORK/reconcile.json")"
  fi
  print_reconcile_report "$WORK/reconcile.json"
}

# ---------------------------------------------------------------------------------------------
# --status: what needs attention in a deployed stack (or the local world), plainly
# ---------------------------------------------------------------------------------------------
# Prints the status facts in FILE (the collectors below write them: the AWS one here, the local
# world's `sir-jira-local --status`) and exits 1 when something needs attention, 0 otherwise.
# The facts: {target, now, functions: [{crate, name, lastSuccessfulRun, errorsLastHour,
# deadLetters: {messages, oldestAgeSeconds, sample: {body, attributes}}}], rules: [{name, state,
# schedule}], jira: {url, credentials: {status, user, error}, problems: {status, keys, more, error}}}
# (times in epoch seconds).
# JavaScript shared by --status and --replay-dlq: `what(body)` says what a dead-lettered message
# is, `payload(body)` is the event to invoke its function with. The three bodies a dead-letter
# queue of this stack holds: an EventBridge event (the bus rules' target DLQ, and Lambda's own
# after its two retries of an EventBridge event), the SNS event Lambda got (Lambda's DLQ of
# jira-notifications-handler) and SNS's own envelope (the subscription's redrive), which Lambda
# gets as the one record of an SNS event.
# shellcheck disable=SC2016 # ${...} below are JavaScript template literals
DLQ_JS='
const parsed = (body) => { try { return JSON.parse(body); } catch (e) { return undefined; } };
const payload = (body) => {
  const j = parsed(body);
  if (j && j.Type === "Notification" && j.TopicArn) {
    return JSON.stringify({ Records: [{ EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn: j.TopicArn,
      Sns: { Type: j.Type, MessageId: j.MessageId, TopicArn: j.TopicArn, Subject: j.Subject ?? null, Message: j.Message,
        Timestamp: j.Timestamp, SignatureVersion: j.SignatureVersion, Signature: j.Signature,
        SigningCertUrl: j.SigningCertURL ?? j.SigningCertUrl, UnsubscribeUrl: j.UnsubscribeURL ?? j.UnsubscribeUrl,
        MessageAttributes: j.MessageAttributes ?? {} } }] });
  }
  return body;
};
const what = (body) => {
  const j = parsed(payload(body));
  if (j === undefined) return "a message that is not JSON";
  if (j && Array.isArray(j.Records)) {
    const keys = j.Records.map((r) => {
      const m = parsed((r.Sns || {}).Message) || {};
      return (m.automationData || {}).IssueId || m.issueKey;
    }).filter(Boolean);
    return `Jira notification${keys.length ? " for " + keys.join(", ") : ""}`;
  }
  if (j && j["detail-type"]) {
    const d = j.detail || {};
    const caseId = (d.case || {}).caseId || d.caseId;
    const key = (d.issue || {}).issueKey || d.issueKey;
    return `${j["detail-type"]}${caseId ? " of case " + caseId : ""}${key ? (caseId ? ", issue " : " of issue ") + key : ""}`;
  }
  return "an event of unknown shape";
};
const firstError = (a) => a.ERROR_MESSAGE || a.ErrorMessage || a.ERROR_CODE || a.ErrorCode || "no error given";
'

print_status() {
  # shellcheck disable=SC2016 # ${...} below are JavaScript template literals
  node -e "$DLQ_JS"'
const f = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const problemLabel = process.argv[2];
const now = f.now;
const ago = (t) => {
  if (t === null || t === undefined) return "none in the last 24 h";
  const s = Math.max(0, now - t);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
};
const age = (s) => (s < 120 ? `${s} s` : s < 7200 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 3600)} h`);
const attention = [];
console.log(`Status of ${f.target} (${new Date(now * 1000).toISOString().replace(/\.\d+Z$/, "Z")})`);
console.log("Functions (last successful run, to 5 minutes; errors in the last hour):");
for (const fn of f.functions) {
  console.log(`    ${fn.crate.padEnd(28)} ${ago(fn.lastSuccessfulRun).padEnd(22)} ${fn.errorsLastHour} error(s)`);
  const quiet = fn.lastSuccessfulRun === null || fn.lastSuccessfulRun === undefined || now - fn.lastSuccessfulRun > 3600;
  if (fn.crate === "poller" && (fn.lastSuccessfulRun === null || fn.lastSuccessfulRun === undefined || now - fn.lastSuccessfulRun > 900))
    attention.push("the poller has not finished a run for over 15 minutes (it runs every 1 to 5): see its log group and Errors");
  else if (fn.errorsLastHour > 0 && quiet)
    attention.push(`${fn.crate} failed ${fn.errorsLastHour} time(s) in the last hour and succeeded not once: see its log group`);
}
console.log("Rules:");
for (const r of f.rules) {
  console.log(`    ${r.name}: ${String(r.state).toLowerCase()}${r.schedule ? ", " + r.schedule : ""}`);
  if (r.state !== "ENABLED") attention.push(`the rule ${r.name} is ${String(r.state).toLowerCase()}: nothing reaches its function (aws events enable-rule, or ./deploy.sh again)`);
}
console.log("Dead-letter queues (events that failed every retry):");
for (const fn of f.functions) {
  const dl = fn.deadLetters || { messages: 0 };
  if (!dl.messages) { console.log(`    ${fn.crate}: empty`); continue; }
  const oldest = dl.oldestAgeSeconds === null || dl.oldestAgeSeconds === undefined ? "" : `, the oldest ${age(dl.oldestAgeSeconds)} old`;
  console.log(`    ${fn.crate}: ${dl.messages} message(s)${oldest}`);
  if (dl.sample) {
    console.log(`        e.g. ${what(dl.sample.body)}: ${firstError(dl.sample.attributes || {})}`);
  }
  attention.push(`${dl.messages} event(s) in ${fn.crate}\x27s dead-letter queue: fix the cause, then ./deploy.sh --replay-dlq --function ${fn.crate}`);
}
const j = f.jira || {};
console.log(`Jira${j.url ? " (" + j.url + ")" : ""}:`);
const c = j.credentials || {};
if (c.status === 200) console.log(`    the credentials work${c.user ? " (signed in as " + c.user + ")" : ""}`);
else {
  const why = c.status === 401 ? "Jira refused the credentials (HTTP 401): the token expired or was revoked; create a new one and run ./deploy.sh again with it (--token -)"
    : c.status ? `Jira answered HTTP ${c.status} to /myself` : `Jira could not be reached: ${c.error || "no answer"}`;
  console.log(`    ${why}`);
  attention.push(why);
}
const expiry = j.tokenExpiresOn || "";
const expiryDay = Date.parse(`${expiry}T00:00:00Z`);
const rotate = "create a new one and run ./deploy.sh again with it (--token - --token-expires YYYY-MM-DD)";
if (/^\d{4}-\d{2}-\d{2}$/.test(expiry) && Number.isFinite(expiryDay) && new Date(expiryDay).toISOString().slice(0, 10) === expiry) {
  const days = Math.round(expiryDay / 86400000) - Math.floor(now / 86400);
  if (days < 0) {
    console.log(`    the token expired on ${expiry}`);
    attention.push(`the Jira token expired on ${expiry}: ${rotate}`);
  } else {
    console.log(`    the token expires on ${expiry}: ${days} day(s) left`);
    if (days <= 30) attention.push(`the Jira token expires in ${days} day(s), on ${expiry}: ${rotate}`);
  }
} else if (expiry === "never") console.log("    the token does not expire");
else if (expiry === "" || expiry === "unknown") console.log("    the token\x27s expiry date is not known: no alarm warns before it expires (./deploy.sh again with --token - --token-expires YYYY-MM-DD stores it)");
else {
  console.log(`    the token\x27s stored expiry date ${JSON.stringify(expiry)} is not a date: the functions ignore it`);
  attention.push(`the Jira token\x27s stored expiry date is not a date: run ./deploy.sh again with --token - --token-expires YYYY-MM-DD`);
}
const p = j.problems || {};
if (p.status === 200) {
  const keys = p.keys || [];
  if (keys.length === 0) console.log(`    pairs with a sync problem (label ${problemLabel}): none`);
  else {
    console.log(`    pairs with a sync problem (label ${problemLabel}): ${keys.join(", ")}${p.more ? " and more" : ""}`);
    attention.push(`${keys.length}${p.more ? "+" : ""} pair(s) with a sync problem: each issue says what could not be synced and what to do (JQL: labels = ${problemLabel})`);
  }
} else if (c.status === 200) {
  console.log(`    could not list the pairs with a sync problem (${p.status ? "HTTP " + p.status : p.error || "no answer"})`);
  attention.push("the pairs with a sync problem could not be listed");
}
if (attention.length) {
  console.log("Needs attention:");
  for (const a of attention) console.log(`    - ${a}`);
  process.exit(1);
}
console.log("Nothing needs attention.");
' "$1" "$(json_get "$CONTRACT" 'j.syncProblemLabel')"
}

# An output of the stack, from $WORK/outputs.json (describe-stacks' Outputs).
stack_output() { json_get "$WORK/outputs.json" '((j || []).find((o) => o.OutputKey === arg) || {}).OutputValue' "$1"; }

# The facts print_status reads, from the deployed stack: CloudFormation outputs and rules, the
# functions' metrics (CloudWatch), the dead-letter queues (SQS; one message peeked, not taken),
# and Jira (the deployed URL, e-mail and token from SSM: /myself and the labelled issues).
collect_status() {
  local now crates crate pascal fn_names=() dlq_urls=() i
  now=$(date +%s)
  aws_cli cloudformation describe-stacks --stack-name "$stack_name" --query 'Stacks[0].Outputs' \
    --output json >"$WORK/outputs.json" 2>"$WORK/cfn.err" ||
    die "stack $stack_name not found in $region: $(tr -s '\n' ' ' <"$WORK/cfn.err")"
  read -r -a crates <<<"$(json_get "$CONTRACT" 'Object.keys(j.functions).join(" ")')"
  for crate in "${crates[@]}"; do
    pascal=$(json_get "$CONTRACT" 'arg[0].toUpperCase() + arg.slice(1)' "$crate")
    fn_names+=("$(stack_output "${pascal}FunctionName")")
    dlq_urls+=("$(stack_output "${pascal}DeadLetterQueueUrl")")
  done
  # Rules: every AWS::Events::Rule of the stack ("bus|name" for one on the integration bus).
  local rule_ids rule bus name
  # (list-stack-resources pages through every resource; describe-stack-resources stops at 100)
  rule_ids=$(aws_cli cloudformation list-stack-resources --stack-name "$stack_name" \
    --query "StackResourceSummaries[?ResourceType=='AWS::Events::Rule'].PhysicalResourceId" --output text 2>"$WORK/cfn.err") ||
    die "could not list the stack's rules: $(tr -s '\n' ' ' <"$WORK/cfn.err")"
  : >"$WORK/rules.jsonl"
  for rule in $rule_ids; do
    bus=default name=$rule
    if [[ $rule == *'|'* ]]; then bus=${rule%%|*} name=${rule#*|}; fi
    aws_cli events describe-rule --name "$name" --event-bus-name "$bus" --output json >>"$WORK/rules.jsonl" 2>"$WORK/events.err" ||
      die "could not read the rule $name: $(tr -s '\n' ' ' <"$WORK/events.err")"
    printf '\n' >>"$WORK/rules.jsonl"
  done
  # Metrics of the last 24 hours in 5-minute periods: each function's Errors and SuccessfulRuns,
  # and the age of the oldest message of each dead-letter queue.
  local pairs=()
  for i in "${!crates[@]}"; do pairs+=("${fn_names[$i]}" "${dlq_urls[$i]}"); done
  # shellcheck disable=SC2016 # ${...} and $ below are JavaScript, not shell
  node -e '
const [namespace, fnDim, runs, ...pairs] = process.argv.slice(1);
const q = [];
for (let i = 0; i < pairs.length; i += 2) {
  const fn = pairs[i], queue = pairs[i + 1].split("/").pop();
  const stat = (id, ns, metric, dims, s) => ({ Id: id, MetricStat: { Metric: { Namespace: ns, MetricName: metric, Dimensions: dims }, Period: 300, Stat: s }, ReturnData: true });
  q.push(stat(`errors${i / 2}`, "AWS/Lambda", "Errors", [{ Name: "FunctionName", Value: fn }], "Sum"));
  q.push(stat(`runs${i / 2}`, namespace, runs, [{ Name: fnDim, Value: fn }], "Sum"));
  q.push(stat(`age${i / 2}`, "AWS/SQS", "ApproximateAgeOfOldestMessage", [{ Name: "QueueName", Value: queue }], "Maximum"));
}
process.stdout.write(JSON.stringify(q));' "$(json_get "$CONTRACT" 'j.metrics.namespace')" "$(json_get "$CONTRACT" 'j.metrics.functionDimension')" \
    "$(json_get "$CONTRACT" 'j.metrics.names.successfulRuns')" "${pairs[@]}" >"$WORK/queries.json"
  # (epoch seconds: the AWS CLI takes them, and `date -d` is GNU's only)
  aws_cli cloudwatch get-metric-data --start-time "$((now - 86400))" \
    --end-time "$now" --metric-data-queries "file://$WORK/queries.json" \
    --output json >"$WORK/metrics.json" 2>"$WORK/cw.err" ||
    die "could not read the functions' metrics: $(tr -s '\n' ' ' <"$WORK/cw.err")"
  # Dead-letter queues: the depth (messages hidden by a replay under way count too), and one
  # message peeked (visibility 0: it stays for the replay; a 1 s wait, as a short poll of a
  # shallow queue may answer nothing).
  local visible hidden
  for i in "${!crates[@]}"; do
    read -r visible hidden < <(aws_cli sqs get-queue-attributes --queue-url "${dlq_urls[$i]}" \
      --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
      --query '[Attributes.ApproximateNumberOfMessages, Attributes.ApproximateNumberOfMessagesNotVisible]' \
      --output text 2>"$WORK/sqs.err" || echo 'failed failed') || true
    [ "$visible" != failed ] ||
      die "could not read ${crates[$i]}'s dead-letter queue: $(tr -s '\n' ' ' <"$WORK/sqs.err")"
    echo $((${visible:-0} + ${hidden:-0})) >"$WORK/dlq$i.depth"
    printf '{}' >"$WORK/dlq$i.json"
    if [ "$(cat "$WORK/dlq$i.depth")" != 0 ]; then
      aws_cli sqs receive-message --queue-url "${dlq_urls[$i]}" --max-number-of-messages 1 --visibility-timeout 0 \
        --wait-time-seconds 1 --attribute-names All --message-attribute-names All --output json >"$WORK/dlq$i.json" 2>"$WORK/sqs.err" ||
        die "could not look into ${crates[$i]}'s dead-letter queue: $(tr -s '\n' ' ' <"$WORK/sqs.err")"
    fi
  done
  collect_jira_status
  # shellcheck disable=SC2016 # ${...} and $ below are JavaScript, not shell
  node -e '
const fs = require("fs");
const [work, now, target, crateList, nameList] = process.argv.slice(1);
const read = (name) => JSON.parse(fs.readFileSync(`${work}/${name}`, "utf8") || "{}");
const crates = crateList.split(" "), names = nameList.split("\n");
const series = Object.fromEntries(((read("metrics.json").MetricDataResults) || []).map((r) => [r.Id, r]));
const epoch = (t) => Math.floor(Date.parse(t) / 1000);
const functions = crates.map((crate, i) => {
  const errors = series[`errors${i}`] || { Timestamps: [], Values: [] };
  const runs = series[`runs${i}`] || { Timestamps: [], Values: [] };
  const ages = series[`age${i}`] || { Timestamps: [], Values: [] };
  const errorsLastHour = errors.Timestamps.reduce((sum, t, k) => (epoch(t) >= now - 3600 ? sum + errors.Values[k] : sum), 0);
  const ran = runs.Timestamps.filter((t, k) => runs.Values[k] > 0).map(epoch);
  const lastSuccessfulRun = ran.length ? Math.max(...ran) : null;
  // The newest datapoint of the age, grown by the time since it (SQS sends none for an idle
  // queue); the peeked message SentTimestamp is preferred below.
  const newestAt = ages.Timestamps.length ? Math.max(...ages.Timestamps.map(epoch)) : null;
  const newestAge = newestAt === null ? null : ages.Values[ages.Timestamps.map(epoch).indexOf(newestAt)] + Math.max(0, Number(now) - newestAt);
  const depth = Number(fs.readFileSync(`${work}/dlq${i}.depth`, "utf8").trim()) || 0;
  const peeked = (read(`dlq${i}.json`).Messages || [])[0];
  let sample = null, oldest = newestAge;
  if (peeked) {
    const attributes = {};
    for (const [k, v] of Object.entries(peeked.MessageAttributes || {})) attributes[k] = v.StringValue;
    sample = { body: peeked.Body, attributes };
    const sent = Number((peeked.Attributes || {}).SentTimestamp);
    if (sent) oldest = Math.max(oldest || 0, Number(now) - Math.floor(sent / 1000));
  }
  return { crate, name: names[i], lastSuccessfulRun, errorsLastHour, deadLetters: { messages: depth, oldestAgeSeconds: depth ? oldest : null, sample } };
});
const rules = fs.readFileSync(`${work}/rules.jsonl`, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
  .map((r) => ({ name: r.Name, state: r.State, schedule: r.ScheduleExpression || null }));
process.stdout.write(JSON.stringify({ target, now: Number(now), functions, rules, jira: read("jira-status.json") }));
' "$WORK" "$now" "stack $stack_name in $region" "$(json_get "$CONTRACT" 'Object.values(j.functions).map(f => f.crate).join(" ")')" \
    "$(printf '%s\n' "${fn_names[@]}")" >"$WORK/status.json"
}

# Jira's part of the facts, into $WORK/jira-status.json: the deployed site, user and token (SSM),
# the flavour the functions use (jira-client's environment); /myself and the labelled issues.
collect_jira_status() {
  local prefix jira_env code label fields_ok
  prefix=$(parameter_prefix)
  url=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraUrl')" --query Parameter.Value --output text 2>"$WORK/ssm.err") ||
    die "could not read the deployed Jira URL: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
  email=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraEmail')" --query Parameter.Value --output text 2>"$WORK/ssm.err") ||
    die "could not read the deployed Jira user: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
  project_key=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraProjectKey')" --query Parameter.Value --output text 2>"$WORK/ssm.err") ||
    die "could not read the deployed Jira project: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
  # The token's expiry date (deploy.sh stores it beside the token; none before this release).
  local token_expires_on
  token_expires_on=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraTokenExpiresOn')" \
    --query Parameter.Value --output text 2>"$WORK/ssm.err") || {
    grep -q ParameterNotFound "$WORK/ssm.err" || die "could not read the Jira token's expiry date: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
    token_expires_on=''
  }
  # Where the REST calls go (the site, or its API gateway for a token with scopes).
  api_base=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraApiUrl')" \
    --query Parameter.Value --output text 2>"$WORK/ssm.err") || {
    grep -q ParameterNotFound "$WORK/ssm.err" || die "could not read where the functions call Jira: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
    api_base=''
  }
  [ "$api_base" != "$url" ] || api_base=''
  # The token goes there: only the site's gateway, as the functions check too.
  [[ -z $api_base || $api_base =~ ^https://api\.atlassian\.com/ex/jira/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] || {
    printf '    warning: the stored Jira API URL %s is not Atlassian'"'"'s API gateway: ignored (the functions ignore it too)\n' "$api_base" >&2
    api_base=''
  }
  JIRA_TOKEN=$(aws_cli ssm get-parameter --name "$prefix/$(json_get "$CONTRACT" 'j.parameters.jiraToken')" --with-decryption \
    --query Parameter.Value --output text 2>"$WORK/ssm.err") ||
    die "could not read the deployed Jira token: $(tr -s '\n' ' ' <"$WORK/ssm.err")"
  jira_env=$(aws_cli lambda get-function-configuration --function-name "$(stack_output JiraClientFunctionName)" \
    --query 'Environment.Variables' --output json 2>"$WORK/lambda.err") ||
    die "could not read jira-client's configuration: $(tr -s '\n' ' ' <"$WORK/lambda.err")"
  jira_flavor=$(printf '%s' "$jira_env" | node -e 'const e = JSON.parse(require("fs").readFileSync(0, "utf8")) || {}; process.stdout.write(e.JIRA_FLAVOR === "data-center" ? "data-center" : "cloud")')
  jira_auth=$(printf '%s' "$jira_env" | node -e 'const e = JSON.parse(require("fs").readFileSync(0, "utf8")) || {}; process.stdout.write(e.JIRA_AUTH || "token")')
  JIRA_API=3
  [ "$jira_flavor" != data-center ] || JIRA_API=2
  write_curl_config
  JIRA_TOKEN=''
  code=$(jira_get "/rest/api/$JIRA_API/myself")
  node -e '
const fs = require("fs");
const [file, code, err, flavor] = process.argv.slice(1);
let user = null;
try { const j = JSON.parse(fs.readFileSync(file, "utf8")); user = flavor === "data-center" ? j.name : j.emailAddress || j.displayName; } catch (e) {}
process.stdout.write(JSON.stringify({ status: Number(code) || 0, user, error: Number(code) ? null : err }));' \
    "$WORK/jira.json" "$code" "$(tr -s '\n' ' ' <"$WORK/curl.err")" "$jira_flavor" >"$WORK/jira-credentials.json"
  label=$(json_get "$CONTRACT" 'j.syncProblemLabel')
  local jql="project = \"$project_key\" AND labels = \"$label\" ORDER BY updated DESC"
  fields_ok=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$jql")
  if [ "$code" = 200 ]; then
    if [ "$jira_flavor" = data-center ]; then
      code=$(jira_get "/rest/api/2/search?jql=$fields_ok&fields=summary&maxResults=50")
    else
      code=$(jira_get "/rest/api/3/search/jql?jql=$fields_ok&fields=summary&maxResults=50")
    fi
  else
    code=''
  fi
  rm -f "$WORK/curl.cfg"
  # shellcheck disable=SC2016 # ${...} and $ below are JavaScript, not shell
  node -e '
const fs = require("fs");
const [work, code, url, tokenExpiresOn] = process.argv.slice(1);
const credentials = JSON.parse(fs.readFileSync(`${work}/jira-credentials.json`, "utf8"));
let problems = { status: Number(code) || 0, keys: [], more: false, error: code ? null : "not asked" };
if (code === "200") {
  try {
    const j = JSON.parse(fs.readFileSync(`${work}/jira.json`, "utf8"));
    problems.keys = (j.issues || []).map((i) => i.key);
    problems.more = Boolean(j.nextPageToken) || (typeof j.total === "number" && j.total > problems.keys.length);
  } catch (e) { problems = { status: 0, keys: [], more: false, error: "an answer that is not JSON" }; }
}
process.stdout.write(JSON.stringify({ url, credentials, problems, tokenExpiresOn }));' "$WORK" "$code" "$url" "$token_expires_on" >"$WORK/jira-status.json"
  rm -f "$WORK/jira.json"
}

status() {
  validate_common_args
  make_workdir
  check_node
  check_aws_cli
  need curl 'install curl (the status asks Jira whether the credentials still work)'
  collect_status
  print_status "$WORK/status.json"
}

# ---------------------------------------------------------------------------------------------
# --replay-dlq: each dead-lettered event invoked again, deleted only once its function succeeded
# ---------------------------------------------------------------------------------------------
replay_dlq() {
  validate_common_args
  make_workdir
  check_node
  check_aws_cli
  local crates crate pascal fn_name queue replayed=0 failed=0 listed=0 known
  aws_cli cloudformation describe-stacks --stack-name "$stack_name" --query 'Stacks[0].Outputs' \
    --output json >"$WORK/outputs.json" 2>"$WORK/cfn.err" ||
    die "stack $stack_name not found in $region: $(tr -s '\n' ' ' <"$WORK/cfn.err")"
  known=$(json_get "$CONTRACT" 'Object.values(j.functions).map(f => f.crate).join(" ")')
  if [ -n "$replay_function" ]; then
    [[ " $known " == *" $replay_function "* ]] || fail "--function $replay_function: use one of $known"
    crates=("$replay_function")
  else
    read -r -a crates <<<"$known"
  fi
  $dry_run && say 'dry run: each dead-lettered event is listed, none is invoked or deleted'
  for crate in "${crates[@]}"; do
    pascal=$(json_get "$CONTRACT" 'Object.entries(j.functions).filter(([k, f]) => f.crate === arg).map(([k]) => k[0].toUpperCase() + k.slice(1))[0]' "$crate")
    fn_name=$(stack_output "${pascal}FunctionName")
    queue=$(stack_output "${pascal}DeadLetterQueueUrl")
    [ -n "$fn_name" ] && [ -n "$queue" ] || die "the stack $stack_name has no ${pascal}FunctionName or ${pascal}DeadLetterQueueUrl output"
    say "$crate: its dead-letter queue"
    : >"$WORK/kept"
    while true; do
      # Hidden while it is handled (and, if kept, until the end of this run: each message once).
      aws_cli sqs receive-message --queue-url "$queue" --max-number-of-messages 1 --visibility-timeout 300 \
        --wait-time-seconds 2 --attribute-names All --message-attribute-names All --output json >"$WORK/message.json" 2>"$WORK/sqs.err" ||
        die "could not read $crate's dead-letter queue: $(tr -s '\n' ' ' <"$WORK/sqs.err")"
      # shellcheck disable=SC2016 # the node script below is JavaScript
      node -e "$DLQ_JS"'
const fs = require("fs");
const [file, out] = process.argv.slice(1);
const m = ((JSON.parse(fs.readFileSync(file, "utf8") || "{}") || {}).Messages || [])[0];
if (!m) process.exit(3);
const attributes = {};
for (const [k, v] of Object.entries(m.MessageAttributes || {})) attributes[k] = v.StringValue;
for (const [k, v] of Object.entries(m.Attributes || {})) if (!(k in attributes)) attributes[k] = v;
fs.writeFileSync(out, payload(m.Body));
fs.writeFileSync(out + ".handle", m.ReceiptHandle);
const sent = Number((m.Attributes || {}).SentTimestamp);
const age = sent ? `, dead-lettered ${Math.max(0, Math.floor((Date.now() - sent) / 60000))} min ago` : "";
process.stdout.write(`${what(m.Body)}${age}; it failed with: ${firstError(attributes)}`);' \
        "$WORK/message.json" "$WORK/event.json" >"$WORK/what" || {
        [ $? = 3 ] && break
        die "could not read a message of $crate's dead-letter queue"
      }
      printf '    %s\n' "$(cat "$WORK/what")"
      if $dry_run; then
        listed=$((listed + 1))
        cat "$WORK/event.json.handle" >>"$WORK/kept"
        printf '\n' >>"$WORK/kept"
        continue
      fi
      local function_error
      if ! function_error=$(aws_cli lambda invoke --function-name "$fn_name" --cli-binary-format raw-in-base64-out \
        --payload "file://$WORK/event.json" --query FunctionError --output text "$WORK/response.json" 2>"$WORK/invoke.err"); then
        function_error="could not invoke: $(tr -s '\n' ' ' <"$WORK/invoke.err")"
      fi
      if [ -z "$function_error" ] || [ "$function_error" = None ]; then
        aws_cli sqs delete-message --queue-url "$queue" --receipt-handle "$(cat "$WORK/event.json.handle")" 2>"$WORK/sqs.err" ||
          die "$crate ran the event but its message could not be deleted (it would run again; that is safe): $(tr -s '\n' ' ' <"$WORK/sqs.err")"
        replayed=$((replayed + 1))
        printf '        replayed: %s ran it and succeeded; the message is deleted\n' "$crate"
      else
        failed=$((failed + 1))
        cat "$WORK/event.json.handle" >>"$WORK/kept"
        printf '\n' >>"$WORK/kept"
        printf '        failed again (%s): %s; the message stays in the queue\n' "$function_error" \
          "$(json_get "$WORK/response.json" 'j.errorMessage || JSON.stringify(j)' 2>/dev/null | head -c 500)"
      fi
    done
    # What stays goes back to visible at once, for the next look or replay.
    local handle
    while IFS= read -r handle; do
      [ -n "$handle" ] || continue
      aws_cli sqs change-message-visibility --queue-url "$queue" --receipt-handle "$handle" --visibility-timeout 0 2>/dev/null ||
        printf '    (a kept message shows again within 5 minutes)\n'
    done <"$WORK/kept"
  done
  rm -f "$WORK/event.json" "$WORK/event.json.handle" "$WORK/message.json" "$WORK/response.json"
  if $dry_run; then
    say "$listed dead-lettered event(s); dry run: nothing was invoked or deleted"
  else
    say "$replayed replayed, $failed failed again (kept in the queue)"
  fi
  [ "$failed" = 0 ] || exit 1
}

# ---------------------------------------------------------------------------------------------
# --local: everything on this machine (tests/local-world, binary sir-jira-local); nothing here touches AWS
# ---------------------------------------------------------------------------------------------
run_local() {
  command -v cargo >/dev/null || die 'cargo is not installed: install Rust from https://rustup.rs'
  command -v python3 >/dev/null || die 'python3 is not installed (moto runs from a virtualenv)'
  local args=()
  $demo && args+=(--demo)
  # No detection here: auto is Jira Cloud, as for the local binary.
  case $jira_flavor in
    auto | cloud) [ -z "$jira_auth" ] || fail "--jira-auth goes with --jira-flavor data-center only" ;;
    data-center)
      $reconcile && fail '--jira-flavor does not go with --reconcile'
      [ -z "$url$email$project_key$token_arg" ] ||
        fail '--local --jira-flavor data-center runs against the Jira emulator only: a Jira Data Center site cannot call the webhook URL on this machine'
      [ "${jira_auth:-token}" = token ] ||
        fail '--local signs in to Jira Data Center with a personal access token only: drop --jira-auth basic'
      case $intake in
        '' | webhook) intake=webhook ;;
        *) fail "--intake $intake does not go with Jira Data Center: it has no Amazon SNS action for Jira Automation to publish with; its intake is the signed Jira webhook (--intake webhook, the default there)" ;;
      esac ;;
    *) fail "--jira-flavor $jira_flavor: use auto, cloud or data-center" ;;
  esac
  case $intake in
    '' | automation) ;;
    webhook | both)
      $reconcile && fail '--intake does not go with --reconcile'
      args+=(--intake "$intake") ;;
    *) fail "--intake $intake: use automation, webhook or both" ;;
  esac
  [ "$jira_flavor" != data-center ] || args+=(--jira-flavor data-center)
  if $reconcile; then
    args+=(--reconcile)
    $dry_run && args+=(--dry-run)
    $audit && args+=(--audit)
  fi
  if $replay_wanted; then
    [ "$jira_flavor:$intake" = auto: ] || fail '--replay-dlq asks the running local world: it needs no --intake or --jira-flavor'
    args+=(--replay-dlq)
    [ -z "$replay_function" ] || args+=(--function "$replay_function")
    $dry_run && args+=(--dry-run)
  fi
  if $status_wanted; then
    [ "$jira_flavor:$intake" = auto: ] || fail '--status asks the running local world: it needs no --intake or --jira-flavor'
    need node 'install Node.js 20 or later (https://nodejs.org): it prints the status'
    args+=(--status)
  fi
  [ -z "$token_expires" ] || [ -n "$url" ] || fail "--token-expires goes with a real Jira site (--url …): the Jira emulator's token does not expire"
  if [ -n "$url$email$project_key$token_arg" ]; then
    $demo && fail '--demo runs against the Jira emulator only; drop --email/--url/--token/--project-key'
    # No detection here: a host that is not Atlassian's may be a Data Center, which --local cannot
    # serve (it cannot call this machine's webhook URL).
    if [ "$jira_flavor" = auto ]; then
      [ -z "$url" ] || is_cloud_host ||
        fail "--local with a Jira site: $url is not an Atlassian Cloud host (*.atlassian.net, *.jira.com); for a Jira Cloud site on its own domain pass --jira-flavor cloud (a Jira Data Center site cannot call the webhook URL on this machine)"
      jira_flavor=cloud
    fi
    validate_deploy_args
    [ -n "$email" ] || fail '--local with a Jira site needs --email (on Jira Data Center: the user name)'
    read_token
    args+=(--url "$url" --email "$email" --project-key "$project_key")
    if [ -n "$token_expires" ]; then
      check_token_expiry "$token_expires"
      args+=(--token-expires "$token_expires")
    fi
    # Signed in as a deployment is (an API token with scopes goes through Atlassian's gateway),
    # so a refused token stops here, before the build.
    if $skip_jira_check; then
      say 'Jira check skipped (--skip-jira-check): the functions call the site itself'
    else
      need curl 'install curl, or pass --skip-jira-check'
      need node 'install Node.js 20 or later (https://nodejs.org): it reads the answers of Jira'
      make_workdir
      JIRA_API=3
      write_curl_config
      say "Jira credentials at $url (GET /myself)"
      sign_in_check
      rm -f "$WORK/curl.cfg" "$WORK/jira.json"
      case $MYSELF_CODE in
        200) [ -z "$api_base" ] || args+=(--jira-api-url "$api_base") ;;
        401) die_cloud_token_refused ;;
        000) die "cannot reach $url: $(tr -s '\n' ' ' <"$WORK/curl.err")" ;;
        *) printf '    warning: unexpected HTTP %s from %s/rest/api/3/myself; going on\n' "$MYSELF_CODE" "$url" ;;
      esac
      # The binary replaces this shell below, so the exit trap would not remove it.
      rm -rf "$WORK"
      WORK=''
    fi
    # The binary reads the token from its environment, never from argv.
    export JIRA_API_TOKEN=$JIRA_TOKEN
  fi
  say 'set-up: .venv with moto (tests/bootstrap.sh)'
  "$ROOT/tests/bootstrap.sh" >/dev/null || die 'tests/bootstrap.sh failed (see above)'
  say 'building the local integration (the first build takes several minutes)'
  # The same build as ./run-tests.sh (whole workspace, tests included): one set of dependency
  # features, so neither ever rebuilds the other's dependencies.
  (cd "$ROOT" && cargo build --quiet --locked --workspace --bins --tests) || die 'the build failed (see above)'
  local binary="${CARGO_TARGET_DIR:-$ROOT/target}/debug/sir-jira-local"
  [ -x "$binary" ] || die "the build did not produce $binary"
  cd "$ROOT"
  if $status_wanted; then
    make_workdir
    "$binary" "${args[@]}" >"$WORK/status.json" || die 'the running local world did not answer (see above)'
    print_status "$WORK/status.json"
    return
  fi
  exec "$binary" "${args[@]}"
}

main() {
  parse_args "$@"
  $demo && [ "$mode" != local ] && fail '--demo goes with --local'
  $audit && ! $reconcile && fail '--audit goes with --reconcile (the scheduled audit is set with --audit-interval-minutes and --audits-per-pass)'
  [ -z "$replay_function" ] || $replay_wanted || fail '--function goes with --replay-dlq'
  if $replay_wanted; then
    [ "$mode" != destroy ] || fail '--replay-dlq does not go with --destroy'
    if $reconcile || $status_wanted || $demo; then fail '--replay-dlq goes alone (with --function and --dry-run)'; fi
    [ -z "$url$email$project_key$token_arg$token_expires" ] || fail '--replay-dlq needs no Jira options'
    [ "$mode" = local ] || mode=replay
  fi
  if $status_wanted; then
    [ "$mode" != destroy ] || fail '--status does not go with --destroy'
    $reconcile && fail '--status does not go with --reconcile'
    $demo && fail '--status does not go with --demo'
    [ -z "$url$email$project_key$token_arg$token_expires" ] || fail '--status needs no Jira options: it reads the deployed ones'
    [ "$mode" = local ] || mode=status
  fi
  if $reconcile; then
    [ "$mode" != destroy ] || fail '--reconcile does not go with --destroy'
    $demo && fail '--reconcile does not go with --demo'
    [ -z "$url$email$project_key$token_arg$token_expires" ] || fail '--reconcile needs no Jira options'
    [ "$mode" = local ] || mode=reconcile
  fi
  case $mode in
    local) run_local ;;
    deploy) deploy ;;
    destroy) destroy ;;
    reconcile) reconcile ;;
    status) status ;;
    replay) replay_dlq ;;
  esac
}

main "$@"
