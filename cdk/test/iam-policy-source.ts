// The policy file of the default stack, synthesized as the other tests do (dummy built Lambdas).
import { extractFunctionPolicies, IamPolicyFile } from '../lib/iam-policies';
import { contract, synth } from './helpers';

export function policyFileOfDefaultStack(): IamPolicyFile {
  const { stack, json } = synth();
  return extractFunctionPolicies(stack, json, contract.parameters.defaultPrefix);
}
