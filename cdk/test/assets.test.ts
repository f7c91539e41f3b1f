// No synthesis here: where Lambda code comes from, the contract loader and pattern conversion.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { PLACEHOLDER_ASSET_DIR, resolveLambdaAssets } from '../lib/assets';
import { loadContract } from '../lib/contract';
import { toEventPattern } from '../lib/stack';
import { contract, fakeLambdaBuild } from './helpers';

test('built crates are taken from <dir>/<crate>/', () => {
  const dir = fakeLambdaBuild();
  const { dirs, missing } = resolveLambdaAssets(contract, dir, true);
  expect(missing).toEqual([]);
  expect(dirs.jiraNotificationsHandler).toBe(path.join(dir, 'jira-notifications-handler'));
});

test('a missing build gets the placeholder when allowed, and fails when required', () => {
  const dir = fakeLambdaBuild();
  fs.rmSync(path.join(dir, 'sir-client'), { recursive: true });
  const { dirs, missing } = resolveLambdaAssets(contract, dir, false);
  expect(missing).toEqual(['sir-client']);
  expect(dirs.sirClient).toBe(PLACEHOLDER_ASSET_DIR);
  expect(fs.existsSync(path.join(PLACEHOLDER_ASSET_DIR, 'bootstrap'))).toBe(true);
  expect(() => resolveLambdaAssets(contract, dir, true)).toThrow(/no built Lambda for sir-client/);
});

test('bad context values are refused before synthesis', () => {
  const app = (context: Record<string, string>) => new App({ context: { lambdaAssetDir: fakeLambdaBuild(), ...context } });
  expect(() => buildApp(app({ reservedConcurrency: 'five' }))).toThrow(/not a whole number/);
  expect(() => buildApp(app({ logRetentionDays: '42' }))).toThrow(/retention/);
  expect(() => buildApp(app({ parameterPrefix: 'NoSlash' }))).toThrow(/must start with/);
});

test('the contract loader names what is missing', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'contract-')), 'contract.json');
  const broken = JSON.parse(JSON.stringify(loadContract()));
  delete broken.functions.sirClient.crate;
  fs.writeFileSync(file, JSON.stringify(broken));
  expect(() => loadContract(file)).toThrow(/functions.sirClient.crate/);
});

test('rule patterns convert to CDK and unknown keys are refused', () => {
  expect(toEventPattern(contract.rules.nativeSir)).toEqual({
    source: contract.rules.nativeSir.source,
    detailType: contract.rules.nativeSir['detail-type'],
  });
  expect(() => toEventPattern({ account: ['1'] })).toThrow(/not supported/);
});
