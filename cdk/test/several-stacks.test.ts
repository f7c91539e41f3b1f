// Two deployments side by side in one account and region (e.g. two Jira sites): the default stack
// keeps the names existing installations have, a second stack derives its own from its name, no
// physical name is shared, and each stack's roles reach only that stack's resources.
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { stackNames } from '../lib/contract';
import { FUNCTION_KEYS, IntegrationStack } from '../lib/stack';
import { contract, fakeLambdaBuild } from './helpers';

const SECOND = 'SirJiraSecondSite';
const app = new App();
const lambdaAssets = Object.fromEntries(
  FUNCTION_KEYS.map((key) => [key, `${fakeLambdaBuild()}/${contract.functions[key].crate}`]),
) as Record<(typeof FUNCTION_KEYS)[number], string>;
const first = new IntegrationStack(app, contract.defaultStackName, { contract, lambdaAssets });
const second = new IntegrationStack(app, SECOND, { contract, lambdaAssets });
const templates = [first, second].map((stack) => Template.fromStack(stack).toJSON());

/** The property holding the physical name (unique per account and region) of each resource type. */
const PHYSICAL_NAME: Record<string, string> = {
  'AWS::Events::EventBus': 'Name',
  'AWS::Events::Rule': 'Name',
  'AWS::SSM::Parameter': 'Name',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::KMS::Alias': 'AliasName',
};

/** Every explicit physical name in a template, as "type name" (generated names are not there). */
function physicalNames(template: any): string[] {
  return Object.values(template.Resources as Record<string, any>).flatMap((resource) => {
    const value = resource.Properties?.[PHYSICAL_NAME[resource.Type] ?? ''];
    return value === undefined ? [] : [`${resource.Type} ${JSON.stringify(value)}`];
  });
}

/** Every resource of every IAM policy statement in a template, as JSON text. */
function policyResources(template: any): string[] {
  return Object.values(template.Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) => r.Properties.PolicyDocument.Statement)
    .flatMap((s: any) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
    .map((resource: any) => JSON.stringify(resource));
}

test('the default stack keeps the contract names, so existing installations keep theirs', () => {
  expect(stackNames(contract, contract.defaultStackName)).toEqual({
    eventBusName: contract.eventBus.name,
    parameterPrefix: contract.parameters.defaultPrefix,
  });
  expect(physicalNames(templates[0])).toEqual(
    expect.arrayContaining([
      `AWS::Events::EventBus "${contract.eventBus.name}"`,
      `AWS::SSM::Parameter "${contract.parameters.defaultPrefix}/${contract.parameters.jiraUrl}"`,
    ]),
  );
});

test('a second stack derives its bus and SSM prefix from its name', () => {
  expect(stackNames(contract, SECOND)).toEqual({
    eventBusName: `${SECOND}-event-bus`,
    parameterPrefix: `/${SECOND}`,
  });
  const names = physicalNames(templates[1]);
  expect(names).toEqual(
    expect.arrayContaining([
      `AWS::Events::EventBus "${SECOND}-event-bus"`,
      `AWS::SSM::Parameter "/${SECOND}/${contract.parameters.jiraUrl}"`,
      `AWS::Events::Rule "${SECOND}-poller-schedule"`,
    ]),
  );
  const env = Object.values(templates[1].Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => r.Properties.Environment.Variables[contract.sharedEnv.parameterPrefix]);
  expect(env).toEqual(FUNCTION_KEYS.map(() => `/${SECOND}`));
});

test('the two stacks share no physical name', () => {
  const [a, b] = templates.map(physicalNames);
  expect(a.length).toBeGreaterThan(5);
  expect(b.length).toBe(a.length);
  expect(a.filter((name) => b.includes(name))).toEqual([]);
});

test("each stack's roles reach only its own resources", () => {
  for (const [own, other] of [
    [templates[0], { stack: SECOND, prefix: `/${SECOND}/` }],
    [templates[1], { stack: contract.defaultStackName, prefix: `${contract.parameters.defaultPrefix}/` }],
  ] as const) {
    const resources = policyResources(own);
    expect(resources.length).toBeGreaterThan(10);
    // Named resources (SSM parameters, the schedule rule) name this stack's, never the other's;
    // the rest are Ref/GetAtt of this template's own resources (no import from another stack).
    expect(resources.filter((r) => r.includes(other.prefix) || r.includes(`rule/${other.stack}-`))).toEqual([]);
    expect(JSON.stringify(own)).not.toContain('Fn::ImportValue');
  }
  const ownParameterArns = (template: any, prefix: string) =>
    policyResources(template).filter((r) => r.includes(`parameter${prefix}/`));
  expect(ownParameterArns(templates[0], contract.parameters.defaultPrefix).length).toBeGreaterThan(0);
  expect(ownParameterArns(templates[1], `/${SECOND}`).length).toBe(
    ownParameterArns(templates[0], contract.parameters.defaultPrefix).length,
  );
});

test("a name whose derived names are the default stack's is refused", () => {
  expect(() => stackNames(contract, 'SecurityIncidentResponse')).toThrow(/would share the default stack/);
  expect(() => stackNames(contract, 'security-incident')).toThrow(/would share the default stack/);
});
