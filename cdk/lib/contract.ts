// The names and patterns the stack shares with the Rust crates, read from cdk/contract.json.
// tests/tests/infra_contract.rs checks the same file against the Rust constants, so neither side
// can drift from the other: nothing in this app repeats a name that the file holds.
import * as fs from 'fs';
import * as path from 'path';

/** An EventBridge pattern exactly as EventBridge and the Rust side spell it. */
export type RulePattern = Record<string, string[]>;

export interface FunctionContract {
  /** The Rust package (and binary) name: cargo-lambda writes it to target/lambda/<crate>/bootstrap. */
  readonly crate: string;
  /** Function-specific environment variable names, by role. */
  readonly env: Record<string, string>;
  /** The Lambda timeout; jira-client's and sir-client's bound the claim timing (claimWaitSeconds). */
  readonly timeoutSeconds: number;
}

export interface Contract {
  /** The stack name deploy.sh and bin/app.ts use when none is given. */
  readonly defaultStackName: string;
  /** name: the default stack's bus; nameOfOtherStacks: any other stack's, `{stackName}` replaced. */
  readonly eventBus: { readonly name: string; readonly nameOfOtherStacks: string };
  readonly rules: {
    readonly jiraClient: RulePattern;
    readonly sirClient: RulePattern;
    readonly nativeSir: RulePattern;
  };
  readonly table: { readonly partitionKey: string; readonly sortKey: string; readonly ttlAttribute: string };
  readonly parameters: {
    readonly defaultPrefix: string;
    /** The SSM prefix of a stack not named defaultStackName, `{stackName}` replaced. */
    readonly prefixOfOtherStacks: string;
    readonly jiraEmail: string;
    readonly jiraUrl: string;
    readonly jiraProjectKey: string;
    readonly jiraToken: string;
    /** When the Jira token expires (a String deploy.sh writes beside the token; optional at run time). */
    readonly jiraTokenExpiresOn: string;
    /** Where the REST calls go: the site, or its API gateway (a String deploy.sh writes; optional at run time). */
    readonly jiraApiUrl: string;
    /** The webhook intake's secret (a SecureString deploy.sh writes; optional at run time). */
    readonly jiraWebhookSecret: string;
    readonly statusMapping: string;
    /** Which unlinked Jira issues may create a case: JQL, or caseFilterDefault. */
    readonly jiraCaseFilter: string;
    /** When deploy.sh first installed the integration (RFC 3339, UTC). */
    readonly installedAt: string;
    /** The jiraCaseFilter value meaning "issues created after installedAt". */
    readonly caseFilterDefault: string;
    /** Which SIR cases older than installedAt the poller brings over: JSON {"since": "YYYY-MM-DD" | "", "closed": bool}. */
    readonly backfill: string;
    /** The backfill value of a first installation: open cases, from any date. */
    readonly backfillDefault: string;
  };
  readonly sharedEnv: { readonly tableName: string; readonly eventBusName: string; readonly parameterPrefix: string };
  /**
   * JIRA_FLAVOR and JIRA_AUTH (shared::config): set on the functions that call Jira when the site
   * is Jira Data Center (context jiraFlavor, jiraAuth); unset, the functions talk to Jira Cloud.
   */
  readonly jiraSiteEnv: { readonly flavor: string; readonly auth: string; readonly site: string };
  /** The functions' own metrics (shared::metrics): namespace, dimensions and names. */
  readonly metrics: {
    readonly namespace: string;
    readonly functionDimension: string;
    readonly reasonDimension: string;
    readonly classDimension: string;
    readonly remoteDimension: string;
    readonly names: {
      readonly itemsSynced: string;
      readonly itemsNotSynced: string;
      readonly changesPublished: string;
      readonly echoesSkipped: string;
      readonly intakeRejected: string;
      readonly intakeThrottled: string;
      readonly reconcilerRepairs: string;
      readonly remoteRetries: string;
      readonly remoteThrottles: string;
      readonly openCases: string;
      readonly successfulRuns: string;
      readonly syncLagSeconds: string;
      readonly configRejected: string;
      readonly jiraTokenDaysLeft: string;
    };
  };
  /** How long a claim of jira-client or sir-client lasts unless renewed (the Rust shared::store::CLAIM_LEASE). */
  readonly claimLeaseSeconds: number;
  /** How often a holder renews its claim while it works (shared::store::CLAIM_RENEW_EVERY). */
  readonly claimRenewSeconds: number;
  /** How long a delivery that finds the claim held waits for it (shared::store::CLAIM_WAIT). */
  readonly claimWaitSeconds: number;
  readonly functions: {
    readonly poller: FunctionContract;
    readonly jiraClient: FunctionContract & { readonly defaultIssueType: string };
    readonly jiraNotificationsHandler: FunctionContract & { readonly sweepMinutes: number };
    /** The values SIR accepts for the created cases; the first is the default. */
    readonly sirClient: FunctionContract & { readonly resolverTypes: string[]; readonly engagementTypes: string[] };
  };
  readonly jiraAutomation: {
    readonly publisherPrincipal: string;
    readonly messageCustomData: unknown;
  };
}

export type FunctionKey = keyof Contract['functions'];

export const CONTRACT_PATH = path.join(__dirname, '..', 'contract.json');

/** Reads cdk/contract.json; throws naming the first missing piece. */
export function loadContract(file: string = CONTRACT_PATH): Contract {
  const contract = JSON.parse(fs.readFileSync(file, 'utf8')) as Contract;
  const required: Array<[string, unknown]> = [
    ['defaultStackName', contract.defaultStackName],
    ['eventBus.name', contract.eventBus?.name],
    ['eventBus.nameOfOtherStacks', contract.eventBus?.nameOfOtherStacks],
    ['rules.jiraClient', contract.rules?.jiraClient],
    ['rules.sirClient', contract.rules?.sirClient],
    ['rules.nativeSir', contract.rules?.nativeSir],
    ['table.partitionKey', contract.table?.partitionKey],
    ['table.sortKey', contract.table?.sortKey],
    ['table.ttlAttribute', contract.table?.ttlAttribute],
    ['parameters.defaultPrefix', contract.parameters?.defaultPrefix],
    ['parameters.prefixOfOtherStacks', contract.parameters?.prefixOfOtherStacks],
    ['parameters.jiraToken', contract.parameters?.jiraToken],
    ['parameters.jiraTokenExpiresOn', contract.parameters?.jiraTokenExpiresOn],
    ['parameters.jiraApiUrl', contract.parameters?.jiraApiUrl],
    ['parameters.jiraWebhookSecret', contract.parameters?.jiraWebhookSecret],
    ['sharedEnv.tableName', contract.sharedEnv?.tableName],
    ['jiraSiteEnv.flavor', contract.jiraSiteEnv?.flavor],
    ['jiraSiteEnv.auth', contract.jiraSiteEnv?.auth],
    ['jiraSiteEnv.site', contract.jiraSiteEnv?.site],
    ['metrics.namespace', contract.metrics?.namespace],
    ['metrics.names.itemsSynced', contract.metrics?.names?.itemsSynced],
    ['functions.poller.crate', contract.functions?.poller?.crate],
    ['functions.jiraClient.crate', contract.functions?.jiraClient?.crate],
    ['functions.jiraNotificationsHandler.crate', contract.functions?.jiraNotificationsHandler?.crate],
    ['functions.sirClient.crate', contract.functions?.sirClient?.crate],
    ['functions.jiraClient.defaultIssueType', contract.functions?.jiraClient?.defaultIssueType],
    ['functions.sirClient.resolverTypes', contract.functions?.sirClient?.resolverTypes?.[0]],
    ['functions.sirClient.engagementTypes', contract.functions?.sirClient?.engagementTypes?.[0]],
    ['jiraAutomation.publisherPrincipal', contract.jiraAutomation?.publisherPrincipal],
  ];
  for (const [name, value] of required) {
    if (value === undefined || value === null || value === '') {
      throw new Error(`${file}: missing ${name}`);
    }
  }
  const seconds: Array<[string, unknown]> = [
    ['claimLeaseSeconds', contract.claimLeaseSeconds],
    ['claimRenewSeconds', contract.claimRenewSeconds],
    ['claimWaitSeconds', contract.claimWaitSeconds],
    ...Object.entries(contract.functions).map(([key, fn]): [string, unknown] => [`functions.${key}.timeoutSeconds`, fn.timeoutSeconds]),
  ];
  for (const [name, value] of seconds) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new Error(`${file}: ${name} must be a positive whole number of seconds (got ${JSON.stringify(value)})`);
    }
  }
  return contract;
}

/** Function-specific env var name `role` of `fn`; throws if the contract lacks it. */
export function envName(contract: Contract, fn: FunctionKey, role: string): string {
  const name = contract.functions[fn].env[role];
  if (!name) {
    throw new Error(`contract.json: functions.${fn}.env.${role} is missing`);
  }
  return name;
}

/** The names a stack called `stackName` gives the resources every stack would otherwise share. */
export interface StackNames {
  readonly eventBusName: string;
  readonly parameterPrefix: string;
}

/**
 * The default stack keeps the contract's names (installations made before several stacks were
 * possible keep theirs); any other stack's names are derived from its own name, so two stacks in
 * one account and region never share a bus or a parameter.
 */
export function stackNames(contract: Contract, stackName: string): StackNames {
  if (stackName === contract.defaultStackName) {
    return { eventBusName: contract.eventBus.name, parameterPrefix: contract.parameters.defaultPrefix };
  }
  const derive = (pattern: string) => pattern.split('{stackName}').join(stackName);
  const names = {
    eventBusName: derive(contract.eventBus.nameOfOtherStacks),
    parameterPrefix: derive(contract.parameters.prefixOfOtherStacks),
  };
  if (names.eventBusName === contract.eventBus.name || names.parameterPrefix === contract.parameters.defaultPrefix) {
    throw new Error(`stack name ${stackName} would share the default stack's bus or SSM parameters; choose another name`);
  }
  return names;
}
