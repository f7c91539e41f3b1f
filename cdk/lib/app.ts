// Builds the CDK app from context values, for bin/app.ts (`cdk synth`/`cdk deploy`) and the tests.
import { App, Aspects } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ALLOW_PLACEHOLDER_CONTEXT, DEFAULT_LAMBDA_ASSET_DIR, resolveLambdaAssets } from './assets';
import { loadContract } from './contract';
import { parseJiraSite, parseVpcPlacement } from './jira-site';
import { IntegrationStack } from './stack';


/**
 * Context keys (all optional once the Lambdas are built; a synth on a fresh clone, with nothing
 * built, needs allowPlaceholderAssets):
 * - stackName: CloudFormation stack name (default: contract.json's defaultStackName,
 *   SecurityIncidentResponseJira); another name derives the bus and SSM prefix from it (see
 *   stackNames in contract.ts), so several stacks can be deployed side by side
 * - lambdaAssetDir: cargo-lambda output directory (default <repo>/target/lambda)
 * - allowPlaceholderAssets: "true" to synthesize placeholder code for functions not built (tests
 *   and template checks only: without it a missing build is an error, so a hand-run
 *   `cdk deploy` cannot deploy the placeholder)
 * - requireBuiltLambdas: "true" refuses the placeholder even with allowPlaceholderAssets
 *   (deploy.sh sets it)
 * - parameterPrefix: SSM prefix (default: the stack's, see stackNames)
 * - encryptTopic: "true" for a customer managed KMS key on the Jira Automation topic
 * - webhookIntake: "true" for a function URL on jira-notifications-handler that takes signed
 *   Jira webhooks (deploy.sh --intake webhook|both)
 * - automationIntake: "false" when Jira Automation is not an intake (deploy.sh --intake webhook):
 *   the topic then admits no Atlassian publisher and has no subscription (default: true on Jira
 *   Cloud; always off on Data Center)
 * - jiraFlavor: cloud (default) or data-center (Jira Data Center or Server): sets JIRA_FLAVOR (and
 *   JIRA_AUTH) on the three functions that call Jira; data-center needs webhookIntake=true (Jira
 *   Data Center has no Amazon SNS action) and takes the jiraEmail parameter as a user name
 * - jiraAuth: with data-center only: token (a personal access token, default) or basic (user
 *   name and password)
 * - vpcId, vpcSubnetIds, vpcSecurityGroupIds (all three or none; the lists comma-separated): run
 *   the three functions that call Jira in these subnets with these security groups (a Jira on a
 *   private network); imported by id, no lookup. They then need a NAT gateway or VPC endpoints to
 *   reach SSM, DynamoDB, EventBridge and Security Incident Response
 * - existingTableName: reuse a mapping table kept by an earlier destroy
 * - alarmTopicArn: SNS topic the alarms notify
 * - reservedConcurrency: reserved concurrency of jira-client and sir-client (default 5, 0 = none;
 *   jira-notifications-handler gets 2, or this if smaller)
 * - logRetentionDays: log group retention (default 90; a value CloudWatch Logs accepts)
 * - commentSweepMinutes: the poller's COMMENT_SWEEP_MINUTES
 * - jiraSweepMinutes: interval of the Jira sweep (default: contract.json; 0 = no sweep)
 * - redeliveryWindowMinutes: the poller's REDELIVERY_WINDOW_MINUTES (how long a published event may
 *   stay unapplied before the reconciler publishes it again; default 20)
 * - auditIntervalMinutes: AUDIT_INTERVAL_MINUTES of the poller and jira-notifications-handler
 *   (minutes between two audits of an open linked pair, and between the starts of two rounds of
 *   the Jira sweep's audit over the open issues; default 60)
 * - auditsPerPass: the poller's MAX_AUDITS_PER_PASS (pairs one schedule pass audits; default 5,
 *   0 = no scheduled audit)
 * - jiraAuditPerRun: jira-notifications-handler's JIRA_AUDIT_PER_RUN (open issues the Jira sweep
 *   audits per run; default 5, 0 = no audit)
 * - memoryMb: each function's memory in MB (default 128, Lambda's minimum; 128-10240)
 * - account / region: pin the stack's environment (default: environment-agnostic, so synth
 *   needs no credentials and no lookups; deploy uses the CLI's profile and region)
 */
export function buildApp(app: App = new App()): { app: App; stack: IntegrationStack; missingLambdas: string[] } {
  const ctx = (key: string): string | undefined => {
    const value = app.node.tryGetContext(key);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const flag = (key: string) => ['true', '1', 'yes'].includes((ctx(key) ?? '').toLowerCase());
  const int = (key: string): number | undefined => {
    const value = ctx(key);
    if (value === undefined) return undefined;
    if (!/^[0-9]+$/.test(value)) throw new Error(`context ${key}=${value} is not a whole number`);
    return Number(value);
  };
  const contract = loadContract();
  const assets = resolveLambdaAssets(
    contract,
    ctx('lambdaAssetDir') ?? DEFAULT_LAMBDA_ASSET_DIR,
    flag(ALLOW_PLACEHOLDER_CONTEXT) && !flag('requireBuiltLambdas'),
  );
  const retention = int('logRetentionDays');
  if (retention !== undefined && !Object.values(logs.RetentionDays).includes(retention)) {
    throw new Error(`context logRetentionDays=${retention} is not a retention CloudWatch Logs accepts`);
  }
  const account = ctx('account');
  const region = ctx('region');
  const stack = new IntegrationStack(app, ctx('stackName') ?? contract.defaultStackName, {
    description: 'AWS Security Incident Response <-> Jira integration (Rust Lambdas)',
    env: account || region ? { account, region } : undefined,
    contract,
    lambdaAssets: assets.dirs,
    parameterPrefix: ctx('parameterPrefix'),
    encryptTopic: flag('encryptTopic'),
    webhookIntake: flag('webhookIntake'),
    automationIntake: !['false', '0', 'no'].includes((ctx('automationIntake') ?? 'true').toLowerCase()),
    jiraSite: parseJiraSite(ctx('jiraFlavor'), ctx('jiraAuth')),
    vpcPlacement: parseVpcPlacement(ctx('vpcId'), ctx('vpcSubnetIds'), ctx('vpcSecurityGroupIds')),
    existingTableName: ctx('existingTableName'),
    alarmTopicArn: ctx('alarmTopicArn'),
    reservedConcurrency: int('reservedConcurrency'),
    logRetention: retention as logs.RetentionDays | undefined,
    commentSweepMinutes: int('commentSweepMinutes'),
    jiraSweepMinutes: int('jiraSweepMinutes'),
    redeliveryWindowMinutes: int('redeliveryWindowMinutes'),
    auditIntervalMinutes: int('auditIntervalMinutes'),
    auditsPerPass: int('auditsPerPass'),
    jiraAuditPerRun: int('jiraAuditPerRun'),
    memoryMb: int('memoryMb'),
  });
  // AWS Solutions best-practice checks on every synth: an unsuppressed finding is an error.
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return { app, stack, missingLambdas: assets.missing };
}
