#!/usr/bin/env node
// Entry point of `cdk synth` / `cdk deploy` (see cdk.json). Options come as context, see lib/app.ts.
import { buildApp } from '../lib/app';

const { missingLambdas } = buildApp();
if (missingLambdas.length > 0) {
  process.stderr.write(
    `note: no cargo-lambda build for ${missingLambdas.join(', ')}: synthesized with placeholder code ` +
      '(./deploy.sh builds the real binaries before deploying)\n',
  );
}
