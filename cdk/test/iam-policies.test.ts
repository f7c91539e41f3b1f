// cdk/iam-policies.json is what the local world enforces (every call each function makes in the
// end-to-end tests, the demo and the binaries' smoke test is checked against it): it must be the
// synthesized template's policies exactly, or the local proof would be of another stack.
import * as fs from 'fs';
import * as path from 'path';
import { policyFileOfDefaultStack } from './iam-policy-source';

describe('local IAM policy file', () => {
  test('cdk/iam-policies.json equals the policies of the synthesized stack (run `npm run iam-policies` when not)', () => {
    const checkedIn = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'iam-policies.json'), 'utf8'));
    expect(checkedIn).toEqual(JSON.parse(JSON.stringify(policyFileOfDefaultStack())));
  });

  test('every resource is a plain string: no intrinsic left unresolved', () => {
    const file = policyFileOfDefaultStack();
    for (const fn of Object.values(file.functions)) {
      for (const statement of fn.statements) {
        for (const resource of statement.Resource) {
          expect(typeof resource).toBe('string');
          expect(resource).toMatch(/^(\*|arn:\$\{AWS::Partition\}:|\$\{[A-Za-z]+\.Arn\}$)/);
        }
      }
    }
  });

  test('every reason for an unexercised grant names a granted action', () => {
    const file = policyFileOfDefaultStack();
    for (const [key, reasons] of Object.entries(file.notExercisedLocally)) {
      const granted = new Set(file.functions[key as keyof typeof file.functions].statements.flatMap((s) => s.Action));
      for (const action of Object.keys(reasons)) {
        expect(granted).toContain(action);
      }
    }
  });
});
