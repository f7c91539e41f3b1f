// The operations dashboard and the alarm on a sync that stopped (cdk/lib/dashboard.ts): in the
// synthesized template, on the functions' own EMF metrics (contract.json "metrics", the names
// shared::metrics writes) and AWS's.
import { Match } from 'aws-cdk-lib/assertions';
import { FUNCTION_KEYS } from '../lib/stack';
import { Synthesized, contract, logicalId, resourcesOf, synth } from './helpers';

const byDefault = synth();
const withoutAudits = synth({ auditsPerPass: '0' });
const alarmed = synth({ alarmTopicArn: 'arn:aws:sns:eu-west-1:111122223333:ops' });
const M = contract.metrics;

/** The dashboard's body as JSON: CloudFormation holds it as Fn::Join of strings and tokens. */
const dashboardBody = (s: Synthesized): string => {
  const dashboards = Object.values(resourcesOf(s.json, 'AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  return JSON.stringify((dashboards[0] as any).Properties.DashboardBody);
};
const fnRef = (s: Synthesized, key: (typeof FUNCTION_KEYS)[number]) =>
  JSON.stringify({ Ref: logicalId(s.stack, s.stack.functions[key].fn) });
const noSyncAlarm = (s: Synthesized): any => {
  const alarms = Object.values(resourcesOf(s.json, 'AWS::CloudWatch::Alarm')).filter((a: any) =>
    /no successful sync/.test(a.Properties.AlarmDescription ?? ''),
  );
  expect(alarms).toHaveLength(1);
  return (alarms[0] as any).Properties;
};

test('one dashboard shows syncs, problems, DLQ depths, throttling, intake rejections and errors', () => {
  const body = dashboardBody(byDefault);
  for (const title of [
    'Items synced per hour',
    'Items that could not be synced, by reason',
    'mapping documents rejected',
    'Dead-letter queues',
    'Changes published, echoes skipped, reconciler repairs',
    'Intake: Jira messages rejected (by class)',
    'Throttling',
    'Errors',
  ]) {
    expect(body).toContain(title);
  }
  for (const name of [M.names.itemsSynced, M.names.itemsNotSynced, M.names.intakeRejected, M.names.remoteRetries, M.names.remoteThrottles, M.names.echoesSkipped]) {
    expect(body).toContain(name);
  }
  expect(body).toContain(M.namespace);
  // every function's DLQ and errors, by its own resources
  for (const key of FUNCTION_KEYS) {
    expect(body).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId(byDefault.stack, byDefault.stack.functions[key].dlq), 'QueueName'] }).slice(1, -1));
    expect(body).toContain(fnRef(byDefault, key).slice(1, -1));
  }
  // the reasons and classes are searched, not listed: a new reason shows without a deployment
  expect(body).toContain(`SEARCH('{${M.namespace},${M.functionDimension},${M.reasonDimension}}`);
  expect(body).toContain(`SEARCH('{${M.namespace},${M.functionDimension},${M.classDimension}}`);
  byDefault.template.hasOutput('DashboardName', { Value: Match.anyValue() });
});

test('the alarm fires when cases are open and jira-client applied nothing for 3 hours', () => {
  const alarm = noSyncAlarm(byDefault);
  expect(alarm.TreatMissingData).toBe('breaching');
  expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
  expect(alarm.Threshold).toBe(0);
  const queries: any[] = alarm.Metrics;
  const expression = queries.find((q) => q.Expression);
  expect(expression.Expression).toBe('IF(FILL(listed, REPEAT) > 0 AND FILL(applied, 0) == 0, 1, 0)');
  const byId = Object.fromEntries(queries.filter((q) => q.MetricStat).map((q) => [q.Id, q.MetricStat]));
  expect(byId.listed.Metric.MetricName).toBe(M.names.openCases);
  expect(byId.listed.Metric.Namespace).toBe(M.namespace);
  expect(byId.listed.Period).toBe(3 * 3600);
  expect(byId.applied.Metric.MetricName).toBe(M.names.successfulRuns);
  expect(JSON.stringify(byId.applied.Metric.Dimensions)).toContain(fnRef(byDefault, 'jiraClient'));
  expect(JSON.stringify(byId.listed.Metric.Dimensions)).toContain(fnRef(byDefault, 'poller'));
  expect(alarm.AlarmActions).toBeUndefined();
});

test('without audits the alarm watches the poller, which then is the only regular run', () => {
  const alarm = noSyncAlarm(withoutAudits);
  const applied = alarm.Metrics.find((q: any) => q.Id === 'applied').MetricStat;
  expect(JSON.stringify(applied.Metric.Dimensions)).toContain(fnRef(withoutAudits, 'poller'));
});

test('the window spans two audit intervals, at least 3 hours and at most a day', () => {
  const period = (s: Synthesized) => noSyncAlarm(s).Metrics.find((q: any) => q.Id === 'listed').MetricStat.Period;
  expect(period(synth({ auditIntervalMinutes: '240' }))).toBe(8 * 3600);
  expect(period(synth({ auditIntervalMinutes: '30' }))).toBe(3 * 3600);
  expect(period(synth({ auditIntervalMinutes: '1440' }))).toBe(24 * 3600);
});

test('the alarm notifies the alarm topic like the other alarms', () => {
  expect(noSyncAlarm(alarmed).AlarmActions).toEqual([
    'arn:aws:sns:eu-west-1:111122223333:ops',
  ]);
});

const lagAlarms = (s: Synthesized): any[] =>
  Object.values(resourcesOf(s.json, 'AWS::CloudWatch::Alarm'))
    .filter((a: any) => /sync lag/.test(a.Properties.AlarmDescription ?? ''))
    .map((a: any) => a.Properties);

test('the dashboard shows the sync lag p50 and p99 each way', () => {
  const body = dashboardBody(byDefault);
  expect(body).toContain('Sync lag in seconds, p50 and p99');
  expect(body).toContain(M.names.syncLagSeconds);
  for (const key of ['jiraClient', 'sirClient'] as const) {
    expect(body).toContain(fnRef(byDefault, key).slice(1, -1));
  }
  expect(body).toContain("p50");
  expect(body).toContain("p99");
});

test('a lag alarm per direction fires on p99 above 10 minutes twice running, not on silence', () => {
  const alarms = lagAlarms(byDefault);
  expect(alarms).toHaveLength(2);
  const stats = alarms.map((a) => a.Metrics[0].MetricStat);
  const functions = stats.map((stat) => JSON.stringify(stat.Metric.Dimensions));
  expect(functions.some((d) => d.includes(fnRef(byDefault, 'jiraClient')))).toBe(true);
  expect(functions.some((d) => d.includes(fnRef(byDefault, 'sirClient')))).toBe(true);
  for (const [i, alarm] of alarms.entries()) {
    expect(stats[i].Metric.MetricName).toBe(M.names.syncLagSeconds);
    expect(stats[i].Metric.Namespace).toBe(M.namespace);
    expect(stats[i].Stat).toBe('p99');
    expect(stats[i].Period).toBe(900);
    expect(alarm.Threshold).toBe(600);
    expect(alarm.EvaluationPeriods).toBe(2);
    expect(alarm.DatapointsToAlarm).toBe(2);
    expect(alarm.TreatMissingData).toBe('notBreaching');
    expect(alarm.AlarmActions).toBeUndefined();
  }
  for (const alarm of lagAlarms(alarmed)) {
    expect(alarm.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:ops']);
  }
});

test('an alarm says when a mapping document in SSM does not parse, notifying the alarm topic', () => {
  const alarms = Object.values(resourcesOf(alarmed.json, 'AWS::CloudWatch::Alarm'))
    .map((a: any) => a.Properties)
    .filter((a: any) => /mapping document in SSM does not parse/.test(a.AlarmDescription ?? ''));
  expect(alarms).toHaveLength(1);
  const names = JSON.stringify(alarms[0].Metrics);
  expect(names).toContain(M.names.configRejected);
  expect(names).toContain(fnRef(alarmed, 'jiraClient').slice(1, -1));
  expect(names).toContain(fnRef(alarmed, 'sirClient').slice(1, -1));
  expect(alarms[0].TreatMissingData).toBe('notBreaching');
  expect(alarms[0].AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:ops']);
});

test('two alarms warn 30 and 7 days before the Jira token expires, from every function that calls Jira', () => {
  const alarms = Object.values(resourcesOf(alarmed.json, 'AWS::CloudWatch::Alarm'))
    .map((a: any) => a.Properties)
    .filter((a: any) => /Jira API token expires in/.test(a.AlarmDescription ?? ''));
  expect(alarms.map((a: any) => a.Threshold).sort((a: number, b: number) => a - b)).toEqual([7, 30]);
  for (const alarm of alarms) {
    expect(alarm.ComparisonOperator).toBe('LessThanOrEqualToThreshold');
    // An hour without a Jira call keeps the state: no flapping, no re-raised action.
    expect(alarm.TreatMissingData).toBe('ignore');
    expect(alarm.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:ops']);
    const names = JSON.stringify(alarm.Metrics);
    expect(names).toContain(M.names.jiraTokenDaysLeft);
    expect(names).toContain('"Stat":"Minimum"');
    for (const key of ['jiraClient', 'jiraNotificationsHandler', 'sirClient'] as const) {
      expect(names).toContain(fnRef(alarmed, key).slice(1, -1));
    }
    expect(names).toContain('MIN([');
    expect(alarm.AlarmDescription).toContain('--token-expires');
  }
  const dashboard = JSON.stringify(resourcesOf(alarmed.json, 'AWS::CloudWatch::Dashboard'));
  expect(dashboard).toContain(M.names.jiraTokenDaysLeft);
});
