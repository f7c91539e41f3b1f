// No synthesis here: where Lambda code comes from, the contract loader and pattern conversion.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { ALLOW_PLACEHOLDER_CONTEXT, PLACEHOLDER_ASSET_DIR, resolveLambdaAssets } from '../lib/assets';
import { loadContract } from '../lib/contract';
import { toEventPattern } from '../lib/stack';
import { contract, fakeLambdaBuild } from './helpers';

test('built crates are taken from <dir>/<crate>/', () => {
  const dir = fakeLambdaBuild();
  const { dirs, missing } = resolveLambdaAssets(contract, dir, false);
  expect(missing).toEqual([]);
  expect(dirs.jiraNotificationsHandler).toBe(path.join(dir, 'jira-notifications-handler'));
});

test('a missing build gets the placeholder only when placeholders are allowed', () => {
  const dir = fakeLambdaBuild();
  fs.rmSync(path.join(dir, 'sir-client'), { recursive: true });
  const { dirs, missing } = resolveLambdaAssets(contract, dir, true);
  expect(missing).toEqual(['sir-client']);
  expect(dirs.sirClient).toBe(PLACEHOLDER_ASSET_DIR);
  expect(fs.existsSync(path.join(PLACEHOLDER_ASSET_DIR, 'bootstrap'))).toBe(true);
  expect(() => resolveLambdaAssets(contract, dir, false)).toThrow(/no built Lambda for sir-client/);
});

describe('a deployable synth (bin/app.ts as `cdk deploy` runs it) refuses placeholder code', () => {
  const withoutSirClient = () => {
    const dir = fakeLambdaBuild();
    fs.rmSync(path.join(dir, 'sir-client'), { recursive: true });
    return dir;
  };

  test('a missing build is refused without the opt-in, naming the function and the fix', () => {
    const app = new App({ context: { lambdaAssetDir: withoutSirClient() } });
    let message = '';
    try {
      buildApp(app);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/no built Lambda for sir-client /);
    expect(message).not.toMatch(/jira-client|poller/);
    expect(message).toContain('./deploy.sh');
    expect(message).toContain('cargo lambda build --release --arm64');
    expect(message).toContain(`${ALLOW_PLACEHOLDER_CONTEXT}=true`);
  });

  test('an empty asset directory is refused naming every function', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'sir-jira-nothing-built-'));
    const app = new App({ context: { lambdaAssetDir: empty } });
    const crates = Object.values(contract.functions).map((f) => f.crate);
    expect(() => buildApp(app)).toThrow(new RegExp(`no built Lambda for ${crates.join(', ')} `));
  });

  test('with allowPlaceholderAssets=true the missing function gets the placeholder code', () => {
    const app = new App({ context: { lambdaAssetDir: withoutSirClient(), [ALLOW_PLACEHOLDER_CONTEXT]: 'true' } });
    const { missingLambdas } = buildApp(app);
    expect(missingLambdas).toEqual(['sir-client']);
  });

  test('requireBuiltLambdas=true (deploy.sh) refuses even with the opt-in', () => {
    const app = new App({
      context: { lambdaAssetDir: withoutSirClient(), [ALLOW_PLACEHOLDER_CONTEXT]: 'true', requireBuiltLambdas: 'true' },
    });
    expect(() => buildApp(app)).toThrow(/no built Lambda for sir-client/);
  });

  test('with every function built no opt-in is needed', () => {
    const app = new App({ context: { lambdaAssetDir: fakeLambdaBuild() } });
    expect(buildApp(app).missingLambdas).toEqual([]);
  });
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
