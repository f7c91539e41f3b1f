// Writes cdk/iam-policies.json: each function's policy from the synthesized default stack (what
// ./deploy.sh deploys), for the local world's IAM. Run `npm run iam-policies` after changing
// permissions.ts or the stack; cdk/test/iam-policies.test.ts says when it is stale.
import * as fs from 'fs';
import * as path from 'path';
import { policyFileOfDefaultStack } from '../test/iam-policy-source';

const out = path.join(__dirname, '..', 'iam-policies.json');
fs.writeFileSync(out, `${JSON.stringify(policyFileOfDefaultStack(), null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
