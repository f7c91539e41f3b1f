// One synthesis per test file: build the app exactly as bin/app.ts does (cdk-nag included), with
// dummy `bootstrap` files standing in for cargo-lambda's output, and keep the results.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Annotations, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../lib/app';
import { loadContract } from '../lib/contract';
import { IntegrationStack } from '../lib/stack';

export const contract = loadContract();

/** A directory laid out like target/lambda/ with a dummy bootstrap per crate. */
export function fakeLambdaBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sir-jira-lambda-'));
  for (const fn of Object.values(contract.functions)) {
    fs.mkdirSync(path.join(dir, fn.crate));
    fs.writeFileSync(path.join(dir, fn.crate, 'bootstrap'), `#!/bin/sh\necho ${fn.crate}\n`, { mode: 0o755 });
  }
  return dir;
}

export interface Synthesized {
  readonly stack: IntegrationStack;
  readonly template: Template;
  readonly json: any;
  readonly annotations: Annotations;
}

export function synth(context: Record<string, string> = {}): Synthesized {
  const app = new App({
    context: { lambdaAssetDir: fakeLambdaBuild(), requireBuiltLambdas: 'true', ...context },
  });
  const { stack } = buildApp(app);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON(), annotations: Annotations.fromStack(stack) };
}

/** Resources of one type, by logical id. */
export function resourcesOf(json: any, type: string): Record<string, any> {
  return Object.fromEntries(Object.entries(json.Resources as Record<string, any>).filter(([, r]) => r.Type === type));
}

/** The logical id of the construct at `path` below the stack. */
export function logicalId(stack: IntegrationStack, child: { node: { defaultChild?: unknown } } | any): string {
  const resource = child.node.defaultChild ?? child;
  return stack.getLogicalId(resource);
}

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
