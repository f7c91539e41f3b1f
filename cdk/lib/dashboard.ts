// The operations dashboard (one screen) and the alarm on a sync that stopped. The functions'
// own metrics come from their logs in Embedded Metric Format (shared::metrics in the Rust crates:
// namespace and names in contract.json "metrics"), with the dimension FunctionName; the rest are
// AWS's (Lambda errors and throttles, SQS queue depths).
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { Contract, FunctionKey } from './contract';
import type { IntegrationFunction } from './stack';

export interface OperationsDashboardProps {
  readonly contract: Contract;
  readonly functions: Record<FunctionKey, IntegrationFunction>;
  /** Hours without a successful sync, while cases are open, before the alarm (default 3). */
  readonly noSyncHours?: number;
  /**
   * The poller audits open pairs (auditsPerPass > 0): jira-client then applies an event per open
   * pair every audit interval, so its silence is the alarm's signal; without audits, the poller's.
   */
  readonly audits: boolean;
  /** Minutes between two audits of an open pair (auditIntervalMinutes; default 60). */
  readonly auditIntervalMinutes?: number;
  /**
   * Seconds of sync lag (p99 over 15 minutes, two periods running) before a direction's lag
   * alarm (default 600: the poller runs every minute and the Jira intake is pushed, so ten
   * minutes means events wait in retries or a queue).
   */
  readonly lagAlarmSeconds?: number;
}

/** The dashboard, and the alarms it adds (the stack gives them its alarm action). */
export class OperationsDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly noSyncAlarm: cloudwatch.Alarm;
  /** One per direction: SIR → Jira (jira-client's lag), Jira → SIR (sir-client's). */
  public readonly lagAlarms: cloudwatch.Alarm[];
  /** The mapping document in SSM does not parse: the functions keep the last good one. */
  public readonly configRejectedAlarm: cloudwatch.Alarm;
  /** The Jira token expires within 30 days, and within 7 (the date deploy.sh stored with it). */
  public readonly tokenExpiryAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { contract, functions } = props;
    const m = contract.metrics;
    // At least 3 hours, and two audit intervals (one audit may fall just outside a window);
    // an alarm period is at most a day.
    const auditHours = Math.ceil((2 * (props.auditIntervalMinutes ?? 60)) / 60);
    const hours = props.noSyncHours ?? Math.min(24, Math.max(3, auditHours));
    const FUNCTION_KEYS = Object.keys(functions) as FunctionKey[];
    const fnName = (key: FunctionKey) => functions[key].fn.functionName;
    const own = (key: FunctionKey, name: string, statistic = 'Sum', period = Duration.hours(1)) =>
      new cloudwatch.Metric({
        namespace: m.namespace,
        metricName: name,
        dimensionsMap: { [m.functionDimension]: fnName(key) },
        statistic,
        period,
        label: `${contract.functions[key].crate} ${name}`,
      });
    // Every slice of a metric with a second dimension (Reason, Class), whatever values appear.
    const slices = (key: FunctionKey, name: string, dimension: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${m.namespace},${m.functionDimension},${dimension}} MetricName="${name}" ${m.functionDimension}="${fnName(key)}"', 'Sum', 3600)`,
        label,
        period: Duration.hours(1),
        usingMetrics: {},
      });

    // The fewest days the Jira token had left over an hour, as the functions that call Jira
    // wrote them (each writes it on every invocation that called Jira, when the date is known).
    const tokenDaysLeft = () =>
      new cloudwatch.MathExpression({
        expression: 'MIN([toJira, intake, toSir])',
        usingMetrics: {
          toJira: own('jiraClient', m.names.jiraTokenDaysLeft, 'Minimum'),
          intake: own('jiraNotificationsHandler', m.names.jiraTokenDaysLeft, 'Minimum'),
          toSir: own('sirClient', m.names.jiraTokenDaysLeft, 'Minimum'),
        },
        period: Duration.hours(1),
        label: 'days until the Jira token expires',
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    const width = 8;
    // The lag of each write: from the change on one side to the end of the event that wrote
    // it on the other (SyncLagSeconds, a distribution, so percentiles).
    const lag = (key: FunctionKey, statistic: string, direction: string, period = Duration.minutes(15)) =>
      new cloudwatch.Metric({
        namespace: m.namespace,
        metricName: m.names.syncLagSeconds,
        dimensionsMap: { [m.functionDimension]: fnName(key) },
        statistic,
        period,
        label: `${direction} ${statistic}`,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Sync lag in seconds, p50 and p99 (SIR → Jira, Jira → SIR)',
        width,
        left: [
          lag('jiraClient', 'p50', 'SIR → Jira'),
          lag('jiraClient', 'p99', 'SIR → Jira'),
          lag('sirClient', 'p50', 'Jira → SIR'),
          lag('sirClient', 'p99', 'Jira → SIR'),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Items synced per hour (SIR → Jira, Jira → SIR)',
        width,
        left: [own('jiraClient', m.names.itemsSynced), own('sirClient', m.names.itemsSynced)],
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues (events that failed every retry)',
        width,
        left: FUNCTION_KEYS.map((key) =>
          functions[key].dlq.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: Duration.minutes(5),
            label: contract.functions[key].crate,
          }),
        ),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Changes published, echoes skipped, reconciler repairs',
        width,
        left: [
          own('poller', m.names.changesPublished),
          own('jiraNotificationsHandler', m.names.changesPublished),
          own('jiraNotificationsHandler', m.names.echoesSkipped),
          own('poller', m.names.reconcilerRepairs),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Intake: Jira messages rejected (by class) and held back',
        width,
        left: [
          slices('jiraNotificationsHandler', m.names.intakeRejected, m.classDimension, 'rejected'),
          own('jiraNotificationsHandler', m.names.intakeThrottled),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Throttling: Lambda throttles; retries and rate refusals seen from Jira and SIR',
        width,
        left: [
          ...FUNCTION_KEYS.map((key) =>
            functions[key].fn.metricThrottles({ period: Duration.hours(1), label: `${contract.functions[key].crate} throttled` }),
          ),
          ...FUNCTION_KEYS.map((key) =>
            slices(key, m.names.remoteRetries, m.remoteDimension, `${contract.functions[key].crate} retries`),
          ),
          ...FUNCTION_KEYS.map((key) =>
            slices(key, m.names.remoteThrottles, m.remoteDimension, `${contract.functions[key].crate} throttled answers`),
          ),
        ],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Items that could not be synced, by reason; mapping documents rejected',
        width,
        left: [
          slices('jiraClient', m.names.itemsNotSynced, m.reasonDimension, 'to Jira'),
          slices('sirClient', m.names.itemsNotSynced, m.reasonDimension, 'to SIR'),
        ],
        right: [own('jiraClient', m.names.configRejected), own('sirClient', m.names.configRejected)],
      }),
      new cloudwatch.GraphWidget({
        title: 'Errors (invocations that ended in an error)',
        width,
        left: FUNCTION_KEYS.map((key) =>
          functions[key].fn.metricErrors({ period: Duration.hours(1), label: contract.functions[key].crate }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: "Open cases (the poller's last pass), successful runs",
        width,
        left: [own('poller', m.names.openCases, 'Maximum')],
        right: [own('poller', m.names.successfulRuns), own('jiraClient', m.names.successfulRuns)],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Days until the Jira token expires (the date deploy.sh stored with it)',
        width,
        left: [tokenDaysLeft()],
        leftAnnotations: [
          { value: 30, label: '30 days', color: '#ff7f0e' },
          { value: 7, label: '7 days', color: '#d62728' },
        ],
      }),
    );

    // Cases are open (the poller listed some) and jira-client applied nothing for `hours`: the
    // poller's audits alone publish an event per open pair every audit interval, so silence
    // means the poller, the bus or jira-client stopped (without audits: the poller ran no pass).
    // A poller that cannot run lists nothing either: a missing CasesListed repeats the last
    // value seen.
    const window = Duration.hours(hours);
    this.noSyncAlarm = new cloudwatch.Alarm(this, 'NoSuccessfulSyncAlarm', {
      alarmDescription: `no successful sync for ${hours} h while SIR cases are open: the poller, the bus or jira-client stopped (see README "Troubleshooting")`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(listed, REPEAT) > 0 AND FILL(applied, 0) == 0, 1, 0)',
        usingMetrics: {
          listed: own('poller', m.names.openCases, 'Maximum', window),
          applied: own(props.audits ? 'jiraClient' : 'poller', m.names.successfulRuns, 'Sum', window),
        },
        period: window,
        label: 'no sync while cases are open',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // Writes arrive, but late: p99 of a direction's lag above the limit for two 15-minute
    // periods running. No writes, no lag values: missing data is not a breach (the alarm above
    // covers a sync that stopped).
    const limit = props.lagAlarmSeconds ?? 600;
    this.lagAlarms = (
      [
        ['jiraClient', 'SyncLagToJiraAlarm', 'SIR → Jira'],
        ['sirClient', 'SyncLagToSirAlarm', 'Jira → SIR'],
      ] as const
    ).map(
      ([key, id, direction]) =>
        new cloudwatch.Alarm(this, id, {
          alarmDescription: `sync lag ${direction} above ${limit} s (p99 over 15 minutes, twice running): events wait in retries or a queue (see README "Troubleshooting")`,
          metric: lag(key, 'p99', direction),
          threshold: limit,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );

    // A mapping document changed in SSM that does not parse: the functions go on with the last
    // good one, and say so here until it is fixed.
    this.configRejectedAlarm = new cloudwatch.Alarm(this, 'ConfigRejectedAlarm', {
      alarmDescription: 'the status/field mapping document in SSM does not parse: jira-client and sir-client keep the last good one until it is fixed (./deploy.sh --status-mapping / --field-mapping; see the functions\' logs)',
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(toJira, 0) + FILL(toSir, 0)',
        usingMetrics: {
          toJira: own('jiraClient', m.names.configRejected, 'Sum', Duration.minutes(5)),
          toSir: own('sirClient', m.names.configRejected, 'Sum', Duration.minutes(5)),
        },
        period: Duration.minutes(5),
        label: 'mapping documents rejected',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // The Jira token's expiry date, stored by deploy.sh beside it: every invocation that calls
    // Jira writes the days left. Two alarms, so the warning comes a month ahead and again a week
    // ahead (an action on the 7-day one can page where the 30-day one only mails). An hour with
    // no Jira call keeps the alarm as it was (the days left only go down until a new token), so a
    // quiet hour neither clears nor re-raises it; with no date stored there is never a value.
    this.tokenExpiryAlarms = ([30, 7] as const).map(
      (days) =>
        new cloudwatch.Alarm(this, `JiraTokenExpiresIn${days}DaysAlarm`, {
          alarmDescription: `the Jira API token expires in ${days} days or less (or has expired): create a new one and run ./deploy.sh again with --token - --token-expires YYYY-MM-DD (see README "When the Jira token expires")`,
          metric: tokenDaysLeft(),
          threshold: days,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        }),
    );
  }
}
