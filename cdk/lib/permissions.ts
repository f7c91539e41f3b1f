// What each Lambda calls, per AWS service: the one table IAM is generated from. Each list follows
// the code that makes the calls (shared/src/store.rs, shared/src/sir.rs, shared/src/config.rs,
// shared/src/publisher.rs, poller/src/schedule.rs). The local world proves it both ways: every
// Lambda runs under this role in the end-to-end tests, the demo and the binaries' smoke test, and
// is refused any call not granted here (tests/local_iam.py, tests/tests/infra_iam.rs); and a
// grant no test used fails tests/iam_coverage.py unless NOT_EXERCISED_LOCALLY says why. After a
// change, `npm run iam-policies` rewrites cdk/iam-policies.json, the policies the local world
// enforces.
import { FunctionKey } from './contract';

/**
 * DynamoDB item actions on the mapping table. TransactWriteItems and TransactGetItems have no IAM
 * action of their own: each Put/Update/Delete/Get inside a transaction is authorised as
 * PutItem/UpdateItem/DeleteItem/GetItem (a case's records are read in one TransactGetItems, a
 * case's watchers' cached accounts read and written in one transaction each).
 */
export const TABLE_ACTIONS: Record<FunctionKey, string[]> = {
  // tracked cases (Query, PutItem, DeleteItem), snapshots and links (GetItem, also transactional),
  // item links (Query)
  poller: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem'],
  // claims (conditional PutItem, UpdateItem to renew, DeleteItem), links in a transaction (PutItem), mark_link_broken
  // (transactional Update → UpdateItem), snapshots, id maps, account cache
  jiraClient: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
  // issue snapshots and links: reads, snapshot writes, id-map queries
  jiraNotificationsHandler: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
  // the creating side for Jira-born cases: claims, links, id maps, snapshots
  sirClient: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
};

/**
 * Security Incident Response actions on case ARNs (`arn:…:security-ir:<region>:<account>:case/*`).
 * The Service Authorization Reference lists `case` as the (required) resource type of each of
 * these, CreateCase included; TagResource is CreateCase's dependent action when tags are given.
 */
export const SIR_CASE_ACTIONS: Record<FunctionKey, string[]> = {
  poller: ['security-ir:GetCase', 'security-ir:ListComments'],
  jiraClient: [
    'security-ir:GetCase',
    'security-ir:ListComments',
    'security-ir:GetCaseAttachmentDownloadUrl',
    'security-ir:ListTagsForResource',
    // the note on a case whose issue it finds deleted in Jira (the deletion's message lost)
    'security-ir:CreateCaseComment',
  ],
  jiraNotificationsHandler: [],
  sirClient: [
    'security-ir:CreateCase',
    'security-ir:TagResource',
    'security-ir:GetCase',
    'security-ir:UpdateCase',
    'security-ir:UpdateCaseStatus',
    'security-ir:CloseCase',
    'security-ir:CreateCaseComment',
    'security-ir:UpdateCaseComment',
    // finding the copy an earlier try made when its clientToken comes back as a conflict
    'security-ir:ListComments',
    'security-ir:GetCaseAttachmentUploadUrl',
  ],
};

/** Security Incident Response actions on membership ARNs (`…:membership/*`). */
export const SIR_MEMBERSHIP_ACTIONS: Record<FunctionKey, string[]> = {
  // the membership's incident response team joins every case's watchers (shared::sir::team_emails:
  // the poller's snapshots, sir-client's create and update paths)
  poller: ['security-ir:GetMembership'],
  jiraClient: [],
  jiraNotificationsHandler: [],
  sirClient: ['security-ir:GetMembership'],
};

/**
 * The only actions granted on `Resource: "*"`: the Service Authorization Reference lists no
 * resource type for them (they enumerate the caller's cases and memberships), so IAM accepts no
 * narrower resource.
 */
export const ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = ['security-ir:ListCases', 'security-ir:ListMemberships'];

export const SIR_UNSCOPED_ACTIONS: Record<FunctionKey, string[]> = {
  poller: ['security-ir:ListCases', 'security-ir:ListMemberships'],
  jiraClient: [],
  jiraNotificationsHandler: [],
  // ListMemberships finds the membership whose team team_emails reads
  sirClient: ['security-ir:ListMemberships'],
};

/**
 * SSM reads: the five Jira parameters (the token's expiry date included) in one GetParameters (decrypting the token), the mapping by
 * GetParameter, the case filter and installation time in one GetParameters, the backfill rule and
 * installation time in one GetParameters.
 */
export const SSM_READS: Record<FunctionKey, { jiraSettings: boolean; statusMapping: boolean; caseFilter: boolean; backfill: boolean; webhookSecret: boolean }> = {
  poller: { jiraSettings: false, statusMapping: false, caseFilter: false, backfill: true, webhookSecret: false },
  jiraClient: { jiraSettings: true, statusMapping: true, caseFilter: false, backfill: false, webhookSecret: false },
  // the webhook intake's secret (shared::config::load_webhook_secret), read at every cold start
  jiraNotificationsHandler: { jiraSettings: true, statusMapping: false, caseFilter: true, backfill: false, webhookSecret: true },
  sirClient: { jiraSettings: true, statusMapping: true, caseFilter: false, backfill: false, webhookSecret: false },
};

/** Who puts events on the integration bus (events:PutEvents on the bus ARN only). */
export const BUS_PUBLISHERS: FunctionKey[] = ['poller', 'jiraNotificationsHandler'];

/** The poller reads and rewrites its own schedule rule (DescribeRule, then PutRule). */
export const SCHEDULE_RULE_ACTIONS = ['events:DescribeRule', 'events:PutRule'];

/**
 * Granted actions that no local test exercises, each with the reason (the local world's IAM
 * coverage check, tests/iam_coverage.py, fails on any other granted action no test used).
 */
const LAMBDA_SERVICE_GRANTS: Record<string, string> = {
  'logs:CreateLogStream': "used by the Lambda service to write the function's logs, not by our code",
  'logs:PutLogEvents': "used by the Lambda service to write the function's logs, not by our code",
  'sqs:SendMessage':
    'used by the Lambda service to park a failed asynchronous event in the dead-letter queue, not by our code',
};
export const NOT_EXERCISED_LOCALLY: Record<FunctionKey, Record<string, string>> = {
  poller: { ...LAMBDA_SERVICE_GRANTS },
  jiraClient: { ...LAMBDA_SERVICE_GRANTS },
  jiraNotificationsHandler: { ...LAMBDA_SERVICE_GRANTS },
  sirClient: { ...LAMBDA_SERVICE_GRANTS },
};
