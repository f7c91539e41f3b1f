// The stack with every option deploy.sh can pass: a customer managed key on the topic, a reused
// table, an alarm topic, no reserved concurrency, another SSM prefix, a comment-sweep interval, a
// redelivery window, an audit interval (the poller's and the Jira audit's) and sizes.
import { Match } from 'aws-cdk-lib/assertions';
import { FUNCTION_KEYS } from '../lib/stack';
import { contract, logicalId, resourcesOf, synth } from './helpers';

const alarmTopicArn = 'arn:aws:sns:eu-west-1:111122223333:ops-alarms';
const { stack, template, json, annotations } = synth({
  encryptTopic: 'true',
  existingTableName: 'KeptMappingTable',
  alarmTopicArn,
  reservedConcurrency: '0',
  parameterPrefix: '/Test/Sir/',
  commentSweepMinutes: '30',
  redeliveryWindowMinutes: '45',
  auditIntervalMinutes: '90',
  auditsPerPass: '7',
  jiraAuditPerRun: '12',
  logRetentionDays: '365',
  memoryMb: '512',
});

test('cdk-nag AwsSolutions: no unsuppressed error or warning', () => {
  const findings = [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ];
  expect(findings.map((f) => `${f.id}: ${JSON.stringify(f.entry.data)}`)).toEqual([]);
});

test('the topic is encrypted with a rotating CMK the Atlassian publisher may use', () => {
  const keyId = logicalId(stack, stack.topic.masterKey as any);
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
  const key = json.Resources[keyId].Properties;
  expect(key.EnableKeyRotation).toBe(true);
  const grant = key.KeyPolicy.Statement.find((s: any) => s.Sid === 'AtlassianAutomationPublisherUsesKey');
  expect(grant).toEqual({
    Sid: 'AtlassianAutomationPublisherUsesKey',
    Effect: 'Allow',
    Principal: { AWS: contract.jiraAutomation.publisherPrincipal },
    Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
    Resource: '*',
  });
  // besides the grant, only the account's own administrative statement (CDK's default key policy)
  const others = key.KeyPolicy.Statement.filter((s: any) => s !== grant);
  expect(others).toHaveLength(1);
  expect(JSON.stringify(others[0].Principal)).toContain(':root');
});

test('an existing table is reused, not created, and IAM points at it', () => {
  template.resourceCountIs('AWS::DynamoDB::Table', 0);
  const fn = json.Resources[logicalId(stack, stack.functions.poller.fn)].Properties;
  expect(fn.Environment.Variables[contract.sharedEnv.tableName]).toBe('KeptMappingTable');
  expect(JSON.stringify(resourcesOf(json, 'AWS::IAM::Policy'))).toContain(':table/KeptMappingTable');
  template.hasOutput('MappingTableName', { Value: 'KeptMappingTable' });
});

test('alarms notify the given topic', () => {
  template.resourceCountIs('AWS::CloudWatch::Alarm', 14);
  template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [alarmTopicArn] });
});

test('every function gets the memory asked for', () => {
  for (const key of FUNCTION_KEYS) {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp(contract.functions[key].crate),
      MemorySize: 512,
    });
  }
  expect(() => synth({ memoryMb: '64' })).toThrow(/memoryMb=64/);
});

test('no reserved concurrency when 0 is asked for', () => {
  template.allResourcesProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: Match.absent() });
});

test('another prefix moves every parameter, the env var and the IAM resources', () => {
  const names = Object.values(resourcesOf(json, 'AWS::SSM::Parameter')).map((p) => p.Properties.Name);
  for (const name of names) {
    expect(name).toMatch(/^\/Test\/Sir\/[a-zA-Z]+$/);
  }
  for (const key of FUNCTION_KEYS) {
    const fn = json.Resources[logicalId(stack, stack.functions[key].fn)].Properties;
    expect(fn.Environment.Variables[contract.sharedEnv.parameterPrefix]).toBe('/Test/Sir');
  }
  expect(JSON.stringify(json)).toContain(':parameter/Test/Sir/jiraToken');
});

test('comment sweep interval, redelivery window, audit interval and sizes, and log retention', () => {
  const poller = json.Resources[logicalId(stack, stack.functions.poller.fn)].Properties;
  expect(poller.Environment.Variables[contract.functions.poller.env.commentSweepMinutes]).toBe('30');
  expect(poller.Environment.Variables[contract.functions.poller.env.redeliveryWindowMinutes]).toBe('45');
  expect(poller.Environment.Variables[contract.functions.poller.env.auditIntervalMinutes]).toBe('90');
  expect(poller.Environment.Variables[contract.functions.poller.env.maxAuditsPerPass]).toBe('7');
  const notifications = json.Resources[logicalId(stack, stack.functions.jiraNotificationsHandler.fn)].Properties;
  expect(notifications.Environment.Variables[contract.functions.jiraNotificationsHandler.env.auditPerRun]).toBe('12');
  // one setting for both audits: the Jira audit's rounds follow the poller's pace
  expect(notifications.Environment.Variables[contract.functions.jiraNotificationsHandler.env.auditIntervalMinutes]).toBe(
    '90',
  );
  template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
});
