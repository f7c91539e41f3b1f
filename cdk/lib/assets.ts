// Where each Lambda's code comes from: cargo-lambda's output directory (`cargo lambda build
// --release --arm64` writes target/lambda/<crate>/bootstrap), so synthesis never compiles Rust.
import * as fs from 'fs';
import * as path from 'path';
import { Contract, FunctionKey } from './contract';

/** Repository root (cdk/ is one level below it). */
export const REPO_ROOT = path.join(__dirname, '..', '..');
/** cargo-lambda's default output directory. */
export const DEFAULT_LAMBDA_ASSET_DIR = path.join(REPO_ROOT, 'target', 'lambda');
/**
 * Stand-in code for a function that has not been built, used only when the synth opts in
 * (context allowPlaceholderAssets=true: the CDK tests and run-tests.sh's template check). Without
 * the opt-in a missing build is an error, so `npx cdk deploy` by hand can never deploy it.
 */
export const PLACEHOLDER_ASSET_DIR = path.join(__dirname, '..', 'assets', 'not-built');
/** The context key that lets a synth use the placeholder (never for a deployment). */
export const ALLOW_PLACEHOLDER_CONTEXT = 'allowPlaceholderAssets';

/** A deployable synth found functions without their build (bin/app.ts prints it without a stack). */
export class MissingLambdaBuildError extends Error {
  constructor(
    message: string,
    /** Crates without a built bootstrap. */
    readonly crates: string[],
  ) {
    super(message);
    this.name = 'MissingLambdaBuildError';
  }
}

export interface ResolvedAssets {
  /** Asset directory per function (each holds a `bootstrap`). */
  readonly dirs: Record<FunctionKey, string>;
  /** Crates that had no built bootstrap and got the placeholder. */
  readonly missing: string[];
}

/**
 * Finds `<assetDir>/<crate>/bootstrap` for every function of the contract. A missing one is an
 * error unless `allowPlaceholders` is set (an explicit opt-in: tests and template checks only),
 * in which case it gets the placeholder code.
 */
export function resolveLambdaAssets(contract: Contract, assetDir: string, allowPlaceholders: boolean): ResolvedAssets {
  const dirs = {} as Record<FunctionKey, string>;
  const missing: string[] = [];
  for (const key of Object.keys(contract.functions) as FunctionKey[]) {
    const crate = contract.functions[key].crate;
    const dir = path.resolve(assetDir, crate);
    if (fs.existsSync(path.join(dir, 'bootstrap'))) {
      dirs[key] = dir;
    } else {
      missing.push(crate);
      dirs[key] = PLACEHOLDER_ASSET_DIR;
    }
  }
  if (!allowPlaceholders && missing.length > 0) {
    throw new MissingLambdaBuildError(
      `no built Lambda for ${missing.join(', ')} (no ${path.join(assetDir, '<crate>', 'bootstrap')}): ` +
        'refusing to synthesize a deployable stack with placeholder code. Run ./deploy.sh (it builds ' +
        'and deploys), or build first with `cargo lambda build --release --arm64` at the repository ' +
        'root (it writes target/lambda/<crate>/bootstrap). To synthesize without the builds (tests, ' +
        `template checks; never to deploy) pass --context ${ALLOW_PLACEHOLDER_CONTEXT}=true.`,
      missing,
    );
  }
  return { dirs, missing };
}
