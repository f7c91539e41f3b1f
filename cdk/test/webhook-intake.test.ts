// The webhook intake (deploy.sh --intake webhook|both): a function URL on
// jira-notifications-handler that Jira can call without SigV4, the handler's read of the webhook
// secret, and nothing of it in the default stack.
import { Match } from 'aws-cdk-lib/assertions';
import { contract, logicalId, resourcesOf, synth } from './helpers';

const withIntake = synth({ webhookIntake: 'true' });
const byDefault = synth();

test('cdk-nag AwsSolutions: no unsuppressed error or warning with the function URL', () => {
  const findings = [
    ...withIntake.annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...withIntake.annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ];
  expect(findings.map((f) => `${f.id}: ${JSON.stringify(f.entry.data)}`)).toEqual([]);
});

test('one function URL, on jira-notifications-handler, open to Jira (the handler checks the signature)', () => {
  const { stack, template, json } = withIntake;
  const handler = logicalId(stack, stack.functions.jiraNotificationsHandler.fn);
  template.resourceCountIs('AWS::Lambda::Url', 1);
  template.hasResourceProperties('AWS::Lambda::Url', {
    AuthType: 'NONE',
    TargetFunctionArn: { 'Fn::GetAtt': [handler, 'Arn'] },
  });
  // Anyone may invoke it through the URL, and only through the URL.
  template.hasResourceProperties('AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunctionUrl',
    FunctionName: { 'Fn::GetAtt': [handler, 'Arn'] },
    Principal: '*',
    FunctionUrlAuthType: 'NONE',
  });
  const output = json.Outputs.JiraWebhookUrl;
  expect(output.Value['Fn::GetAtt'][1]).toBe('FunctionUrl');
});

test('without the intake there is no function URL and no URL output', () => {
  byDefault.template.resourceCountIs('AWS::Lambda::Url', 0);
  expect(byDefault.json.Outputs.JiraWebhookUrl).toBeUndefined();
});

test('only jira-notifications-handler may read the webhook secret, as a parameter ARN', () => {
  for (const { json } of [withIntake, byDefault]) {
    const statements = Object.values(resourcesOf(json, 'AWS::IAM::Policy')).flatMap(
      (p: any) => p.Properties.PolicyDocument.Statement as any[],
    );
    const readers = statements.filter((s) => JSON.stringify(s.Resource).includes(contract.parameters.jiraWebhookSecret));
    expect(readers).toHaveLength(1);
    expect(readers[0].Sid).toBe('JiraWebhookSecret');
    expect(readers[0].Action).toBe('ssm:GetParameters');
    expect(JSON.stringify(readers[0].Resource)).toContain(
      `:parameter/${contract.parameters.defaultPrefix.slice(1)}/${contract.parameters.jiraWebhookSecret}`,
    );
    // No SSM parameter or CloudFormation parameter holds it.
    expect(JSON.stringify(resourcesOf(json, 'AWS::SSM::Parameter'))).not.toContain(contract.parameters.jiraWebhookSecret);
    expect(JSON.stringify(json.Parameters ?? {})).not.toContain('WebhookSecret');
  }
});
