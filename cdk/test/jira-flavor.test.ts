// Jira Data Center (context jiraFlavor, jiraAuth) and the VPC placement of the functions that call
// Jira (context vpcId, vpcSubnetIds, vpcSecurityGroupIds): the environment the Rust functions read
// (shared::config::JiraFlavor::from_lookup), the refusals, and nothing of either by default.
import { Match } from 'aws-cdk-lib/assertions';
import { FunctionKey } from '../lib/contract';
import { VPC_NETWORK_INTERFACE_ACTIONS } from '../lib/jira-site';
import { FUNCTION_KEYS, JIRA_CALLERS } from '../lib/stack';
import { Synthesized, contract, logicalId, resourcesOf, synth } from './helpers';

const FLAVOR = contract.jiraSiteEnv.flavor;
const AUTH = contract.jiraSiteEnv.auth;
const VPC = {
  vpcId: 'vpc-0123456789abcdef0',
  vpcSubnetIds: 'subnet-0123456789abcdef0, subnet-0fedcba9876543210',
  vpcSecurityGroupIds: 'sg-0123456789abcdef0,sg-0aaaabbbbccccdddd',
};

const byDefault = synth();
const cloud = synth({ jiraFlavor: 'cloud' });
const dataCenter = synth({ jiraFlavor: 'data-center', webhookIntake: 'true' });
const dataCenterBasicInVpc = synth({ jiraFlavor: 'data-center', jiraAuth: 'basic', webhookIntake: 'true', ...VPC });
const cloudInVpc = synth(VPC);
const cloudWebhook = synth({ webhookIntake: 'true' });
const cloudWebhookOnly = synth({ webhookIntake: 'true', automationIntake: 'false' });
const cloudEncrypted = synth({ encryptTopic: 'true' });
const dataCenterEncrypted = synth({ jiraFlavor: 'data-center', webhookIntake: 'true', encryptTopic: 'true' });

const fnProps = (s: Synthesized, key: FunctionKey) => s.json.Resources[logicalId(s.stack, s.stack.functions[key].fn)].Properties;
const roleStatements = (s: Synthesized, key: FunctionKey): any[] => {
  const roleId = logicalId(s.stack, s.stack.functions[key].role);
  return Object.values(resourcesOf(s.json, 'AWS::IAM::Policy'))
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
};
// The Jira Automation intake: Atlassian's shared publisher (every Jira Cloud tenant's rules publish
// as it) in the topic and key policies, and the topic's subscription of jira-notifications-handler.
const PUBLISHER = contract.jiraAutomation.publisherPrincipal;
const PUBLISHER_ACCOUNT = PUBLISHER.split(':')[4];
const principalsOf = (statement: any): string[] =>
  typeof statement.Principal === 'string'
    ? [statement.Principal]
    : Object.values(statement.Principal ?? {}).flatMap((p: any) => (Array.isArray(p) ? p : [p])).map((p) => JSON.stringify(p));
const admitsAtlassian = (statement: any) =>
  statement.Effect === 'Allow' && principalsOf(statement).some((p) => p.includes(PUBLISHER_ACCOUNT) || /atlassian/i.test(p));
const topicStatements = (s: Synthesized): any[] =>
  Object.values(resourcesOf(s.json, 'AWS::SNS::TopicPolicy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const keyStatements = (s: Synthesized): any[] =>
  Object.values(resourcesOf(s.json, 'AWS::KMS::Key')).flatMap((k: any) => k.Properties.KeyPolicy.Statement);
const topicId = (s: Synthesized) => logicalId(s.stack, s.stack.topic);
const handlerSubscriptions = (s: Synthesized) =>
  Object.values(resourcesOf(s.json, 'AWS::SNS::Subscription')).filter(
    (r: any) => JSON.stringify(r.Properties.Endpoint) === JSON.stringify({ 'Fn::GetAtt': [logicalId(s.stack, s.stack.functions.jiraNotificationsHandler.fn), 'Arn'] }),
  );
const snsPermissions = (s: Synthesized) =>
  Object.values(resourcesOf(s.json, 'AWS::Lambda::Permission')).filter((r: any) => r.Properties.Principal === 'sns.amazonaws.com');
const snsQueueGrants = (s: Synthesized) =>
  Object.values(resourcesOf(s.json, 'AWS::SQS::QueuePolicy'))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement)
    .filter((st: any) => st.Principal?.Service === 'sns.amazonaws.com');

const nagFindings = (s: Synthesized) =>
  [
    ...s.annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...s.annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((f) => `${f.id}: ${JSON.stringify(f.entry.data)}`);

test('the functions that call Jira are jira-client, jira-notifications-handler and sir-client; not the poller', () => {
  expect([...JIRA_CALLERS].sort()).toEqual(['jiraClient', 'jiraNotificationsHandler', 'sirClient']);
});

test('Jira Cloud (by default or named): no JIRA_FLAVOR or JIRA_AUTH on any function, and the user is an e-mail', () => {
  for (const s of [byDefault, cloud]) {
    for (const key of FUNCTION_KEYS) {
      const variables = fnProps(s, key).Environment.Variables;
      expect(variables[FLAVOR]).toBeUndefined();
      expect(variables[AUTH]).toBeUndefined();
    }
    expect(s.json.Parameters.JiraEmail.ConstraintDescription).toBe('must be an e-mail address');
  }
  // naming the default changes nothing
  expect(cloud.json).toEqual(byDefault.json);
});

test('Jira Data Center: JIRA_FLAVOR=data-center and JIRA_AUTH=token on exactly the three functions that call Jira', () => {
  for (const key of FUNCTION_KEYS) {
    const variables = fnProps(dataCenter, key).Environment.Variables;
    if (JIRA_CALLERS.includes(key)) {
      expect(variables[FLAVOR]).toBe('data-center');
      expect(variables[AUTH]).toBe('token');
    } else {
      expect(variables[FLAVOR]).toBeUndefined();
      expect(variables[AUTH]).toBeUndefined();
    }
  }
  expect(nagFindings(dataCenter)).toEqual([]);
});

test('a deployment that changes the site or project replaces the Jira callers\' execution environments, after the parameters', () => {
  const ssmParameterId = (s: Synthesized, name: string) => {
    const found = Object.entries(resourcesOf(s.json, 'AWS::SSM::Parameter')).filter(([, r]: [string, any]) =>
      JSON.stringify(r.Properties.Name).includes(`/${name}`),
    );
    expect(found).toHaveLength(1);
    return found[0][0];
  };
  for (const s of [byDefault, dataCenter]) {
    const url = ssmParameterId(s, contract.parameters.jiraUrl);
    const project = ssmParameterId(s, contract.parameters.jiraProjectKey);
    for (const key of FUNCTION_KEYS) {
      const resource = s.json.Resources[logicalId(s.stack, s.stack.functions[key].fn)];
      const site = resource.Properties.Environment.Variables[contract.jiraSiteEnv.site];
      if (JIRA_CALLERS.includes(key)) {
        expect(site).toEqual({ 'Fn::Join': [' ', [{ Ref: 'JiraUrl' }, { Ref: 'JiraProjectKey' }]] });
        expect(resource.DependsOn).toEqual(expect.arrayContaining([url, project]));
      } else {
        expect(site).toBeUndefined();
      }
    }
  }
});

test('Jira Data Center with basic auth: JIRA_AUTH=basic', () => {
  for (const key of JIRA_CALLERS) {
    const variables = fnProps(dataCenterBasicInVpc, key).Environment.Variables;
    expect(variables[FLAVOR]).toBe('data-center');
    expect(variables[AUTH]).toBe('basic');
  }
  expect(fnProps(dataCenterBasicInVpc, 'poller').Environment.Variables[AUTH]).toBeUndefined();
});

test('Jira Data Center: the jiraEmail parameter takes a user name, not only an e-mail', () => {
  const parameter = dataCenter.json.Parameters.JiraEmail;
  const pattern = new RegExp(parameter.AllowedPattern);
  for (const name of ['svc-sir', 'jira.bot', 'bot@example.com', 'DOMAIN\\svc']) {
    expect(pattern.test(name)).toBe(true);
  }
  for (const name of ['', ' svc', 'svc ', 'a\nb']) {
    expect(pattern.test(name)).toBe(false);
  }
  expect(parameter.Description).toMatch(/user name/i);
});

test('Jira Data Center without the webhook intake is refused (Automation cannot reach it)', () => {
  expect(() => synth({ jiraFlavor: 'data-center' })).toThrow(/jiraFlavor=data-center needs webhookIntake=true.*no Amazon SNS action/);
  expect(() => synth({ jiraFlavor: 'data-center', jiraAuth: 'basic', webhookIntake: 'false' })).toThrow(
    /needs webhookIntake=true/,
  );
});

test('unknown flavours and auths, and an auth on Jira Cloud, are refused', () => {
  expect(() => synth({ jiraFlavor: 'server', webhookIntake: 'true' })).toThrow(/context jiraFlavor=server: use cloud .* or data-center/);
  expect(() => synth({ jiraFlavor: 'data-center', jiraAuth: 'oauth', webhookIntake: 'true' })).toThrow(
    /context jiraAuth=oauth: use token .* or basic/,
  );
  expect(() => synth({ jiraAuth: 'basic' })).toThrow(/jiraAuth=basic only goes with jiraFlavor=data-center/);
  expect(() => synth({ jiraFlavor: 'cloud', jiraAuth: 'token' })).toThrow(/only goes with jiraFlavor=data-center/);
});

test('no VPC by default: no function has a VpcConfig, no role an EC2 grant', () => {
  for (const s of [byDefault, dataCenter]) {
    s.template.allResourcesProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
    expect(JSON.stringify(resourcesOf(s.json, 'AWS::IAM::Policy'))).not.toContain('ec2:');
  }
});

test('VPC placement: the given subnets and security groups on exactly the three functions that call Jira', () => {
  for (const s of [dataCenterBasicInVpc, cloudInVpc]) {
    for (const key of FUNCTION_KEYS) {
      const vpcConfig = fnProps(s, key).VpcConfig;
      if (JIRA_CALLERS.includes(key)) {
        expect(vpcConfig).toEqual({
          SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
          SecurityGroupIds: ['sg-0123456789abcdef0', 'sg-0aaaabbbbccccdddd'],
        });
      } else {
        expect(vpcConfig).toBeUndefined();
      }
    }
    // Imported by id: nothing of the network is created (no security group, no VPC, no subnet).
    expect(Object.values(s.json.Resources).filter((r: any) => r.Type.startsWith('AWS::EC2::'))).toEqual([]);
    expect(nagFindings(s)).toEqual([]);
  }
});

test('VPC placement: the three roles may manage the network interfaces (as AWSLambdaVPCAccessExecutionRole), before the function exists', () => {
  const s = dataCenterBasicInVpc;
  for (const key of FUNCTION_KEYS) {
    const statement = roleStatements(s, key).find((st) => st.Sid === 'VpcNetworkInterfaces');
    if (JIRA_CALLERS.includes(key)) {
      expect(statement).toEqual({ Sid: 'VpcNetworkInterfaces', Effect: 'Allow', Action: VPC_NETWORK_INTERFACE_ACTIONS, Resource: '*' });
      // Lambda creates the interfaces with the role when the function is created.
      const fnId = logicalId(s.stack, s.stack.functions[key].fn);
      const policyId = Object.entries(resourcesOf(s.json, 'AWS::IAM::Policy')).find(([, p]: [string, any]) =>
        p.Properties.Roles.some((r: any) => r.Ref === logicalId(s.stack, s.stack.functions[key].role)),
      )![0];
      expect(s.json.Resources[fnId].DependsOn).toContain(policyId);
    } else {
      expect(statement).toBeUndefined();
    }
    // no managed policy: the role keeps only the grants the stack writes
    expect(s.json.Resources[logicalId(s.stack, s.stack.functions[key].role)].Properties.ManagedPolicyArns).toBeUndefined();
  }
  expect(VPC_NETWORK_INTERFACE_ACTIONS.every((a) => a.startsWith('ec2:'))).toBe(true);
});

test('half a VPC placement, and ids that are not ids, are refused', () => {
  expect(() => synth({ vpcSubnetIds: VPC.vpcSubnetIds, vpcId: VPC.vpcId })).toThrow(
    /context vpcId, vpcSubnetIds without vpcSecurityGroupIds/,
  );
  expect(() => synth({ vpcSecurityGroupIds: VPC.vpcSecurityGroupIds })).toThrow(
    /context vpcSecurityGroupIds without vpcId, vpcSubnetIds/,
  );
  expect(() => synth({ ...VPC, vpcSubnetIds: 'subnet-0123456789abcdef0,sg-0123456789abcdef0' })).toThrow(
    /vpcSubnetIds: sg-0123456789abcdef0 is not a subnet id/,
  );
  expect(() => synth({ ...VPC, vpcSecurityGroupIds: 'default' })).toThrow(/vpcSecurityGroupIds: default is not a security group id/);
  expect(() => synth({ ...VPC, vpcId: 'my-vpc' })).toThrow(/vpcId=my-vpc is not a VPC id/);
  expect(() => synth({ ...VPC, vpcSubnetIds: ',' })).toThrow(/vpcSubnetIds names no id/);
});

test('Jira Data Center, and Jira Cloud with the webhook intake only: the Automation topic and its output stay, but no policy admits an Atlassian principal', () => {
  for (const s of [dataCenter, dataCenterBasicInVpc, dataCenterEncrypted, cloudWebhookOnly]) {
    s.template.resourceCountIs('AWS::SNS::Topic', 1);
    s.template.hasOutput('JiraAutomationTopicArn', {
      Value: { Ref: topicId(s) },
      Description: Match.stringLikeRegexp(s === cloudWebhookOnly ? '^Unused with --intake webhook' : '^Unused on Jira Data Center'),
    });
    const statements = topicStatements(s);
    // the topic policy keeps only the TLS-only deny
    expect(statements).toEqual([
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]);
    expect(statements.filter(admitsAtlassian)).toEqual([]);
    expect(statements.map((st) => st.Sid)).not.toContain('AtlassianAutomationPublishes');
    expect(keyStatements(s).filter(admitsAtlassian)).toEqual([]);
    // nowhere in the template
    expect(JSON.stringify(s.json)).not.toContain(PUBLISHER_ACCOUNT);
    expect(nagFindings(s)).toEqual([]);
  }
  // encryptTopic still encrypts the (unused) topic, with a key only this account administers
  dataCenterEncrypted.template.resourceCountIs('AWS::KMS::Key', 1);
  dataCenterEncrypted.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  expect(keyStatements(dataCenterEncrypted).map((st) => st.Sid)).not.toContain('AtlassianAutomationPublisherUsesKey');
});

test('Jira Data Center, and Jira Cloud with the webhook intake only: no SNS subscription of jira-notifications-handler, no Lambda permission for sns.amazonaws.com, no DLQ grant to SNS', () => {
  for (const s of [dataCenter, dataCenterBasicInVpc, dataCenterEncrypted, cloudWebhookOnly]) {
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(handlerSubscriptions(s)).toEqual([]);
    expect(snsPermissions(s)).toEqual([]);
    expect(snsQueueGrants(s)).toEqual([]);
    expect(JSON.stringify(s.json)).not.toContain('sns.amazonaws.com');
    // the signed webhook stays the intake
    s.template.resourceCountIs('AWS::Lambda::Url', 1);
  }
});

test('without an intake for Jira changes the stack is refused', () => {
  expect(() => synth({ automationIntake: 'false' })).toThrow(/automationIntake=false needs webhookIntake=true/);
});

test('Jira Cloud (by default, with both intakes, with encryptTopic): Atlassian publishes to the topic and jira-notifications-handler is subscribed', () => {
  for (const s of [byDefault, cloud, cloudWebhook, cloudEncrypted, cloudInVpc]) {
    expect(topicStatements(s).filter(admitsAtlassian)).toEqual([
      { Sid: 'AtlassianAutomationPublishes', Effect: 'Allow', Principal: { AWS: PUBLISHER }, Action: 'sns:Publish', Resource: { Ref: topicId(s) } },
    ]);
    expect(handlerSubscriptions(s)).toHaveLength(1);
    expect(snsPermissions(s)).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({ Action: 'lambda:InvokeFunction', SourceArn: { Ref: topicId(s) } }),
      }),
    ]);
    expect(snsQueueGrants(s)).toHaveLength(1);
    s.template.hasOutput('JiraAutomationTopicArn', { Description: Match.stringLikeRegexp('Publish to Amazon SNS') });
  }
  expect(keyStatements(cloudEncrypted).filter(admitsAtlassian)).toEqual([
    expect.objectContaining({ Sid: 'AtlassianAutomationPublisherUsesKey', Principal: { AWS: PUBLISHER } }),
  ]);
});
