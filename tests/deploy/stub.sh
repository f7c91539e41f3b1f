#!/usr/bin/env bash
# Stand-in for aws, npx (cdk), npm, cargo, curl, rustup and python3 in the deploy.sh tests (linked under
# each name). Appends every call to $STUB_LOG as one line, the tool and its shell-quoted argv,
# plus the environment variables that matter; keeps copies of the files deploy.sh hands over
# (the SSM value file, the curl config) in $STUB_DIR; answers the calls deploy.sh makes the way
# the real tool would. STUB_* variables steer failures.
set -euo pipefail
tool=$(basename "$0")
{
  printf '%s' "$tool"
  for arg in "$@"; do printf ' %q' "$arg"; done
  printf '\n'
  printf '  env AWS_REGION=%s AWS_PROFILE=%s JIRA_API_TOKEN=%s cwd=%s\n' \
    "${AWS_REGION:-}" "${AWS_PROFILE:-}" "${JIRA_API_TOKEN:+set}" "$PWD"
} >>"$STUB_LOG"
note() { printf '  %s\n' "$*" >>"$STUB_LOG"; }

# The value after option $1 in the rest of the arguments.
option() {
  local want=$1
  shift
  while [ $# -gt 1 ]; do
    if [ "$1" = "$want" ]; then
      printf '%s' "$2"
      return 0
    fi
    shift
  done
  return 1
}

case $tool in
  aws)
    case " $* " in
      *" sts get-caller-identity "*)
        if [ -n "${STUB_STS_FAIL:-}" ]; then
          echo 'Unable to locate credentials. You can configure credentials by running "aws configure".' >&2
          exit 255
        fi
        echo 123456789012 ;;
      *" configure get region "*)
        [ -n "${STUB_PROFILE_REGION:-}" ] || exit 1
        echo "$STUB_PROFILE_REGION" ;;
      *" ssm get-parameters "*)
        # The token and its expiry date as deployed ([name, value] pairs, the --query deploy.sh
        # asks for); STUB_TOKEN_EXPIRES unset: no expiry parameter.
        node -e '
          const [token, expires] = process.argv.slice(1);
          const out = [["/SecurityIncidentResponse/jiraToken", token]];
          if (expires) out.push(["/SecurityIncidentResponse/jiraTokenExpiresOn", expires]);
          console.log(JSON.stringify(out));' "${STUB_DEPLOYED_TOKEN:-ATATT3xFfGF0-DEPLOYED-token}" "${STUB_TOKEN_EXPIRES:-}" ;;
      *" ssm get-parameter "*" --query Parameter.Type "*)
        echo "${STUB_WEBHOOK_SECRET_TYPE:-SecureString}" ;;
      *" ssm get-parameter "*)
        case $(option --name "$@") in
          */jiraUrl) stored=${STUB_JIRA_URL:-https://example.atlassian.net} ;;
          */jiraEmail) stored=bot@example.com ;;
          */jiraProjectKey) stored=SEC ;;
          */jiraToken) stored=${STUB_DEPLOYED_TOKEN:-ATATT3xFfGF0-DEPLOYED-token} ;;
          */jiraTokenExpiresOn) stored=${STUB_TOKEN_EXPIRES:-} ;;
          */jiraApiUrl) stored=${STUB_API_URL:-} ;;
          */backfill) stored=${STUB_BACKFILL:-} ;;
          */statusMapping) stored=${STUB_STATUS_MAPPING:-} ;;
          */jiraWebhookSecret) stored=${STUB_WEBHOOK_SECRET:-} ;;
          *) stored=${STUB_INSTALLED_AT:-} ;;
        esac
        if [ -z "$stored" ]; then
          echo 'An error occurred (ParameterNotFound) when calling the GetParameter operation: ' >&2
          exit 254
        fi
        echo "$stored" ;;
      *" security-ir list-cases "*)
        # The items of the JSON array in $STUB_SIR_CASES (none when unset), in pages of
        # $STUB_SIR_PAGE_SIZE with the CLI's NextToken (here: the next item's index).
        if [ -n "${STUB_SIR_FAIL:-}" ]; then
          echo 'An error occurred (AccessDeniedException) when calling the ListCases operation: not a member' >&2
          exit 254
        fi
        start=$(option --starting-token "$@" || echo 0)
        node -e '
          const [file, start, size] = process.argv.slice(1);
          const all = file ? JSON.parse(require("fs").readFileSync(file, "utf8")) : [];
          const from = Number(start), to = from + Number(size);
          const out = { items: all.slice(from, to) };
          if (to < all.length) out.NextToken = String(to);
          console.log(JSON.stringify(out));' "${STUB_SIR_CASES:-}" "$start" "${STUB_SIR_PAGE_SIZE:-100}" ;;
      *" ssm put-parameter "*)
        value=$(option --value "$@")
        file=${value#file://}
        [ "$file" != "$value" ] || { note "value-not-a-file"; exit 1; }
        case $(option --name "$@") in
          */jiraTokenExpiresOn) cp "$file" "$STUB_DIR/ssm-value-expires" ;;
          */jiraApiUrl) cp "$file" "$STUB_DIR/ssm-value-api-url" ;;
          *) cp "$file" "$STUB_DIR/ssm-value" ;;
        esac
        note "value-file mode=$(stat -c %a "$file")"
        echo 1 ;;
      *" ec2 describe-subnets "*)
        [ -z "${STUB_EC2_FAIL:-}" ] || { echo 'An error occurred (InvalidSubnetID.NotFound) when calling the DescribeSubnets operation' >&2; exit 254; }
        echo "${STUB_SUBNET_VPCS:-vpc-0123456789abcdef0}" ;;
      *" ec2 describe-security-groups "*)
        echo "${STUB_SECURITY_GROUP_VPCS:-vpc-0123456789abcdef0}" ;;
      *" cloudformation describe-stacks "*)
        if [ -n "${STUB_NO_STACK:-}" ]; then
          echo 'An error occurred (ValidationError): Stack with id X does not exist' >&2
          exit 254
        fi
        case " $* " in
          *" Stacks[0].Outputs "*)
            # Every function's name and dead-letter queue, as the stack's outputs name them.
            # shellcheck disable=SC2016 # JavaScript template literals
            node -e '
              const out = [];
              for (const p of ["Poller", "JiraClient", "JiraNotificationsHandler", "SirClient"]) {
                out.push({ OutputKey: `${p}FunctionName`, OutputValue: `SecurityIncidentResponseJira-${p}-TEST` });
                out.push({ OutputKey: `${p}DeadLetterQueueUrl`, OutputValue: `https://sqs.eu-west-1.amazonaws.com/123456789012/SecurityIncidentResponseJira-${p}DeadLetterQueue-TEST` });
              }
              out.push({ OutputKey: "PollerScheduleRuleName", OutputValue: "SecurityIncidentResponseJira-poller-schedule" });
              console.log(JSON.stringify(out));' ;;
          *PollerFunctionName*) echo "${STUB_POLLER:-SecurityIncidentResponseJira-Poller-TEST}" ;;
          *) echo "${STUB_TABLE:-SecurityIncidentResponseJira-MappingTable-TEST}" ;;
        esac ;;
      *" cloudformation list-stack-resources "*)
        printf 'SecurityIncidentResponseJira-poller-schedule\tsecurity-incident-event-bus|SecurityIncidentResponseJira-JiraClientRule-TEST\tsecurity-incident-event-bus|SecurityIncidentResponseJira-SirClientRule-TEST\n' ;;
      *" events describe-rule "*)
        name=$(option --name "$@")
        state=ENABLED
        [ -z "${STUB_RULE_DISABLED:-}" ] || [[ $name != *"$STUB_RULE_DISABLED"* ]] || state=DISABLED
        schedule=''
        [[ $name != *schedule* ]] || schedule=',"ScheduleExpression":"rate(1 minute)"'
        printf '{"Name":"%s","EventBusName":"%s","State":"%s"%s}\n' "$name" "$(option --event-bus-name "$@")" "$state" "$schedule" ;;
      *" cloudwatch get-metric-data "*)
        # Each function ran successfully 10 minutes ago (STUB_LAST_RUN_AGO seconds), no errors
        # unless STUB_ERRORS (errors of the function whose query ids end in it, 5 minutes ago);
        # queries in the file deploy.sh hands over.
        queries=$(option --metric-data-queries "$@")
        cp "${queries#file://}" "$STUB_DIR/metric-queries.json"
        # shellcheck disable=SC2016 # JavaScript template literals
        node -e '
          const [file, end, ago, errorsOf] = process.argv.slice(1);
          const q = JSON.parse(require("fs").readFileSync(file, "utf8"));
          // The CLI takes epoch seconds (what deploy.sh passes) or ISO 8601.
          const endMs = /^\d+$/.test(end) ? Number(end) * 1000 : Date.parse(end);
          if (!Number.isFinite(endMs)) { console.error(`--end-time ${end} is not a time`); process.exit(252); }
          const t = (s) => new Date(endMs - s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
          const results = q.map((x) => {
            if (x.Id.startsWith("runs")) return { Id: x.Id, Timestamps: [t(Number(ago))], Values: [1] };
            if (x.Id === `errors${errorsOf}`) return { Id: x.Id, Timestamps: [t(300)], Values: [4] };
            return { Id: x.Id, Timestamps: [], Values: [] };
          });
          console.log(JSON.stringify({ MetricDataResults: results }));' \
          "${queries#file://}" "$(option --end-time "$@")" "${STUB_LAST_RUN_AGO:-600}" "${STUB_ERRORS:-none}" ;;
      *" sqs get-queue-attributes "*)
        case $(option --queue-url "$@") in
          *JiraClientDeadLetterQueue*) printf '%s\t%s\n' "${STUB_DLQ_JIRA_CLIENT:-0}" "${STUB_DLQ_HIDDEN:-0}" ;;
          *) printf '0\t0\n' ;;
        esac ;;
      *" sqs receive-message "*)
        # The queues named in STUB_DLQ_QUEUES (default JiraClient, NotificationsHandler) hold
        # STUB_DLQ_MESSAGES messages each (default 1), handed out once each: jira-client's a
        # Lambda async DLQ message (the EventBridge event, Lambda's error attributes),
        # jira-notifications-handler's SNS's envelope from the subscription's redrive.
        queue=$(option --queue-url "$@")
        queue=${queue##*/}
        count_file="$STUB_DIR/received-$queue"
        received=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 ))
        echo "$received" >"$count_file"
        held=false
        for name in ${STUB_DLQ_QUEUES:-JiraClient JiraNotificationsHandler}; do
          [[ $queue != *"-${name}DeadLetterQueue-"* ]] || held=true
        done
        if ! $held || [ "$received" -gt "${STUB_DLQ_MESSAGES:-1}" ]; then
          echo '{}'
          exit 0
        fi
        if [[ $queue == *JiraNotificationsHandler* ]]; then
          node -e '
            const body = JSON.stringify({ Type: "Notification", MessageId: "n1", TopicArn: "arn:aws:sns:eu-west-1:123456789012:SecurityIncidentResponseJira-JiraAutomationTopic-TEST",
              Message: JSON.stringify({ automationData: { IssueId: "SEC-12" } }), Timestamp: "2026-12-04T10:00:00.000Z",
              SignatureVersion: "1", Signature: "c2ln", SigningCertURL: "https://sns.eu-west-1.amazonaws.com/cert.pem", UnsubscribeURL: "https://sns.eu-west-1.amazonaws.com/?unsub" });
            console.log(JSON.stringify({ Messages: [{ MessageId: "m2", ReceiptHandle: "r-sns-" + process.argv[1], Body: body,
              Attributes: { SentTimestamp: String(Date.now() - 600 * 1000) } }] }));' "$received"
          exit 0
        fi
        node -e '
          const body = JSON.stringify({ version: "0", id: "e1", "detail-type": "CaseUpdated", source: "security-ir", detail: { case: { caseId: "1234567890" } } });
          console.log(JSON.stringify({ Messages: [{ MessageId: "m1", ReceiptHandle: "r1", Body: body,
            Attributes: { SentTimestamp: String(Date.now() - (3 * 3600 + 60) * 1000) },
            MessageAttributes: { ErrorCode: { DataType: "Number", StringValue: "200" }, ErrorMessage: { DataType: "String", StringValue: "Jira answered 400: Field customfield_1 is required" }, RequestID: { DataType: "String", StringValue: "req-1" } } }] }).replace("\"r1\"", JSON.stringify("r-eb-" + process.argv[1])));' "$received" ;;
      *" lambda get-function-configuration "*)
        echo "${STUB_JIRA_CLIENT_ENV:-null}" ;;
      *" lambda invoke "*" --payload file://"*)
        # --replay-dlq: the event as invoked is kept; STUB_INVOKE_FAIL makes the function fail.
        payload=$(option --payload "$@")
        n=1
        while [ -e "$STUB_DIR/invoked-$n.json" ]; do n=$((n + 1)); done
        cp "${payload#file://}" "$STUB_DIR/invoked-$n.json"
        if [ -n "${STUB_INVOKE_FAIL:-}" ]; then
          printf '{"errorType":"JiraClientError","errorMessage":"Jira answered HTTP 503"}' >"${!#}"
          echo Unhandled
        else
          printf '{"caseId":"1234567890"}' >"${!#}"
          echo None
        fi ;;
      *" lambda invoke "*)
        # The poller's answer to {"reconcile":{"dryRun":…}}: one pending pair (and
        # STUB_RECONCILE_REMAINING more beyond the request's bound); with "audit":true, two open
        # pairs audited (the second one's case gone) and one more beyond the bound.
        dry=false
        [[ " $* " != *'"dryRun":true'* ]] || dry=true
        republished=true
        ! $dry || republished=false
        audit=''
        [[ " $* " != *'"audit":true'* ]] ||
          audit=$(printf ',"audit":{"pairs":[{"caseId":"1234567890","issueKey":"SEC-7","published":%s},{"caseId":"2345678901","issueKey":"SEC-9","published":false}],"remaining":1}' "$republished")
        printf '{"listed":0,"read":0,"swept":0,"published":[],"schedule":null,"reconcile":{"dryRun":%s,"pending":[{"caseId":"1234567890","issueKey":"SEC-7","eventType":"CaseUpdated","changedFields":["title","status"],"comments":2,"attachments":0,"ageSeconds":1500,"attempts":3,"republished":%s}],"remaining":%s%s}}' \
          "$dry" "$republished" "${STUB_RECONCILE_REMAINING:-0}" "$audit" >"${!#}"
        if [ -n "${STUB_INVOKE_ERROR:-}" ]; then echo Unhandled; else echo None; fi ;;
      *) ;;
    esac ;;
  npx)
    # npx --no-install cdk --no-notices <command> ...
    [ "${1:-}" = --no-install ] && [ "${2:-}" = cdk ] || { note "unexpected npx call"; exit 1; }
    command=${4:-}
    if [ "${STUB_CDK_FAIL:-}" = "$command" ]; then
      echo "cdk $command failed (stub)" >&2
      exit 1
    fi
    if [ "$command" = deploy ]; then
      stack=$5
      if outputs=$(option --outputs-file "$@"); then
        webhook=''
        [[ " $* " != *" webhookIntake=true "* ]] ||
          webhook=',"JiraWebhookUrl":"https://abc123.lambda-url.eu-west-1.on.aws/"'
        printf '{"%s":{"JiraAutomationTopicArn":"arn:aws:sns:eu-west-1:123456789012:%s-JiraAutomationTopic-TEST","MappingTableName":"T"%s}}\n' \
          "$stack" "$stack" "$webhook" >"$outputs"
      fi
    fi ;;
  npm)
    if [ "${1:-}" = ci ]; then
      mkdir -p node_modules/.bin
      printf '#!/bin/sh\n' >node_modules/.bin/cdk
      chmod +x node_modules/.bin/cdk
    fi ;;
  cargo)
    case "${1:-} ${2:-}" in
      "lambda --version")
        if [ -n "${STUB_NO_CARGO_LAMBDA:-}" ] && ! command -v cargo-lambda >/dev/null; then
          echo 'error: no such command: lambda' >&2
          exit 101
        fi
        echo 'cargo-lambda 1.9.2' ;;
      "lambda build")
        [ -z "${STUB_BUILD_FAIL:-}" ] || { echo 'error: could not compile (stub)' >&2; exit 101; }
        while [ $# -gt 0 ]; do
          if [ "$1" = --package ]; then
            mkdir -p "target/lambda/$2"
            printf 'binary\n' >"target/lambda/$2/bootstrap"
          fi
          shift
        done ;;
      *) echo 'cargo 1.95.0 (stub)' ;;
    esac ;;
  curl)
    # The credentials come in a config file (kept as $STUB_DIR/curl.cfg); serverInfo is asked
    # without any.
    config=''
    if config=$(option --config "$@"); then
      cp "$config" "$STUB_DIR/curl.cfg"
      note "config mode=$(stat -c %a "$config")"
    else
      note "no credentials"
    fi
    output=$(option --output "$@")
    printf '{}' >"$output"
    url=${!#}
    # STUB_SCOPED_TOKEN: the site refuses the token for everything (only the gateway takes it).
    if [ -n "${STUB_SCOPED_TOKEN:-}" ] && [ -n "$config" ] && [[ $url == https://example.atlassian.net/* ]]; then
      printf '401'
      exit 0
    fi
    case $url in
      */rest/api/2/serverInfo)
        # Jira Cloud unless STUB_JIRA_SERVER_INFO says otherwise; STUB_JIRA_SERVER_INFO_CODE=000: unreachable.
        cloud='{"baseUrl":"https://example.atlassian.net","version":"1001.0.0-SNAPSHOT","versionNumbers":[1001,0,0],"deploymentType":"Cloud","buildNumber":100290,"serverTitle":"Jira"}'
        printf '%s' "${STUB_JIRA_SERVER_INFO:-$cloud}" >"$output"
        [ "${STUB_JIRA_SERVER_INFO_CODE:-200}" != 000 ] || echo 'curl: (6) Could not resolve host: jira.example.com' >&2
        printf '%s' "${STUB_JIRA_SERVER_INFO_CODE:-200}" ;;
      */_edge/tenant_info)
        printf '{"cloudId":"8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f"}' >"$output"
        printf '200' ;;
      */rest/api/[23]/myself)
        printf '{"name":"%s","key":"JIRAUSER10100","displayName":"SIR integration"}' "${STUB_JIRA_MYSELF_NAME:-svc-sir}" >"$output"
        # STUB_SCOPED_TOKEN: an API token with scopes, refused by the site, taken by the gateway.
        if [ -n "${STUB_SCOPED_TOKEN:-}" ]; then
          case $url in
            https://api.atlassian.com/ex/jira/8f5d2a3c-4b1e-4c7a-9e0d-6a2b3c4d5e6f/*) printf '200' ;;
            *) printf '401' ;;
          esac
        else
          printf '%s' "${STUB_JIRA_MYSELF:-200}"
        fi ;;
      */rest/api/[23]/project/*) printf '%s' "${STUB_JIRA_PROJECT:-200}" ;;
      */rest/api/[23]/field)
        fields='[{"id":"labels","name":"Labels","schema":{"type":"array","items":"string","system":"labels"}},{"id":"customfield_10050","name":"AWS accounts","schema":{"type":"array","items":"string"}}]'
        printf '%s' "${STUB_JIRA_FIELDS:-$fields}" >"$output"
        printf '200' ;;
      */rest/webhooks/1.0/webhook)
        if data=$(option --data "$@"); then
          cp "${data#@}" "$STUB_DIR/webhook-post.json"
          note "webhook-post mode=$(stat -c %a "${data#@}")"
          printf '%s' "${STUB_JIRA_WEBHOOK_POST:-201}"
        else
          printf '%s' "${STUB_JIRA_WEBHOOKS:-[]}" >"$output"
          printf '%s' "${STUB_JIRA_WEBHOOKS_CODE:-200}"
        fi ;;
      */rest/api/3/search/jql[?]*)
        # The issues labelled with a sync problem (deploy.sh --status).
        note "search $(node -e 'process.stdout.write(new URL(process.argv[1]).searchParams.get("jql"))' "$url")"
        empty='{"issues":[]}'
        printf '%s' "${STUB_JIRA_PROBLEMS:-$empty}" >"$output"
        printf '200' ;;
      */rest/api/2/search[?]*fields=summary*)
        note "search $(node -e 'process.stdout.write(new URL(process.argv[1]).searchParams.get("jql"))' "$url")"
        empty='{"issues":[],"total":0}'
        printf '%s' "${STUB_JIRA_PROBLEMS:-$empty}" >"$output"
        printf '200' ;;
      */rest/api/2/search[?]*)
        # Jira Data Center's count: the search's total with maxResults=0.
        jql=$(node -e '
          const q = new URL(process.argv[1]).searchParams;
          process.stdout.write(q.get("maxResults") === "0" ? q.get("jql") : "maxResults is not 0");' "$url")
        note "dc-count $jql"
        if [ -n "${STUB_JIRA_BAD_JQL:-}" ] && [[ $jql == *"$STUB_JIRA_BAD_JQL"* ]]; then
          printf '{"errorMessages":["Error in the JQL Query: %s"]}' "$STUB_JIRA_BAD_JQL" >"$output"
          printf '400'
        else
          case $jql in
            *AND*) printf '{"startAt":0,"maxResults":0,"total":3,"issues":[]}' >"$output" ;;
            *) printf '{"startAt":0,"maxResults":0,"total":12,"issues":[]}' >"$output" ;;
          esac
          printf '200'
        fi ;;
      */rest/api/3/search/approximate-count)
        data=$(option --data "$@")
        jql=$(cat "${data#@}")
        note "count $jql"
        if [ -n "${STUB_JIRA_BAD_JQL:-}" ] && [[ $jql == *"$STUB_JIRA_BAD_JQL"* ]]; then
          printf '{"errorMessages":["Error in the JQL Query: %s"]}' "$STUB_JIRA_BAD_JQL" >"$output"
          printf '400'
        else
          # Every issue of the project: 12; those the filter matches: 3.
          case $jql in
            *AND*) printf '{"count":3}' >"$output" ;;
            *) printf '{"count":12}' >"$output" ;;
          esac
          printf '200'
        fi ;;
      *) printf '404' ;;
    esac ;;
  python3 | python)
    # python3 -m venv DIR, then DIR/bin/python -m pip install SPEC (which "installs" cargo-lambda)
    if [ "${1:-} ${2:-}" = "-m venv" ]; then
      mkdir -p "$3/bin"
      ln -s "$(readlink -f "$0")" "$3/bin/python"
    elif [ "${1:-} ${2:-} ${3:-}" = "-m pip install" ]; then
      printf '#!/bin/sh\n' >"$(dirname "$0")/cargo-lambda"
      chmod +x "$(dirname "$0")/cargo-lambda"
    fi ;;
  rustup)
    [ "${1:-} ${2:-}" != "target list" ] || echo aarch64-unknown-linux-gnu ;;
  *)
    note "unknown stub $tool"
    exit 1 ;;
esac
