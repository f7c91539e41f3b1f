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
