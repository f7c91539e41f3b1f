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
 * Stand-in code used when a function has not been built, so that `cdk synth` works on a fresh
 * clone. deploy.sh always builds first and passes requireBuiltLambdas=true, so it is never deployed.
 */
export const PLACEHOLDER_ASSET_DIR = path.join(__dirname, '..', 'assets', 'not-built');

export interface ResolvedAssets {
  /** Asset directory per function (each holds a `bootstrap`). */
  readonly dirs: Record<FunctionKey, string>;
  /** Crates that had no built bootstrap and got the placeholder. */
  readonly missing: string[];
}

/**
 * Finds `<assetDir>/<crate>/bootstrap` for every function of the contract. A missing one is an
 * error when `requireBuilt` is set (deploying), otherwise it gets the placeholder (synth, tests).
 */
export function resolveLambdaAssets(contract: Contract, assetDir: string, requireBuilt: boolean): ResolvedAssets {
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
  if (requireBuilt && missing.length > 0) {
    throw new Error(
      `no built Lambda for ${missing.join(', ')} under ${assetDir} ` +
        '(run `cargo lambda build --release --arm64` at the repository root, or use ./deploy.sh)',
    );
  }
  return { dirs, missing };
}
