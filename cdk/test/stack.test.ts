// The default stack (what `./deploy.sh` deploys without options): every resource and policy the
// issue asks for, and cdk-nag's AwsSolutions pack with no unsuppressed finding.
import { Match } from 'aws-cdk-lib/assertions';
import {
  ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS,
  BUS_PUBLISHERS,
  SIR_CASE_ACTIONS,
  SIR_MEMBERSHIP_ACTIONS,
} from '../lib/permissions';
import { App } from 'aws-cdk-lib';
import { PLACEHOLDER_ASSET_DIR } from '../lib/assets';
import {
  CLAIMING_FUNCTIONS,
  FUNCTION_KEYS,
  IntegrationStack,
  claimTimingProblem,
  NOTIFICATIONS_RESERVED_CONCURRENCY,
  PASCAL,
} from '../lib/stack';
import { FunctionKey } from '../lib/contract';
import { asArray, contract, logicalId, resourcesOf, synth } from './helpers';

const { stack, template, json, annotations } = synth();
const fnId = (key: FunctionKey) => logicalId(stack, stack.functions[key].fn);
const roleId = (key: FunctionKey) => logicalId(stack, stack.functions[key].role);
const dlqId = (key: FunctionKey) => logicalId(stack, stack.functions[key].dlq);
const policyOf = (key: FunctionKey) => {
  const policies = Object.values(resourcesOf(json, 'AWS::IAM::Policy')).filter((p: any) =>
    p.Properties.Roles.some((r: any) => r.Ref === roleId(key)),
  );
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement as any[];
};
const allIamStatements = () =>
  Object.values(resourcesOf(json, 'AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement as any[]);
const actionsOf = (statement: any): string[] => asArray(statement.Action);

describe('cdk-nag AwsSolutions', () => {
  test('no unsuppressed error or warning', () => {
    const findings = [
      ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ];
    expect(findings.map((f) => `${f.id}: ${JSON.stringify(f.entry.data)}`)).toEqual([]);
  });

  test('suppressions are only IAM5 on the SIR-calling roles, for exactly the SIR wildcards, with a reason', () => {
    const suppressions: Array<{ id: string; reason: string; applies_to?: string[]; path: string }> = [];
    for (const [id, resource] of Object.entries(json.Resources as Record<string, any>)) {
      for (const rule of resource.Metadata?.cdk_nag?.rules_to_suppress ?? []) {
        suppressions.push({ ...rule, path: id });
      }
    }
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) {
      expect(s.id).toBe('AwsSolutions-IAM5');
      expect(s.reason.length).toBeGreaterThan(80);
      for (const target of s.applies_to ?? []) {
        expect([
          'Resource::arn:<AWS::Partition>:security-ir:<AWS::Region>:<AWS::AccountId>:case/*',
          'Resource::arn:<AWS::Partition>:security-ir:<AWS::Region>:<AWS::AccountId>:membership/*',
          'Resource::*',
        ]).toContain(target);
      }
      expect(s.applies_to?.length).toBeGreaterThan(0);
    }
    // the notifications handler calls no SIR API and has nothing suppressed
    expect(suppressions.some((s) => s.path.startsWith('JiraNotificationsHandlerRole'))).toBe(false);
  });
});

describe('mapping table', () => {
  test('PK/SK strings, on-demand, PITR, TTL, deletion protection, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: contract.table.partitionKey, KeyType: 'HASH' },
          { AttributeName: contract.table.sortKey, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: contract.table.partitionKey, AttributeType: 'S' },
          { AttributeName: contract.table.sortKey, AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: contract.table.ttlAttribute, Enabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });
});

describe('event bus and rules', () => {
  test('the integration bus has the contract name', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: contract.eventBus.name });
  });

  const rules = resourcesOf(json, 'AWS::Events::Rule');
  const ruleTargeting = (key: FunctionKey, withPattern: boolean) =>
    Object.values(rules).filter(
      (r: any) => r.Properties.Targets.some((t: any) => t.Arn['Fn::GetAtt']?.[0] === fnId(key)) && (r.Properties.EventPattern !== undefined) === withPattern,
    );

  test('security-ir events on the integration bus go to jira-client', () => {
    const [rule] = ruleTargeting('jiraClient', true);
    expect(rule.Properties.EventPattern).toEqual(contract.rules.jiraClient);
    expect(rule.Properties.EventBusName).toEqual({ Ref: logicalId(stack, stack.bus) });
  });

  test('jira events on the integration bus go to sir-client', () => {
    const [rule] = ruleTargeting('sirClient', true);
    expect(rule.Properties.EventPattern).toEqual(contract.rules.sirClient);
    expect(rule.Properties.EventBusName).toEqual({ Ref: logicalId(stack, stack.bus) });
  });

  test('native aws.security-ir events on the default bus go to the poller', () => {
    const [rule] = ruleTargeting('poller', true);
    expect(rule.Properties.EventPattern).toEqual(contract.rules.nativeSir);
    expect(rule.Properties.EventBusName).toBeUndefined();
  });

  test('the poller schedule: named rule on the default bus, 1 minute, created after jira-client', () => {
    const [rule] = ruleTargeting('poller', false) as any[];
    expect(rule.Properties).toMatchObject({
      Name: stack.scheduleRuleName,
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
    });
    expect(rule.Properties.EventBusName).toBeUndefined();
    const jiraClientRule = Object.entries(rules).find(([, r]: any) => r.Properties.EventPattern?.source?.[0] === 'security-ir')![0];
    for (const [, r] of Object.entries(rules).filter(([, r]: any) => r.Properties.Targets.some((t: any) => t.Arn['Fn::GetAtt']?.[0] === fnId('poller')))) {
      expect(r.DependsOn).toEqual(expect.arrayContaining([fnId('jiraClient'), jiraClientRule]));
    }
  });

  test('the Jira sweep: a schedule on the default bus every 2 minutes to jira-notifications-handler, created after sir-client', () => {
    const sweeps = ruleTargeting('jiraNotificationsHandler', false) as any[];
    expect(sweeps).toHaveLength(1);
    const [rule] = sweeps;
    expect(contract.functions.jiraNotificationsHandler.sweepMinutes).toBe(2);
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(2 minutes)', State: 'ENABLED' });
    expect(rule.Properties.EventBusName).toBeUndefined();
    const [target] = rule.Properties.Targets;
    expect(target.DeadLetterConfig.Arn).toEqual({ 'Fn::GetAtt': [dlqId('jiraNotificationsHandler'), 'Arn'] });
    expect(target.RetryPolicy).toBeDefined();
    const sirClientRule = Object.entries(rules).find(([, r]: any) => r.Properties.EventPattern?.source?.[0] === 'jira')![0];
    expect(rule.DependsOn).toEqual(expect.arrayContaining([fnId('sirClient'), sirClientRule]));
    // EventBridge may invoke the handler (the permission the target adds), and only from this rule.
    const permissions = Object.values(resourcesOf(json, 'AWS::Lambda::Permission')).filter(
      (p: any) => p.Properties.Principal === 'events.amazonaws.com' && p.Properties.FunctionName['Fn::GetAtt']?.[0] === fnId('jiraNotificationsHandler'),
    );
    expect(permissions).toHaveLength(1);
  });

  test('jiraSweepMinutes sets the sweep interval, and 0 leaves the sweep out', () => {
    const sweepRules = (minutes: number) => {
      const { json: other } = synth({ jiraSweepMinutes: String(minutes) });
      return Object.values(resourcesOf(other, 'AWS::Events::Rule')).filter((r: any) =>
        r.Properties.Targets.some((t: any) => t.Arn['Fn::GetAtt']?.[0] === fnId('jiraNotificationsHandler')),
      ) as any[];
    };
    expect(sweepRules(10).map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(10 minutes)']);
    expect(sweepRules(0)).toEqual([]);
  });

  test('no rule without a target and five rules in all', () => {
    expect(Object.keys(rules)).toHaveLength(5);
    for (const rule of Object.values(rules)) {
      expect(rule.Properties.Targets).toHaveLength(1);
    }
  });
});

describe('dead-letter queues: every asynchronous target has one', () => {
  test('every rule target: DLQ of its function, retries and maximum event age', () => {
    for (const rule of Object.values(resourcesOf(json, 'AWS::Events::Rule'))) {
      for (const target of rule.Properties.Targets) {
        const key = FUNCTION_KEYS.find((k) => target.Arn['Fn::GetAtt']?.[0] === fnId(k))!;
        expect(key).toBeDefined();
        expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlqId(key), 'Arn'] } });
        expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
        expect(target.RetryPolicy.MaximumEventAgeInSeconds).toBeGreaterThan(0);
      }
    }
  });

  test('every function: asynchronous-invocation DLQ and retry configuration', () => {
    for (const key of FUNCTION_KEYS) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: Match.absent(),
        DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [dlqId(key), 'Arn'] } },
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fnId(key) },
        MaximumRetryAttempts: 2,
      });
    }
  });

  test('the SNS subscription: Lambda protocol with a redrive policy to the handler DLQ', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      Endpoint: { 'Fn::GetAtt': [fnId('jiraNotificationsHandler'), 'Arn'] },
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId('jiraNotificationsHandler'), 'Arn'] } },
    });
  });

  test('queues: SQS-managed encryption, TLS only, 14 days', () => {
    template.resourceCountIs('AWS::SQS::Queue', 4);
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    for (const policy of Object.values(resourcesOf(json, 'AWS::SQS::QueuePolicy'))) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('Lambdas', () => {
  const functions = resourcesOf(json, 'AWS::Lambda::Function');

  test('four: provided.al2023 on arm64, bootstrap, 128 MB, JSON logs at the deploy log level', () => {
    expect(Object.keys(functions)).toHaveLength(4);
    for (const key of FUNCTION_KEYS) {
      const p = functions[fnId(key)].Properties;
      expect(p.Runtime).toBe('provided.al2023');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.Handler).toBe('bootstrap');
      expect(p.MemorySize).toBe(128);
      expect(p.LoggingConfig).toEqual({
        LogFormat: 'JSON',
        ApplicationLogLevel: { Ref: 'LogLevel' },
        SystemLogLevel: 'INFO',
        LogGroup: { Ref: logicalId(stack, stack.functions[key].logGroup) },
      });
      expect(p.Role).toEqual({ 'Fn::GetAtt': [roleId(key), 'Arn'] });
    }
  });

  test('each log group has a retention', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', 4);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('environment: exactly the contract names for each function', () => {
    const shared = Object.values(contract.sharedEnv);
    const expected: Record<FunctionKey, string[]> = {
      // COMMENT_SWEEP_MINUTES, REDELIVERY_WINDOW_MINUTES, AUDIT_INTERVAL_MINUTES (poller and
      // jira-notifications-handler), MAX_AUDITS_PER_PASS and JIRA_AUDIT_PER_RUN are optional and only
      // set when configured
      poller: [...shared, contract.functions.poller.env.scheduleRuleName, contract.functions.poller.env.integrationPrincipals],
      jiraClient: [...shared, contract.jiraSiteEnv.site, ...Object.values(contract.functions.jiraClient.env)],
      jiraNotificationsHandler: [...shared, contract.jiraSiteEnv.site],
      sirClient: [...shared, contract.jiraSiteEnv.site, ...Object.values(contract.functions.sirClient.env)],
    };
    for (const key of FUNCTION_KEYS) {
      const vars = functions[fnId(key)].Properties.Environment.Variables;
      expect(Object.keys(vars).sort()).toEqual([...expected[key]].sort());
      expect(vars[contract.sharedEnv.tableName]).toEqual({ Ref: logicalId(stack, stack.table as any) });
      expect(vars[contract.sharedEnv.eventBusName]).toEqual({ Ref: logicalId(stack, stack.bus) });
      expect(vars[contract.sharedEnv.parameterPrefix]).toBe(contract.parameters.defaultPrefix);
    }
    const poller = functions[fnId('poller')].Properties.Environment.Variables;
    expect(poller[contract.functions.poller.env.scheduleRuleName]).toBe(stack.scheduleRuleName);
    for (const key of ['poller', 'jiraClient'] as const) {
      const principals = functions[fnId(key)].Properties.Environment.Variables.SIR_INTEGRATION_PRINCIPALS;
      expect(principals).toEqual({
        'Fn::Join': [',', [{ 'Fn::GetAtt': [roleId('sirClient'), 'Arn'] }, { 'Fn::GetAtt': [roleId('jiraClient'), 'Arn'] }]],
      });
    }
    const jira = functions[fnId('jiraClient')].Properties.Environment.Variables;
    expect(jira[contract.functions.jiraClient.env.issueType]).toEqual({ Ref: 'JiraIssueType' });
    const sir = functions[fnId('sirClient')].Properties.Environment.Variables;
    expect(sir[contract.functions.sirClient.env.resolverType]).toEqual({ Ref: 'SirResolverType' });
    expect(sir[contract.functions.sirClient.env.engagementType]).toEqual({ Ref: 'SirEngagementType' });
    expect(sir[contract.functions.sirClient.env.impactedAccounts]).toEqual({ Ref: 'SirImpactedAccounts' });
  });

  test('reserved concurrency caps the Jira/SIR writers and the notifications handler, not the poller', () => {
    expect(functions[fnId('jiraClient')].Properties.ReservedConcurrentExecutions).toBe(5);
    expect(functions[fnId('sirClient')].Properties.ReservedConcurrentExecutions).toBe(5);
    expect(functions[fnId('poller')].Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(functions[fnId('jiraNotificationsHandler')].Properties.ReservedConcurrentExecutions).toBe(2);
  });

  test('deploy-time parameters: log level choices and defaults', () => {
    template.hasParameter('LogLevel', { Default: 'INFO', AllowedValues: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] });
    template.hasParameter('JiraIssueType', { Default: 'Task' });
    template.hasParameter('SirResolverType', { Default: 'Self', AllowedValues: ['Self', 'AWS'] });
    template.hasParameter('SirEngagementType', { Default: 'Security Incident', AllowedValues: ['Security Incident', 'Investigation'] });
    template.hasParameter('SirImpactedAccounts', { Default: '' });
    template.hasParameter('StatusMapping', { Default: '{}' });
  });
});

describe('SNS topic for Jira Automation', () => {
  const topicId = logicalId(stack, stack.topic);

  test('publish is allowed to the Atlassian automation principal only, and only over TLS', () => {
    const [policy] = Object.values(resourcesOf(json, 'AWS::SNS::TopicPolicy'));
    expect(policy.Properties.Topics).toEqual([{ Ref: topicId }]);
    const statements: any[] = policy.Properties.PolicyDocument.Statement;
    const allows = statements.filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Sid: 'AtlassianAutomationPublishes',
        Effect: 'Allow',
        Principal: { AWS: contract.jiraAutomation.publisherPrincipal },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
      },
    ]);
    expect(contract.jiraAutomation.publisherPrincipal).toBe(
      'arn:aws:sts::815843069303:assumed-role/atlassian-automation-prod-outgoing/automation-sns-publish-action',
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Principal: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  test('not encrypted by default (see the stack comment); one topic', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.absent() });
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  test('SNS may invoke the handler, for this topic only', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId('jiraNotificationsHandler'), 'Arn'] },
      Principal: 'sns.amazonaws.com',
      SourceArn: { Ref: topicId },
    });
  });
});

describe('SSM parameters and the token', () => {
  const prefix = contract.parameters.defaultPrefix;

  test('the stack creates the seven non-secret String parameters', () => {
    const parameters = Object.values(resourcesOf(json, 'AWS::SSM::Parameter'));
    expect(parameters.map((p) => p.Properties.Name).sort()).toEqual(
      [
        contract.parameters.jiraEmail,
        contract.parameters.jiraUrl,
        contract.parameters.jiraProjectKey,
        contract.parameters.statusMapping,
        contract.parameters.jiraCaseFilter,
        contract.parameters.installedAt,
        contract.parameters.backfill,
      ]
        .map((leaf) => `${prefix}/${leaf}`)
        .sort(),
    );
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `${prefix}/${contract.parameters.jiraCaseFilter}`, Value: { Ref: 'JiraCaseFilter' } });
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `${prefix}/${contract.parameters.installedAt}`, Value: { Ref: 'InstalledAt' } });
    expect(json.Parameters.JiraCaseFilter.Default).toBe(contract.parameters.caseFilterDefault);
    expect(json.Parameters.InstalledAt.Default).toBeUndefined();
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `${prefix}/${contract.parameters.backfill}`, Value: { Ref: 'Backfill' } });
    expect(json.Parameters.Backfill.Default).toBe(contract.parameters.backfillDefault);
    const backfillPattern = new RegExp(json.Parameters.Backfill.AllowedPattern);
    for (const ok of [contract.parameters.backfillDefault, '{"since":"2026-06-15","closed":true}']) {
      expect(backfillPattern.test(ok)).toBe(true);
    }
    for (const bad of ['{"since":"15/06/2026","closed":false}', '{"closed":false}', '{"since":"","closed":"no"}', '']) {
      expect(backfillPattern.test(bad)).toBe(false);
    }
    expect(json.Parameters.InstalledAt.AllowedPattern).toBe('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$');
    for (const p of parameters) {
      expect(p.Properties.Type).toBe('String');
    }
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `${prefix}/jiraEmail`, Value: { Ref: 'JiraEmail' } });
    template.hasResourceProperties('AWS::SSM::Parameter', { Name: `${prefix}/statusMapping`, Value: { Ref: 'StatusMapping' } });
  });

  test('no parameter holds a token: no SSM parameter, no CloudFormation parameter, no NoEcho', () => {
    for (const p of Object.values(resourcesOf(json, 'AWS::SSM::Parameter'))) {
      expect(p.Properties.Name).not.toMatch(/token/i);
      expect(JSON.stringify(p.Properties.Value)).not.toMatch(/token/i);
    }
    for (const [name, parameter] of Object.entries(json.Parameters as Record<string, any>)) {
      expect(name).not.toMatch(/token|secret|password/i);
      expect(parameter.NoEcho).toBeUndefined();
    }
  });

  test('the token appears only as a parameter ARN in the readers\' IAM policies', () => {
    const text = JSON.stringify(json);
    // (jiraToken and jiraTokenExpiresOn, the expiry date stored beside it, in each reader's policy)
    const mentions = text.split(contract.parameters.jiraToken).length - 1;
    const expiryMentions = text.split(contract.parameters.jiraTokenExpiresOn).length - 1;
    const readers = FUNCTION_KEYS.filter((k) => policyOf(k).some((s) => s.Sid === 'JiraSettings'));
    expect(readers.sort()).toEqual(['jiraClient', 'jiraNotificationsHandler', 'sirClient']);
    expect(expiryMentions).toBe(readers.length);
    expect(mentions).toBe(2 * readers.length);
    for (const key of readers) {
      const statement = policyOf(key).find((s) => s.Sid === 'JiraSettings');
      expect(statement.Action).toBe('ssm:GetParameters');
      expect(JSON.stringify(statement.Resource)).toContain(`:parameter/${prefix.slice(1)}/${contract.parameters.jiraToken}"`);
      expect(JSON.stringify(statement.Resource)).toContain(`:parameter/${prefix.slice(1)}/${contract.parameters.jiraTokenExpiresOn}"`);
      expect(JSON.stringify(statement.Resource)).toContain(`:parameter/${prefix.slice(1)}/${contract.parameters.jiraApiUrl}"`);
    }
  });
});

describe('IAM least privilege', () => {
  test('roles have no managed policies and trust only Lambda', () => {
    for (const key of FUNCTION_KEYS) {
      const role = json.Resources[roleId(key)].Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
  });

  test('no statement allows a wildcard action', () => {
    for (const statement of allIamStatements()) {
      for (const action of actionsOf(statement)) {
        expect(action).not.toMatch(/\*/);
      }
    }
    const resourcePolicies = [...Object.values(resourcesOf(json, 'AWS::SNS::TopicPolicy')), ...Object.values(resourcesOf(json, 'AWS::SQS::QueuePolicy'))];
    for (const policy of resourcePolicies) {
      for (const statement of policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow')) {
        for (const action of actionsOf(statement)) {
          expect(action).not.toMatch(/\*/);
        }
      }
    }
  });

  test('Resource "*" only for the actions without resource-level permissions', () => {
    for (const statement of allIamStatements()) {
      if (asArray(statement.Resource).includes('*')) {
        for (const action of actionsOf(statement)) {
          expect(ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS).toContain(action);
        }
      }
    }
    expect(ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS).toEqual(['security-ir:ListCases', 'security-ir:ListMemberships']);
  });

  // Which actions each function needs is not checked here against permissions.ts (the table the
  // policies are generated from, so that would prove nothing): the local world enforces these
  // policies on every call the end-to-end tests, the demo and the binaries' smoke test make
  // (tests/tests/infra_iam.rs), and tests/iam_coverage.py fails on a grant no test used.
  test('each statement is on its own resource', () => {
    const caseArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':security-ir:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':case/*']] };
    const membershipArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':security-ir:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':membership/*']] };
    const tableArn = { 'Fn::GetAtt': [logicalId(stack, stack.table as any), 'Arn'] };
    for (const key of FUNCTION_KEYS) {
      const statements = policyOf(key);
      const bySid = (sid: string) => statements.find((s) => s.Sid === sid);
      expect(bySid('MappingTable').Resource).toEqual(tableArn);
      if (SIR_CASE_ACTIONS[key].length) {
        expect(bySid('SirCases').Resource).toEqual(caseArn);
      } else {
        expect(bySid('SirCases')).toBeUndefined();
      }
      if (SIR_MEMBERSHIP_ACTIONS[key].length) {
        expect(bySid('SirMemberships').Resource).toEqual(membershipArn);
      } else {
        expect(bySid('SirMemberships')).toBeUndefined();
      }
      if (bySid('SirListsWithoutResourceLevelPermissions')) {
        expect(bySid('SirListsWithoutResourceLevelPermissions').Resource).toEqual('*');
      }
      if (BUS_PUBLISHERS.includes(key)) {
        expect(bySid('PublishToIntegrationBus')).toMatchObject({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [logicalId(stack, stack.bus), 'Arn'] } });
      } else {
        expect(statements.flatMap(actionsOf)).not.toContain('events:PutEvents');
      }
      // its own DLQ and log group, nothing else of the kind
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [dlqId(key), 'Arn'] } }));
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logicalId(stack, stack.functions[key].logGroup), 'Arn'] },
        }),
      );
      const services = new Set(statements.flatMap(actionsOf).map((a) => a.split(':')[0]));
      for (const service of services) {
        expect(['dynamodb', 'security-ir', 'ssm', 'events', 'sqs', 'logs']).toContain(service);
      }
    }
  });

  test('the poller may describe and rewrite its own schedule rule, and no other', () => {
    const statement = policyOf('poller').find((s) => s.Sid === 'OwnScheduleRule');
    expect(statement.Action).toEqual(['events:DescribeRule', 'events:PutRule']);
    expect(JSON.stringify(statement.Resource)).toContain(`:rule/${stack.scheduleRuleName}`);
    for (const key of FUNCTION_KEYS.filter((k) => k !== 'poller')) {
      expect(policyOf(key).flatMap(actionsOf)).not.toContain('events:PutRule');
    }
  });

  test('only the readers read SSM: GetParameters for the Jira settings, GetParameter for the mapping', () => {
    expect(policyOf('poller').flatMap(actionsOf).filter((a) => a.startsWith('ssm:'))).toEqual(['ssm:GetParameters']);
    const backfill = policyOf('poller').find((s) => s.Sid === 'Backfill');
    const backfillIds = Object.entries(resourcesOf(json, 'AWS::SSM::Parameter'))
      .filter(([, p]: any) => [contract.parameters.backfill, contract.parameters.installedAt].some((leaf) => p.Properties.Name === `${contract.parameters.defaultPrefix}/${leaf}`))
      .map(([id]) => id);
    expect(backfillIds).toHaveLength(2);
    for (const id of backfillIds) {
      expect(JSON.stringify(backfill.Resource)).toContain(`{"Ref":"${id}"}`);
    }
    for (const key of FUNCTION_KEYS.filter((k) => k !== 'poller')) {
      expect(policyOf(key).find((s) => s.Sid === 'Backfill')).toBeUndefined();
    }
    // Jira settings, the case filter, and the webhook secret (see webhook-intake.test.ts).
    expect(policyOf('jiraNotificationsHandler').flatMap(actionsOf).filter((a) => a.startsWith('ssm:'))).toEqual([
      'ssm:GetParameters',
      'ssm:GetParameters',
      'ssm:GetParameters',
    ]);
    const caseFilter = policyOf('jiraNotificationsHandler').find((s) => s.Sid === 'CaseFilter');
    const parameterIds = Object.entries(resourcesOf(json, 'AWS::SSM::Parameter'))
      .filter(([, p]: any) => [contract.parameters.jiraCaseFilter, contract.parameters.installedAt].some((leaf) => p.Properties.Name === `${contract.parameters.defaultPrefix}/${leaf}`))
      .map(([id]) => id);
    expect(parameterIds).toHaveLength(2);
    for (const id of parameterIds) {
      expect(JSON.stringify(caseFilter.Resource)).toContain(`{"Ref":"${id}"}`);
    }
    for (const key of FUNCTION_KEYS.filter((k) => k !== 'jiraNotificationsHandler')) {
      expect(policyOf(key).find((s) => s.Sid === 'CaseFilter')).toBeUndefined();
    }
    for (const key of ['jiraClient', 'sirClient'] as const) {
      expect(policyOf(key).flatMap(actionsOf).filter((a) => a.startsWith('ssm:')).sort()).toEqual(['ssm:GetParameter', 'ssm:GetParameters']);
    }
  });
});

describe('alarms', () => {
  test('a DLQ-depth alarm and an Errors alarm per function', () => {
    // the DLQ and Errors alarms, and the no-sync alarm (dashboard.test.ts)
    template.resourceCountIs('AWS::CloudWatch::Alarm', 14);
    for (const key of FUNCTION_KEYS) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(key), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(key) } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });
});

describe('outputs', () => {
  test('topic ARN, table, bus, DLQ URLs and log group names', () => {
    template.hasOutput('JiraAutomationTopicArn', { Value: { Ref: logicalId(stack, stack.topic) } });
    template.hasOutput('MappingTableName', { Value: { Ref: logicalId(stack, stack.table as any) } });
    template.hasOutput('EventBusName', { Value: { Ref: logicalId(stack, stack.bus) } });
    for (const key of FUNCTION_KEYS) {
      template.hasOutput(`${PASCAL[key]}DeadLetterQueueUrl`, { Value: { Ref: dlqId(key) } });
      template.hasOutput(`${PASCAL[key]}LogGroupName`, { Value: { Ref: logicalId(stack, stack.functions[key].logGroup) } });
    }
  });
});

describe('function timeouts and the claim lease (contract.json)', () => {
  test("each function's synthesized timeout is the contract's timeoutSeconds", () => {
    const functions = resourcesOf(json, 'AWS::Lambda::Function');
    for (const key of FUNCTION_KEYS) {
      expect([key, functions[fnId(key)].Properties.Timeout]).toEqual([key, contract.functions[key].timeoutSeconds]);
    }
  });

  test('the claim timing fits each claiming function: renewed thrice per lease, outwaiting a dead holder, half the timeout left', () => {
    for (const key of CLAIMING_FUNCTIONS) {
      const timeout = contract.functions[key].timeoutSeconds;
      expect(3 * contract.claimRenewSeconds).toBeLessThanOrEqual(contract.claimLeaseSeconds);
      expect(contract.claimWaitSeconds).toBeGreaterThan(contract.claimLeaseSeconds);
      expect(2 * contract.claimWaitSeconds).toBeLessThanOrEqual(timeout);
      expect(claimTimingProblem(contract, key)).toBeUndefined();
    }
  });

  test('a contract whose claim timing does not fit is refused at synthesis', () => {
    const withTiming = (timing: Partial<typeof contract>) => () =>
      new IntegrationStack(new App(), 'LeaseCheck', {
        contract: { ...contract, ...timing },
        lambdaAssets: Object.fromEntries(FUNCTION_KEYS.map((k) => [k, PLACEHOLDER_ASSET_DIR])) as Record<FunctionKey, string>,
      });
    const timeout = contract.functions.jiraClient.timeoutSeconds;
    expect(withTiming({ claimRenewSeconds: contract.claimLeaseSeconds })).toThrow(/at most a third of claimLeaseSeconds/);
    expect(withTiming({ claimWaitSeconds: contract.claimLeaseSeconds })).toThrow(/must outwait a dead holder/);
    expect(withTiming({ claimWaitSeconds: timeout })).toThrow(/at most half of jiraClient's timeout/);
  });
});

describe('jira-notifications-handler concurrency cap (forged Automation floods)', () => {
  const reservedOf = (context: Record<string, string>) => {
    const { stack: s, json: j } = synth(context);
    return j.Resources[logicalId(s, s.functions.jiraNotificationsHandler.fn)].Properties.ReservedConcurrentExecutions;
  };

  test('the handler has a small reserved concurrency by default', () => {
    expect(NOTIFICATIONS_RESERVED_CONCURRENCY).toBe(2);
    const fn = json.Resources[fnId('jiraNotificationsHandler')].Properties;
    expect(fn.ReservedConcurrentExecutions).toBe(NOTIFICATIONS_RESERVED_CONCURRENCY);
  });

  test('a smaller reservedConcurrency caps it too, and 0 reserves none', () => {
    expect(reservedOf({ reservedConcurrency: '1' })).toBe(1);
    expect(reservedOf({ reservedConcurrency: '8' })).toBe(NOTIFICATIONS_RESERVED_CONCURRENCY);
    expect(reservedOf({ reservedConcurrency: '0' })).toBeUndefined();
  });
});
