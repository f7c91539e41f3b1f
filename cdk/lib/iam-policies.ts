// Each function's IAM policy as the synthesized template grants it, in a form the local world can
// evaluate: CloudFormation intrinsics become `${...}` placeholders that the test harness binds to
// its own resources (tests/src/iam.rs), and the local IAM (tests/local_iam.py) refuses every call
// a policy does not allow, as IAM would. The file this writes, cdk/iam-policies.json, is checked
// in so the Rust tests and `./deploy.sh --local` need no Node.js; a jest test proves it equals the
// synthesized template, so it cannot drift from the stack.
import { Stack } from 'aws-cdk-lib';
import { FunctionKey } from './contract';
import { NOT_EXERCISED_LOCALLY } from './permissions';
import { FUNCTION_KEYS, IntegrationStack } from './stack';

/** One statement with every resource a string (placeholders `${AWS::Region}`, `${MappingTable.Arn}`…). */
export interface LocalStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string[];
  readonly Resource: string[];
}

export interface FunctionPolicies {
  /** The role's name as the local world reports it in refusals. */
  readonly role: string;
  readonly statements: LocalStatement[];
}

export interface IamPolicyFile {
  readonly $comment: string;
  /** Placeholders and what the harness binds each to. */
  readonly placeholders: Record<string, string>;
  readonly functions: Record<FunctionKey, FunctionPolicies>;
  /** Granted actions no local test can exercise, per function, each with the reason. */
  readonly notExercisedLocally: Record<FunctionKey, Record<string, string>>;
}

const PSEUDO = new Set(['AWS::Partition', 'AWS::Region', 'AWS::AccountId', 'AWS::StackName', 'AWS::URLSuffix']);

/** `PollerDeadLetterQueueBEB8335F` → `PollerDeadLetterQueue` (CDK's logical ids end in an 8-hex hash). */
function stem(logicalId: string): string {
  return logicalId.replace(/[0-9A-F]{8}$/, '');
}

/**
 * Resolves one CloudFormation value to a string with placeholders. Only the intrinsics IAM
 * resources use in this stack are known; anything else is an error, so a new kind of resource
 * reference is looked at, not silently mangled.
 */
function resolve(value: unknown, resources: Record<string, any>): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, any>;
    if ('Ref' in v) {
      const ref = String(v.Ref);
      if (PSEUDO.has(ref)) return `\${${ref}}`;
      const target = resources[ref];
      // Ref of an SSM parameter is its name, which the stack sets literally.
      if (target?.Type === 'AWS::SSM::Parameter' && typeof target.Properties?.Name === 'string') {
        return target.Properties.Name;
      }
      return `\${${stem(ref)}}`;
    }
    if ('Fn::GetAtt' in v) {
      const [id, attribute] = v['Fn::GetAtt'] as [string, string];
      return `\${${stem(id)}.${attribute}}`;
    }
    if ('Fn::Join' in v) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => resolve(part, resources)).join(separator);
    }
  }
  throw new Error(`iam-policies: cannot resolve ${JSON.stringify(value)} in an IAM policy`);
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * The four functions' policies from `template` (the synthesized template of `stack`). Literal
 * names that depend on the deployment (the SSM prefix, the stack name) become placeholders too.
 */
export function extractFunctionPolicies(stack: IntegrationStack, template: any, parameterPrefix: string): IamPolicyFile {
  const resources = template.Resources as Record<string, any>;
  const functions = {} as Record<FunctionKey, FunctionPolicies>;
  const localise = (text: string) =>
    text
      .split(`:rule/${stack.stackName}-`).join(':rule/${AWS::StackName}-')
      .split(`${parameterPrefix}/`).join('${ParameterPrefix}/');
  for (const key of FUNCTION_KEYS) {
    const roleId = Stack.of(stack).getLogicalId(stack.functions[key].role.node.defaultChild as any);
    const statements: LocalStatement[] = [];
    for (const resource of Object.values(resources)) {
      const isRolePolicy =
        resource.Type === 'AWS::IAM::Policy' && asArray(resource.Properties.Roles).some((r: any) => r.Ref === roleId);
      if (!isRolePolicy) continue;
      for (const statement of asArray(resource.Properties.PolicyDocument.Statement) as any[]) {
        if (statement.NotAction || statement.NotResource || statement.Condition || statement.Principal) {
          throw new Error(`iam-policies: ${key}: statement ${statement.Sid ?? ''} uses an element the local IAM is not given`);
        }
        statements.push({
          ...(statement.Sid ? { Sid: statement.Sid } : {}),
          Effect: statement.Effect,
          Action: asArray(statement.Action),
          Resource: asArray(statement.Resource).map((r) => localise(resolve(r, resources))),
        });
      }
    }
    if (statements.length === 0) {
      throw new Error(`iam-policies: no policy attached to the ${key} role ${roleId}`);
    }
    functions[key] = { role: `${stack.stackName}-${stem(roleId)}`, statements };
  }
  return {
    $comment:
      'Generated by `npm run iam-policies` (cdk/scripts/iam-policies.ts) from the synthesized template; ' +
      'cdk/test/iam-policies.test.ts fails when it differs. Read by the local world (tests/src/iam.rs).',
    placeholders: {
      '${AWS::Partition}': 'aws',
      '${AWS::Region}': 'the local world region',
      '${AWS::AccountId}': 'the local world account',
      '${AWS::StackName}': "the test's stack name (its schedule rule is <stack>-poller-schedule)",
      '${ParameterPrefix}': "the test's SSM prefix",
      '${MappingTable.Arn}': "the test's table",
      '${IntegrationBus.Arn}': "the test's bus",
      '${<other>.Arn}': 'resources no function calls (log groups, dead-letter queues): bound to nothing',
    },
    functions,
    notExercisedLocally: NOT_EXERCISED_LOCALLY,
  };
}
