// The whole integration in one stack: the mapping table, the integration bus and its rules, the
// four Rust Lambdas with a dead-letter queue each, the SNS topic Jira Automation publishes to (on
// Jira Data Center or with the webhook intake only, kept but inert: Atlassian may not publish and
// nothing is subscribed), the non-secret SSM parameters, alarms and outputs. One stack, because every part is deployed and
// removed together and the rules must reference the functions (a common + jira pair would only add
// cross-stack exports).
import {
  CfnOutput,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Contract, FunctionKey, RulePattern, envName, stackNames } from './contract';
import { ContextError, JiraSite, VPC_NETWORK_INTERFACE_ACTIONS, VpcPlacement } from './jira-site';
import {
  BUS_PUBLISHERS,
  SCHEDULE_RULE_ACTIONS,
  SIR_CASE_ACTIONS,
  SIR_MEMBERSHIP_ACTIONS,
  SIR_UNSCOPED_ACTIONS,
  SSM_READS,
  TABLE_ACTIONS,
} from './permissions';
import { OperationsDashboard } from './dashboard';

export const FUNCTION_KEYS: FunctionKey[] = ['poller', 'jiraClient', 'jiraNotificationsHandler', 'sirClient'];
/**
 * The functions that call Jira: those that read the Jira settings (permissions.ts). They get the
 * Jira flavour's environment and, with a VPC placement, go into the VPC; the poller calls only AWS.
 */
export const JIRA_CALLERS: FunctionKey[] = FUNCTION_KEYS.filter((key) => SSM_READS[key].jiraSettings);
/** Reserved concurrency of jira-notifications-handler (unless reservedConcurrency is 0 or smaller). */
export const NOTIFICATIONS_RESERVED_CONCURRENCY = 2;
/** The functions that hold claims (shared::store::run_claimed), renewed while they work. */
export const CLAIMING_FUNCTIONS: FunctionKey[] = ['jiraClient', 'sirClient'];

/**
 * Why the claim timing fits a claiming function's timeout, or `undefined` when it does: two renewals
 * in a row may fail before the lease runs out (3 x renew <= lease); a delivery that finds the claim
 * held waits longer than a lease, so it outwaits a holder that died (lease < wait); and it keeps at
 * least half its time for its own work (wait <= timeout / 2).
 */
export function claimTimingProblem(contract: Contract, key: FunctionKey): string | undefined {
  const { claimLeaseSeconds: lease, claimRenewSeconds: renew, claimWaitSeconds: wait } = contract;
  const timeout = contract.functions[key].timeoutSeconds;
  if (!(3 * renew <= lease)) {
    return `claimRenewSeconds ${renew} must be at most a third of claimLeaseSeconds ${lease} (two renewals may fail in a row)`;
  }
  if (!(lease < wait)) {
    return `claimWaitSeconds ${wait} must be longer than claimLeaseSeconds ${lease} (a waiting delivery must outwait a dead holder)`;
  }
  if (!(2 * wait <= timeout)) {
    return `claimWaitSeconds ${wait} must be at most half of ${key}'s timeout (${timeout} s), which the work needs`;
  }
  return undefined;
}

/** CloudFormation logical-name stem of each function (outputs, constructs). */
export const PASCAL: Record<FunctionKey, string> = {
  poller: 'Poller',
  jiraClient: 'JiraClient',
  jiraNotificationsHandler: 'JiraNotificationsHandler',
  sirClient: 'SirClient',
};

export interface IntegrationStackProps extends StackProps {
  readonly contract: Contract;
  /** Directory holding `bootstrap` for each function (see assets.ts). */
  readonly lambdaAssets: Record<FunctionKey, string>;
  /** SSM prefix of the integration's parameters (default: the contract's). */
  readonly parameterPrefix?: string;
  /**
   * Encrypt the Jira Automation topic with a customer managed KMS key whose key policy lets the
   * Atlassian publisher use it (on Jira Data Center the key has no such grant: nobody publishes).
   * Off by default: see the topic below.
   */
  readonly encryptTopic?: boolean;
  /** A function URL on jira-notifications-handler for signed Jira webhooks (deploy.sh --intake webhook|both). */
  readonly webhookIntake?: boolean;
  /**
   * Jira Automation publishes to the topic (default true; deploy.sh --intake webhook sets false,
   * which needs webhookIntake). Never on Jira Data Center, which has no Amazon SNS action.
   */
  readonly automationIntake?: boolean;
  /**
   * Which Jira the functions call (default Jira Cloud). Jira Data Center needs webhookIntake: it has
   * no Amazon SNS action, so the signed webhook is its only way to reach the integration.
   */
  readonly jiraSite?: JiraSite;
  /**
   * Subnets and security groups for the functions that call Jira (a Jira on a private network).
   * They then reach SSM, DynamoDB, EventBridge and Security Incident Response through the VPC: a
   * NAT gateway or VPC endpoints.
   */
  readonly vpcPlacement?: VpcPlacement;
  /** Use this existing table (one kept by an earlier `deploy.sh --destroy`) instead of creating one. */
  readonly existingTableName?: string;
  /** SNS topic ARN the alarms notify (none: alarms only change state). */
  readonly alarmTopicArn?: string;
  /**
   * Reserved concurrency of the two functions that call Jira/SIR writes (jira-notifications-handler
   * gets NOTIFICATIONS_RESERVED_CONCURRENCY, or this if smaller); 0 reserves none.
   */
  readonly reservedConcurrency?: number;
  /** Retention of the Lambda log groups. */
  readonly logRetention?: logs.RetentionDays;
  /** Optional COMMENT_SWEEP_MINUTES of the poller. */
  readonly commentSweepMinutes?: number;
  /** Interval of the Jira sweep (default: the contract's sweepMinutes); 0: no sweep rule. */
  readonly jiraSweepMinutes?: number;
  /** Optional REDELIVERY_WINDOW_MINUTES of the poller (its reconciler). */
  readonly redeliveryWindowMinutes?: number;
  /**
   * Optional AUDIT_INTERVAL_MINUTES of the poller and jira-notifications-handler (minutes between
   * two audits of an open pair; between the starts of two rounds of the Jira audit).
   */
  readonly auditIntervalMinutes?: number;
  /** Optional MAX_AUDITS_PER_PASS of the poller (pairs audited per schedule pass). */
  readonly auditsPerPass?: number;
  /** Optional JIRA_AUDIT_PER_RUN of jira-notifications-handler (open issues audited per sweep run). */
  readonly jiraAuditPerRun?: number;
  /**
   * Memory of each function in MB (default DEFAULT_MEMORY_MB, Lambda's minimum: attachments are
   * streamed, so no function holds one whole; BENCHMARKS.md has the measured peaks).
   */
  readonly memoryMb?: number;
}

/** Each function's memory unless `memoryMb` says otherwise (Lambda's minimum). */
export const DEFAULT_MEMORY_MB = 128;

/** The four functions and what surrounds each, for tests and outputs. */
export interface IntegrationFunction {
  readonly fn: lambda.Function;
  readonly role: iam.Role;
  readonly dlq: sqs.Queue;
  readonly logGroup: logs.LogGroup;
}

/** Converts an EventBridge pattern as the contract spells it into CDK's EventPattern. */
export function toEventPattern(pattern: RulePattern): events.EventPattern {
  const out: { [key: string]: string[] } = {};
  for (const [key, values] of Object.entries(pattern)) {
    const cdkKey = { source: 'source', 'detail-type': 'detailType' }[key];
    if (!cdkKey) {
      throw new Error(`contract rule pattern key ${key} is not supported by the stack`);
    }
    out[cdkKey] = values;
  }
  return out as events.EventPattern;
}

export class IntegrationStack extends Stack {
  public readonly table: dynamodb.ITable;
  public readonly bus: events.EventBus;
  public readonly topic: sns.Topic;
  public readonly functions: Record<FunctionKey, IntegrationFunction>;
  public readonly scheduleRuleName: string;

  constructor(scope: Construct, id: string, props: IntegrationStackProps) {
    super(scope, id, props);
    const contract = props.contract;
    const names = stackNames(contract, this.stackName);
    const prefix = (props.parameterPrefix ?? names.parameterPrefix).replace(/\/+$/, '');
    if (!prefix.startsWith('/')) {
      throw new Error(`parameterPrefix ${prefix} must start with '/'`);
    }
    const reserved = props.reservedConcurrency ?? 5;
    const site: JiraSite = props.jiraSite ?? { flavor: 'cloud' };
    if (props.automationIntake === false && !props.webhookIntake) {
      throw new Error('automationIntake=false needs webhookIntake=true: the stack would have no intake for Jira changes');
    }
    if (site.flavor === 'data-center' && !props.webhookIntake) {
      throw new ContextError(
        'jiraFlavor=data-center needs webhookIntake=true: Jira Data Center has no Amazon SNS action, so Jira Automation cannot reach the stack and the signed webhook (deploy.sh --intake webhook) is its only intake',
      );
    }

    // ---- Deploy-time parameters (none is secret: the token never passes through CloudFormation) ----
    // On Jira Data Center the jiraEmail parameter holds the integration user's user name.
    const jiraEmail = new CfnParameter(
      this,
      'JiraEmail',
      site.flavor === 'cloud'
        ? {
            type: 'String',
            description: 'E-mail of the Jira integration user (Basic auth user name).',
            allowedPattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
            constraintDescription: 'must be an e-mail address',
          }
        : {
            type: 'String',
            description: 'User name of the Jira Data Center integration user.',
            allowedPattern: '^\\S([^\\r\\n]*\\S)?$',
            constraintDescription: 'must be a Jira user name (one line, no leading or trailing space)',
          },
    );
    const jiraUrl = new CfnParameter(this, 'JiraUrl', {
      type: 'String',
      description: 'Jira site URL, e.g. https://example.atlassian.net',
      allowedPattern: '^https://[^\\s/]+(/[^\\s]*)?$',
      constraintDescription: 'must be an https:// URL',
    });
    const jiraProjectKey = new CfnParameter(this, 'JiraProjectKey', {
      type: 'String',
      description: 'Key of the Jira project whose issues are synced, e.g. SEC',
      allowedPattern: '^[A-Z][A-Z0-9_]+$',
      constraintDescription: 'must be a Jira project key (upper-case letter, then upper-case letters, digits or _)',
    });
    const jiraIssueType = new CfnParameter(this, 'JiraIssueType', {
      type: 'String',
      default: contract.functions.jiraClient.defaultIssueType,
      description: 'Issue type of the issues created for SIR cases.',
      minLength: 1,
    });
    const logLevel = new CfnParameter(this, 'LogLevel', {
      type: 'String',
      default: 'INFO',
      allowedValues: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'],
      description: 'Application log level of the Lambdas (JSON logs).',
    });
    const statusMapping = new CfnParameter(this, 'StatusMapping', {
      type: 'String',
      default: '{}',
      description: 'Status mapping JSON laid over the built-in defaults ({} = defaults), see README "Configuration".',
      minLength: 2,
    });
    const resolverType = new CfnParameter(this, 'SirResolverType', {
      type: 'String',
      default: contract.functions.sirClient.resolverTypes[0],
      allowedValues: contract.functions.sirClient.resolverTypes,
      description: 'resolverType of SIR cases created from Jira issues.',
    });
    const engagementType = new CfnParameter(this, 'SirEngagementType', {
      type: 'String',
      default: contract.functions.sirClient.engagementTypes[0],
      allowedValues: contract.functions.sirClient.engagementTypes,
      description: 'engagementType of SIR cases created from Jira issues.',
    });
    const impactedAccounts = new CfnParameter(this, 'SirImpactedAccounts', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[0-9]{12}(,[0-9]{12})*$',
      description: 'Comma-separated account ids put on SIR cases created from Jira issues (may be empty).',
      constraintDescription: 'must be empty or comma-separated 12-digit account ids',
    });

    const installedAt = new CfnParameter(this, 'InstalledAt', {
      type: 'String',
      description: 'When the integration was first installed (UTC); deploy.sh records it once and passes it again on every deployment.',
      allowedPattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$',
      constraintDescription: 'must be a UTC time like 2026-12-01T09:30:00Z',
    });
    const jiraCaseFilter = new CfnParameter(this, 'JiraCaseFilter', {
      type: 'String',
      default: contract.parameters.caseFilterDefault,
      description: `Which Jira issues not linked to a case may create one: JQL, or "${contract.parameters.caseFilterDefault}" (issues created after InstalledAt).`,
      minLength: 1,
      maxLength: 2000,
    });
    const backfill = new CfnParameter(this, 'Backfill', {
      type: 'String',
      default: contract.parameters.backfillDefault,
      description: 'Which SIR cases created before InstalledAt the poller brings over: {"since":"YYYY-MM-DD" or "","closed":true|false} (deploy.sh --backfill-since, --backfill-closed).',
      allowedPattern: '^\\{"since":"([0-9]{4}-[0-9]{2}-[0-9]{2})?","closed":(true|false)\\}$',
      constraintDescription: 'must be {"since":"YYYY-MM-DD" or "","closed":true or false}',
    });

    // ---- Mapping table ----
    this.table = props.existingTableName
      ? dynamodb.Table.fromTableName(this, 'MappingTable', props.existingTableName)
      : new dynamodb.Table(this, 'MappingTable', {
          partitionKey: { name: contract.table.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: contract.table.sortKey, type: dynamodb.AttributeType.STRING },
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          timeToLiveAttribute: contract.table.ttlAttribute,
          deletionProtection: true,
          // The links are the only record of which issue is which case: never deleted with the stack.
          removalPolicy: RemovalPolicy.RETAIN,
        });

    // ---- Integration bus ----
    this.bus = new events.EventBus(this, 'IntegrationBus', { eventBusName: names.eventBusName });

    // ---- SSM parameters (non-secret; the token is a SecureString that deploy.sh writes) ----
    const parameterName = (leaf: string) => `${prefix}/${leaf}`;
    const stringParameter = (id: string, leaf: string, value: string, description: string) =>
      new ssm.StringParameter(this, id, {
        parameterName: parameterName(leaf),
        stringValue: value,
        description,
        tier: ssm.ParameterTier.STANDARD,
      });
    const emailParameter = stringParameter(
      'JiraEmailParameter',
      contract.parameters.jiraEmail,
      jiraEmail.valueAsString,
      site.flavor === 'cloud' ? 'Jira integration user e-mail' : 'Jira Data Center integration user name',
    );
    const urlParameter = stringParameter('JiraUrlParameter', contract.parameters.jiraUrl, jiraUrl.valueAsString, 'Jira site URL');
    const projectParameter = stringParameter('JiraProjectKeyParameter', contract.parameters.jiraProjectKey, jiraProjectKey.valueAsString, 'Jira project key');
    const mappingParameter = stringParameter('StatusMappingParameter', contract.parameters.statusMapping, statusMapping.valueAsString, 'SIR <-> Jira status mapping JSON over the defaults ({} = defaults)');
    const caseFilterParameter = stringParameter('JiraCaseFilterParameter', contract.parameters.jiraCaseFilter, jiraCaseFilter.valueAsString, 'Which unlinked Jira issues may create a SIR case (JQL, or "default")');
    const installedAtParameter = stringParameter('InstalledAtParameter', contract.parameters.installedAt, installedAt.valueAsString, 'When the integration was first installed (UTC)');
    const backfillParameter = stringParameter('BackfillParameter', contract.parameters.backfill, backfill.valueAsString, 'Which SIR cases older than the installation the poller brings over (JSON)');
    // Only the name: the SecureString is created and updated by deploy.sh outside CloudFormation.
    const tokenParameterArn = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName(contract.parameters.jiraToken).replace(/^\//, ''),
    });
    // The token's expiry date, a String deploy.sh writes beside it (it may not exist: not known).
    const tokenExpiresOnArn = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName(contract.parameters.jiraTokenExpiresOn).replace(/^\//, ''),
    });
    // Where the REST calls go (the site, or its API gateway for a token with scopes), also beside it.
    const apiUrlArn = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName(contract.parameters.jiraApiUrl).replace(/^\//, ''),
    });
    const jiraSettingsArns = [emailParameter.parameterArn, urlParameter.parameterArn, projectParameter.parameterArn, tokenParameterArn, tokenExpiresOnArn, apiUrlArn];
    // The same for the webhook intake's secret (it may not exist: the intake is then off).
    const webhookSecretArn = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName(contract.parameters.jiraWebhookSecret).replace(/^\//, ''),
    });

    // ---- Roles first: the poller and jira-client recognise sir-client's writes by its role ARN ----
    const roles = {} as Record<FunctionKey, iam.Role>;
    for (const key of FUNCTION_KEYS) {
      roles[key] = new iam.Role(this, `${PASCAL[key]}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `${contract.functions[key].crate} Lambda: only the calls it makes`,
      });
    }

    // The poller's schedule rule gets a fixed name: the poller's environment names it and its
    // target is the poller, so a generated name (a Ref) would make a dependency cycle.
    this.scheduleRuleName = `${this.stackName}-poller-schedule`;
    const scheduleRuleArn = this.formatArn({ service: 'events', resource: 'rule', resourceName: this.scheduleRuleName });

    // ---- Per-function environment ----
    const sharedEnv: Record<string, string> = {
      [contract.sharedEnv.tableName]: this.table.tableName,
      [contract.sharedEnv.eventBusName]: this.bus.eventBusName,
      [contract.sharedEnv.parameterPrefix]: prefix,
    };
    // The two functions that write SIR: sir-client copies from Jira, jira-client reports on the
    // case what Jira refused. Neither's writes are copied back.
    const integrationPrincipals = Fn.join(',', [roles.sirClient.roleArn, roles.jiraClient.roleArn]);
    const ownEnv: Record<FunctionKey, Record<string, string>> = {
      poller: {
        [envName(contract, 'poller', 'scheduleRuleName')]: this.scheduleRuleName,
        [envName(contract, 'poller', 'integrationPrincipals')]: integrationPrincipals,
        ...(props.commentSweepMinutes !== undefined
          ? { [envName(contract, 'poller', 'commentSweepMinutes')]: String(props.commentSweepMinutes) }
          : {}),
        ...(props.redeliveryWindowMinutes !== undefined
          ? { [envName(contract, 'poller', 'redeliveryWindowMinutes')]: String(props.redeliveryWindowMinutes) }
          : {}),
        ...(props.auditIntervalMinutes !== undefined
          ? { [envName(contract, 'poller', 'auditIntervalMinutes')]: String(props.auditIntervalMinutes) }
          : {}),
        ...(props.auditsPerPass !== undefined
          ? { [envName(contract, 'poller', 'maxAuditsPerPass')]: String(props.auditsPerPass) }
          : {}),
      },
      jiraClient: {
        [envName(contract, 'jiraClient', 'issueType')]: jiraIssueType.valueAsString,
        [envName(contract, 'jiraClient', 'integrationPrincipals')]: integrationPrincipals,
      },
      jiraNotificationsHandler: {
        ...(props.jiraAuditPerRun !== undefined
          ? { [envName(contract, 'jiraNotificationsHandler', 'auditPerRun')]: String(props.jiraAuditPerRun) }
          : {}),
        ...(props.auditIntervalMinutes !== undefined
          ? {
              [envName(contract, 'jiraNotificationsHandler', 'auditIntervalMinutes')]: String(
                props.auditIntervalMinutes,
              ),
            }
          : {}),
      },
      sirClient: {
        [envName(contract, 'sirClient', 'resolverType')]: resolverType.valueAsString,
        [envName(contract, 'sirClient', 'engagementType')]: engagementType.valueAsString,
        [envName(contract, 'sirClient', 'impactedAccounts')]: impactedAccounts.valueAsString,
      },
    };
    // Jira Data Center: JIRA_FLAVOR and JIRA_AUTH on the functions that call Jira (both unset: Cloud,
    // so a Cloud stack's functions keep the environment they always had).
    // And the site and project on all three, whatever the flavour: they read both from SSM (and
    // keep them while warm), so a deployment that changes either must replace their execution
    // environments, which a changed environment does (see the dependency below).
    const jiraSiteEnv: Record<string, string> = {
      [contract.jiraSiteEnv.site]: Fn.join(' ', [jiraUrl.valueAsString, jiraProjectKey.valueAsString]),
      ...(site.flavor === 'data-center'
        ? { [contract.jiraSiteEnv.flavor]: site.flavor, [contract.jiraSiteEnv.auth]: site.auth }
        : {}),
    };
    // From the contract (jira-client and sir-client copy attachments of up to 100 MiB within one
    // invocation). Their claims are short leases renewed while they work, and a delivery that
    // finds one held waits for it: see claimTimingProblem (tests/tests/infra_contract.rs proves
    // the same on the Rust side).
    const timeouts = Object.fromEntries(
      FUNCTION_KEYS.map((key) => [key, Duration.seconds(contract.functions[key].timeoutSeconds)]),
    ) as Record<FunctionKey, Duration>;
    for (const key of CLAIMING_FUNCTIONS) {
      const problem = claimTimingProblem(contract, key);
      if (problem) {
        throw new Error(`contract.json: ${problem}`);
      }
    }
    // Jira Cloud rate-limits per user: the two functions that call Jira for every event (and write
    // SIR) are capped so a burst of events (a bulk edit, a replayed DLQ) queues in Lambda's async
    // queue and is retried instead of hammering Jira into 429s. deploy.sh's --reserved-concurrency 0
    // turns this off for accounts whose concurrency quota is too small to reserve any.
    // jira-notifications-handler gets a small cap of its own: every Atlassian Cloud tenant publishes
    // through the same Atlassian session the topic policy admits, so anyone can send messages
    // naming this project's issue keys; each costs several Jira calls. With the cap a flood queues
    // in Lambda's async queue, and the handler coalesces repeated messages per issue (see its
    // crate docs), so it cannot burn the Jira rate limit the writers need.
    const reservedConcurrency: Partial<Record<FunctionKey, number>> =
      reserved > 0
        ? {
            jiraClient: reserved,
            sirClient: reserved,
            jiraNotificationsHandler: Math.min(reserved, NOTIFICATIONS_RESERVED_CONCURRENCY),
          }
        : {};

    // ---- VPC placement of the functions that call Jira (imported by id: no lookup) ----
    let vpcProps: Pick<lambda.FunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups'> = {};
    if (props.vpcPlacement) {
      const placement = props.vpcPlacement;
      vpcProps = {
        // Only what the Function construct needs to take subnets: the template names the subnets
        // and security groups, never the VPC. The zones are the region's as a token (Fn::GetAZs,
        // no lookup), never rendered: the subnets are given by id.
        vpc: ec2.Vpc.fromVpcAttributes(this, 'JiraVpc', { vpcId: placement.vpcId, availabilityZones: Fn.getAzs() }),
        vpcSubnets: {
          subnets: placement.subnetIds.map((id, i) => ec2.Subnet.fromSubnetId(this, `JiraVpcSubnet${i + 1}`, id)),
        },
        securityGroups: placement.securityGroupIds.map((id, i) =>
          ec2.SecurityGroup.fromSecurityGroupId(this, `JiraVpcSecurityGroup${i + 1}`, id, { mutable: false }),
        ),
      };
    }

    // ---- The functions ----
    const caseArn = this.formatArn({ service: 'security-ir', resource: 'case', resourceName: '*' });
    const membershipArn = this.formatArn({ service: 'security-ir', resource: 'membership', resourceName: '*' });
    this.functions = {} as Record<FunctionKey, IntegrationFunction>;
    const memoryMb = props.memoryMb ?? DEFAULT_MEMORY_MB;
    if (!Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 10240) {
      throw new Error(`memoryMb=${memoryMb}: Lambda takes a whole number of MB from 128 to 10240`);
    }
    for (const key of FUNCTION_KEYS) {
      const name = PASCAL[key];
      const role = roles[key];
      const dlq = new sqs.Queue(this, `${name}DeadLetterQueue`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      const logGroup = new logs.LogGroup(this, `${name}LogGroup`, {
        retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const fn = new lambda.Function(this, name, {
        description: `${contract.functions[key].crate} (SIR <-> Jira integration)`,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(props.lambdaAssets[key]),
        memorySize: memoryMb,
        timeout: timeouts[key],
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: logLevel.valueAsString as lambda.ApplicationLogLevel,
        systemLogLevelV2: lambda.SystemLogLevel.INFO,
        environment: { ...sharedEnv, ...ownEnv[key], ...(JIRA_CALLERS.includes(key) ? jiraSiteEnv : {}) },
        ...(JIRA_CALLERS.includes(key) ? vpcProps : {}),
        reservedConcurrentExecutions: reservedConcurrency[key],
        // Asynchronous invocations (EventBridge, SNS) that still fail after Lambda's retries land
        // in the function's dead-letter queue with the original event as the message body.
        deadLetterQueue: dlq,
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
      });
      logGroup.grantWrite(role);
      if (JIRA_CALLERS.includes(key)) {
        // Updated after the site and project parameters: a new execution environment started by
        // the changed environment reads the new values, never the old ones.
        fn.node.addDependency(urlParameter, projectParameter);
      }

      // Least privilege, from permissions.ts.
      if (TABLE_ACTIONS[key].length > 0) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'MappingTable', actions: TABLE_ACTIONS[key], resources: [this.table.tableArn] }));
      }
      if (SIR_CASE_ACTIONS[key].length > 0) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'SirCases', actions: SIR_CASE_ACTIONS[key], resources: [caseArn] }));
      }
      if (SIR_MEMBERSHIP_ACTIONS[key].length > 0) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'SirMemberships', actions: SIR_MEMBERSHIP_ACTIONS[key], resources: [membershipArn] }));
      }
      if (SIR_UNSCOPED_ACTIONS[key].length > 0) {
        // ListCases and ListMemberships have no resource type in the Service Authorization
        // Reference: "*" is the only resource IAM accepts for them.
        role.addToPolicy(new iam.PolicyStatement({ sid: 'SirListsWithoutResourceLevelPermissions', actions: SIR_UNSCOPED_ACTIONS[key], resources: ['*'] }));
      }
      if (SSM_READS[key].jiraSettings) {
        // The token's SecureString uses the AWS managed key aws/ssm, whose key policy lets every
        // principal of the account decrypt through SSM: no kms:Decrypt grant is needed.
        role.addToPolicy(new iam.PolicyStatement({ sid: 'JiraSettings', actions: ['ssm:GetParameters'], resources: jiraSettingsArns }));
      }
      if (SSM_READS[key].webhookSecret) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'JiraWebhookSecret', actions: ['ssm:GetParameters'], resources: [webhookSecretArn] }));
      }
      if (SSM_READS[key].statusMapping) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'StatusMapping', actions: ['ssm:GetParameter'], resources: [mappingParameter.parameterArn] }));
      }
      if (SSM_READS[key].caseFilter) {
        role.addToPolicy(
          new iam.PolicyStatement({ sid: 'CaseFilter', actions: ['ssm:GetParameters'], resources: [caseFilterParameter.parameterArn, installedAtParameter.parameterArn] }),
        );
      }
      if (SSM_READS[key].backfill) {
        role.addToPolicy(
          new iam.PolicyStatement({ sid: 'Backfill', actions: ['ssm:GetParameters'], resources: [backfillParameter.parameterArn, installedAtParameter.parameterArn] }),
        );
      }
      if (BUS_PUBLISHERS.includes(key)) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'PublishToIntegrationBus', actions: ['events:PutEvents'], resources: [this.bus.eventBusArn] }));
      }
      if (key === 'poller') {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'OwnScheduleRule', actions: SCHEDULE_RULE_ACTIONS, resources: [scheduleRuleArn] }));
      }
      if (props.vpcPlacement && JIRA_CALLERS.includes(key)) {
        // Lambda manages the function's network interfaces in the subnets with this role (CDK adds
        // AWSLambdaVPCAccessExecutionRole only to roles it creates). The function depends on the
        // role's policy, so the grant exists before Lambda creates the interfaces.
        role.addToPolicy(new iam.PolicyStatement({ sid: 'VpcNetworkInterfaces', actions: VPC_NETWORK_INTERFACE_ACTIONS, resources: ['*'] }));
      }
      this.functions[key] = { fn, role, dlq, logGroup };
    }
    const { poller, jiraClient, jiraNotificationsHandler, sirClient } = this.functions;

    // ---- Rules: every EventBridge → Lambda target has retries, a maximum age and a DLQ ----
    const lambdaTarget = (f: IntegrationFunction) =>
      new targets.LambdaFunction(f.fn, { deadLetterQueue: f.dlq, retryAttempts: 8, maxEventAge: Duration.hours(6) });
    const jiraClientRule = new events.Rule(this, 'JiraClientRule', {
      description: 'Integration bus: SIR case events -> jira-client',
      eventBus: this.bus,
      eventPattern: toEventPattern(contract.rules.jiraClient),
      targets: [lambdaTarget(jiraClient)],
    });
    const sirClientRule = new events.Rule(this, 'SirClientRule', {
      description: 'Integration bus: Jira issue events -> sir-client',
      eventBus: this.bus,
      eventPattern: toEventPattern(contract.rules.sirClient),
      targets: [lambdaTarget(sirClient)],
    });
    // The poller's two triggers are created only once jira-client and its rule exist, so no case
    // event is published before something consumes it (the AWS sample creates its schedule
    // disabled and enables it afterwards with a custom resource; a dependency does the same
    // without one). The poller then switches the rate itself with PutRule, keeping the state.
    const nativeRule = new events.Rule(this, 'NativeSirEventsRule', {
      description: 'Default bus: native AWS Security Incident Response case events -> poller',
      eventPattern: toEventPattern(contract.rules.nativeSir),
      targets: [lambdaTarget(poller)],
    });
    const scheduleRule = new events.Rule(this, 'PollerScheduleRule', {
      ruleName: this.scheduleRuleName,
      description: 'Poller safety-net schedule (the poller sets 1 or 5 minutes itself)',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [lambdaTarget(poller)],
    });
    for (const rule of [nativeRule, scheduleRule]) {
      rule.node.addDependency(jiraClient.fn, jiraClientRule);
    }
    // The Jira sweep: jira-notifications-handler searches Jira for issues updated since its last
    // run and syncs each as an Automation message would, so the Jira -> SIR half works without
    // Automation. Created once sir-client and its rule exist, like the poller's triggers.
    const sweepMinutes = props.jiraSweepMinutes ?? contract.functions.jiraNotificationsHandler.sweepMinutes;
    if (!Number.isInteger(sweepMinutes) || sweepMinutes < 0 || sweepMinutes > 1440) {
      throw new Error(`jiraSweepMinutes ${sweepMinutes} must be a whole number of minutes from 0 (no sweep) to 1440`);
    }
    if (sweepMinutes > 0) {
      const sweepRule = new events.Rule(this, 'JiraSweepScheduleRule', {
        description: `Jira sweep every ${sweepMinutes} minute(s) -> jira-notifications-handler`,
        schedule: events.Schedule.rate(Duration.minutes(sweepMinutes)),
        targets: [lambdaTarget(jiraNotificationsHandler)],
      });
      sweepRule.node.addDependency(sirClient.fn, sirClientRule);
    }

    // ---- SNS topic for Jira Automation ----
    // Encryption: Atlassian publishes from its own account, and SNS calls KMS with the publisher's
    // identity. The AWS managed key alias/aws/sns cannot be shared across accounts, and a customer
    // managed key needs Atlassian's role to hold kms:GenerateDataKey*/kms:Decrypt in its own IAM
    // policy too, which Atlassian does not document. So by default the topic is not encrypted at
    // rest (messages hold only an issue key, and the handler re-reads the issue from Jira);
    // --encrypt-topic adds the customer managed key with the key-policy grant for sites where
    // Atlassian confirms it works.
    // Without the Automation intake (Jira Data Center, which has no Amazon SNS action, or
    // --intake webhook) the topic stays (deploy.sh reads its output) but is inert: no grant to
    // Atlassian's publisher, which every Jira Cloud tenant shares, in the topic or key policy, and
    // no subscription, so nobody who learns the ARN can invoke the handler through it.
    const automationIntake = site.flavor === 'cloud' && props.automationIntake !== false;
    const publisher = new iam.ArnPrincipal(contract.jiraAutomation.publisherPrincipal);
    let topicKey: kms.Key | undefined;
    if (props.encryptTopic) {
      topicKey = new kms.Key(this, 'JiraAutomationTopicKey', {
        description: 'Encrypts the Jira Automation SNS topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      if (automationIntake) {
        topicKey.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'AtlassianAutomationPublisherUsesKey',
            principals: [publisher],
            actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
            resources: ['*'],
          }),
        );
      }
    }
    this.topic = new sns.Topic(this, 'JiraAutomationTopic', {
      displayName: 'Jira Automation -> SIR integration',
      enforceSSL: true,
      masterKey: topicKey,
    });
    // Only Atlassian's automation session may publish (AWS accepts a role session ARN as a
    // resource-policy principal; it is the principal Atlassian's SNS guide gives). Nothing else
    // from account 815843069303, and nobody else outside this account. The subscription brings
    // SNS's Lambda permission (this topic only) and the DLQ queue-policy grant for its redrive.
    if (automationIntake) {
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AtlassianAutomationPublishes',
          principals: [publisher],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
        }),
      );
      this.topic.addSubscription(
        new subscriptions.LambdaSubscription(jiraNotificationsHandler.fn, { deadLetterQueue: jiraNotificationsHandler.dlq }),
      );
    }

    // ---- Function URL for Jira webhooks (--intake webhook|both) ----
    // Jira cannot sign with SigV4, so the URL takes any caller (AuthType NONE): every request is
    // checked by the handler against the webhook secret (X-Hub-Signature, HMAC-SHA256) before
    // anything is read, and the handler's reserved concurrency bounds what a flood can cost.
    let webhookUrl: lambda.FunctionUrl | undefined;
    if (props.webhookIntake) {
      webhookUrl = jiraNotificationsHandler.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    }

    // ---- Alarms: anything in a DLQ, any Lambda error ----
    const alarmAction = props.alarmTopicArn
      ? new cwActions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn))
      : undefined;
    for (const key of FUNCTION_KEYS) {
      const { fn, dlq } = this.functions[key];
      const crate = contract.functions[key].crate;
      const alarms = [
        new cloudwatch.Alarm(this, `${PASCAL[key]}DeadLetterQueueAlarm`, {
          alarmDescription: `${crate}: events in its dead-letter queue (see README "Troubleshooting" to replay them)`,
          metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        new cloudwatch.Alarm(this, `${PASCAL[key]}ErrorsAlarm`, {
          alarmDescription: `${crate}: invocations ended in an error (see its log group)`,
          metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ];
      if (alarmAction) {
        alarms.forEach((alarm) => alarm.addAlarmAction(alarmAction));
      }
    }

    // ---- The operations dashboard, and the alarms on a sync that stopped or lags ----
    const operations = new OperationsDashboard(this, 'Operations', {
      contract,
      functions: this.functions,
      audits: props.auditsPerPass !== 0,
      auditIntervalMinutes: props.auditIntervalMinutes,
    });
    if (alarmAction) {
      [operations.noSyncAlarm, ...operations.lagAlarms, operations.configRejectedAlarm, ...operations.tokenExpiryAlarms].forEach((alarm) =>
        alarm.addAlarmAction(alarmAction),
      );
    }

    // ---- Outputs ----
    new CfnOutput(this, 'DashboardName', {
      value: operations.dashboard.dashboardName,
      description: 'CloudWatch dashboard of the integration (CloudWatch -> Dashboards)',
    });
    new CfnOutput(this, 'JiraAutomationTopicArn', {
      value: this.topic.topicArn,
      description: automationIntake
        ? 'Paste into each Jira Automation rule\'s "Publish to Amazon SNS" action'
        : site.flavor === 'cloud'
          ? 'Unused with --intake webhook (the intake is the signed webhook): no Atlassian principal may publish to this topic and nothing is subscribed'
          : 'Unused on Jira Data Center (no Amazon SNS action; the intake is the signed webhook): no Atlassian principal may publish to this topic and nothing is subscribed',
    });
    if (webhookUrl) {
      new CfnOutput(this, 'JiraWebhookUrl', {
        value: webhookUrl.url,
        description: 'The URL of the Jira webhook (deploy.sh registers it, or prints the steps)',
      });
    }
    new CfnOutput(this, 'MappingTableName', { value: this.table.tableName, description: 'DynamoDB mapping table (kept when the stack is deleted)' });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBusName, description: 'Integration event bus' });
    new CfnOutput(this, 'PollerScheduleRuleName', { value: this.scheduleRuleName, description: 'Poller schedule rule (default bus)' });
    for (const key of FUNCTION_KEYS) {
      const { fn, dlq, logGroup } = this.functions[key];
      new CfnOutput(this, `${PASCAL[key]}FunctionName`, { value: fn.functionName, description: `${contract.functions[key].crate} function` });
      new CfnOutput(this, `${PASCAL[key]}DeadLetterQueueUrl`, { value: dlq.queueUrl, description: `${contract.functions[key].crate} dead-letter queue` });
      new CfnOutput(this, `${PASCAL[key]}LogGroupName`, { value: logGroup.logGroupName, description: `${contract.functions[key].crate} log group` });
    }

    this.addNagSuppressions(props.vpcPlacement !== undefined);
  }

  /**
   * The stack's only cdk-nag suppressions: AwsSolutions-IAM5 on the roles that call Security
   * Incident Response, each limited (appliesTo) to the exact wildcard resources below.
   */
  private addNagSuppressions(inVpc: boolean) {
    if (inVpc) {
      for (const key of JIRA_CALLERS) {
        NagSuppressions.addResourceSuppressions(
          this.functions[key].role,
          [
            {
              id: 'AwsSolutions-IAM5',
              reason:
                'A function in a VPC needs its role to create, describe and delete its network interfaces: the EC2 actions of the AWS managed policy AWSLambdaVPCAccessExecutionRole, on "*" as there (DescribeNetworkInterfaces and DescribeSubnets take no resource; Lambda names the interfaces it creates).',
              appliesTo: ['Resource::*'],
            },
          ],
          true,
        );
      }
    }
    for (const key of FUNCTION_KEYS) {
      const appliesTo: string[] = [];
      if (SIR_CASE_ACTIONS[key].length > 0) {
        appliesTo.push('Resource::arn:<AWS::Partition>:security-ir:<AWS::Region>:<AWS::AccountId>:case/*');
      }
      if (SIR_MEMBERSHIP_ACTIONS[key].length > 0) {
        appliesTo.push('Resource::arn:<AWS::Partition>:security-ir:<AWS::Region>:<AWS::AccountId>:membership/*');
      }
      if (SIR_UNSCOPED_ACTIONS[key].length > 0) {
        appliesTo.push('Resource::*');
      }
      if (appliesTo.length === 0) continue;
      NagSuppressions.addResourceSuppressions(
        this.functions[key].role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'Security Incident Response cases and memberships are created by AWS and by responders at any time, so no id is known at deploy time: case/* and membership/* of this account and region are the narrowest resources IAM offers. ListCases and ListMemberships have no resource-level permissions, so "*" is the only resource IAM accepts for them (and only they get it).',
            appliesTo,
          },
        ],
        true,
      );
    }
  }
}
