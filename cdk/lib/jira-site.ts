// Which Jira the integration talks to (context jiraFlavor, jiraAuth) and the optional VPC placement
// of the functions that call it (context vpcId, vpcSubnetIds, vpcSecurityGroupIds), for a Jira on a
// private network: parsed and checked here, applied by stack.ts. Nothing here looks anything up,
// so synthesis stays offline.

/** A context value (or combination) the stack refuses; bin/app.ts prints its message alone. */
export class ContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContextError';
  }
}

/** `cloud` (Jira Cloud, the default) or `data-center` (Jira Data Center or Server). */
export type JiraFlavor = 'cloud' | 'data-center';
/** How the functions sign in to Jira Data Center: a personal access token (Bearer) or basic auth. */
export type DataCenterAuth = 'token' | 'basic';

export const JIRA_FLAVORS: readonly JiraFlavor[] = ['cloud', 'data-center'];
export const DATA_CENTER_AUTHS: readonly DataCenterAuth[] = ['token', 'basic'];

export type JiraSite = { readonly flavor: 'cloud' } | { readonly flavor: 'data-center'; readonly auth: DataCenterAuth };

/**
 * The site from the context values (undefined: not given). jiraAuth goes with data-center only
 * (default token): Jira Cloud always signs in with an e-mail and API token.
 */
export function parseJiraSite(flavor: string | undefined, auth: string | undefined): JiraSite {
  const f = flavor ?? 'cloud';
  if (!(JIRA_FLAVORS as readonly string[]).includes(f)) {
    throw new ContextError(`context jiraFlavor=${f}: use cloud (Jira Cloud, the default) or data-center (Jira Data Center or Server)`);
  }
  if (f === 'cloud') {
    if (auth !== undefined) {
      throw new ContextError(
        `context jiraAuth=${auth} only goes with jiraFlavor=data-center: Jira Cloud signs in with the e-mail and API token`,
      );
    }
    return { flavor: 'cloud' };
  }
  const a = auth ?? 'token';
  if (!(DATA_CENTER_AUTHS as readonly string[]).includes(a)) {
    throw new ContextError(
      `context jiraAuth=${a}: use token (a personal access token, the default) or basic (user name and password)`,
    );
  }
  return { flavor: 'data-center', auth: a as DataCenterAuth };
}

/** Where the Jira-calling functions run: subnets and security groups of one VPC. */
export interface VpcPlacement {
  readonly vpcId: string;
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
}

const ID_PATTERNS = {
  vpcId: /^vpc-[0-9a-f]{8,17}$/,
  vpcSubnetIds: /^subnet-[0-9a-f]{8,17}$/,
  vpcSecurityGroupIds: /^sg-[0-9a-f]{8,17}$/,
};

/**
 * The placement from the three context values (comma-separated lists for the subnets and security
 * groups): all three or none. The VPC id is only what the Function construct needs to take
 * subnets (the template holds the subnet and security group ids alone); deploy.sh checks that the
 * subnets and security groups belong to it.
 */
export function parseVpcPlacement(
  vpcId: string | undefined,
  subnets: string | undefined,
  securityGroups: string | undefined,
): VpcPlacement | undefined {
  const given = { vpcId, vpcSubnetIds: subnets, vpcSecurityGroupIds: securityGroups };
  const present = Object.entries(given).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (present.length === 0) return undefined;
  if (present.length < 3) {
    const missing = Object.keys(given).filter((k) => !present.includes(k));
    throw new ContextError(
      `context ${present.join(', ')} without ${missing.join(', ')}: the Jira-calling functions go into a VPC only with vpcId, vpcSubnetIds and vpcSecurityGroupIds together`,
    );
  }
  const list = (key: 'vpcSubnetIds' | 'vpcSecurityGroupIds') => {
    const items = (given[key] as string).split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) throw new ContextError(`context ${key} names no id`);
    for (const item of items) {
      if (!ID_PATTERNS[key].test(item)) {
        throw new ContextError(`context ${key}: ${item} is not ${key === 'vpcSubnetIds' ? 'a subnet id (subnet-…)' : 'a security group id (sg-…)'}`);
      }
    }
    if (new Set(items).size !== items.length) throw new ContextError(`context ${key} names an id twice`);
    return items;
  };
  if (!ID_PATTERNS.vpcId.test(vpcId as string)) {
    throw new ContextError(`context vpcId=${vpcId} is not a VPC id (vpc-…)`);
  }
  const securityGroupIds = list('vpcSecurityGroupIds');
  if (securityGroupIds.length > 5) {
    throw new ContextError(`context vpcSecurityGroupIds names ${securityGroupIds.length} security groups: Lambda takes at most 5`);
  }
  const subnetIds = list('vpcSubnetIds');
  if (subnetIds.length > 16) {
    throw new ContextError(`context vpcSubnetIds names ${subnetIds.length} subnets: Lambda takes at most 16`);
  }
  return { vpcId: vpcId as string, subnetIds, securityGroupIds };
}

/**
 * What Lambda does with the execution role of a function in a VPC: creates, describes and deletes
 * its network interfaces (the EC2 actions of the AWS managed policy AWSLambdaVPCAccessExecutionRole,
 * which CDK attaches only to roles it creates itself). DescribeNetworkInterfaces and DescribeSubnets
 * take no resource, and Lambda names the interfaces it creates, so the managed policy's `*` is kept.
 */
export const VPC_NETWORK_INTERFACE_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
