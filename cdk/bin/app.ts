#!/usr/bin/env node
// Entry point of `cdk synth` / `cdk deploy` (see cdk.json). Options come as context, see lib/app.ts.
// A function without its cargo-lambda build is an error here unless the synth opts in with
// --context allowPlaceholderAssets=true (then it gets placeholder code and a note says so).
import { buildApp } from '../lib/app';
import { MissingLambdaBuildError } from '../lib/assets';
import { ContextError } from '../lib/jira-site';

try {
  const { missingLambdas } = buildApp();
  if (missingLambdas.length > 0) {
    process.stderr.write(
      `note: no cargo-lambda build for ${missingLambdas.join(', ')}: synthesized with placeholder code ` +
        '(allowPlaceholderAssets=true; do not deploy this: ./deploy.sh builds the real binaries first)\n',
    );
  }
} catch (e) {
  if (!(e instanceof MissingLambdaBuildError || e instanceof ContextError)) throw e;
  // The message says what to do; a stack trace would only hide it.
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
