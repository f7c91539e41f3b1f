//! Publishing with a pending-delivery ledger, so no change is lost when its event ends in a
//! dead-letter queue.
//!
//! The poller and jira-notifications-handler store their snapshot when they publish, so a change
//! whose event Lambda gave up on (one try and two retries, then the DLQ) would never be published
//! again. [`publish_recorded`] therefore first records the event in the ledger
//! ([`PendingDeliveryStore`], `PENDING` / `CASE#<id>` or `ISSUE#<key>`) under a fresh delivery id
//! the event carries, merged with whatever earlier delivery for the same subject is still
//! unacknowledged (so a field or comment named only by the older event is not dropped), and then
//! publishes it. The consumer ([`acknowledge`]) removes the item once it applied the event, but
//! only if it still holds that event's delivery id. Whatever stays in the ledger longer than the
//! redelivery window is published again by the poller's reconciler.
//!
//! Republishing a stored event is safe: consumers re-read the source and compare with what was
//! last applied; the event only says which subject and which fields/items to look at.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::events::{
    BusEvent, CaseChange, CaseField, IdDelta, IssueChange, IssueField, earliest_change,
};
use crate::publisher::EventPublisher;
use crate::snapshot::Fingerprint;
use crate::store::{DeliverySubject, PendingDelivery, PendingDeliveryStore, now_epoch_seconds};

/// How often a concurrent writer may replace the ledger item between our read and our write
/// before [`publish_recorded`] gives up (each round re-reads and merges again).
const SWAP_ROUNDS: usize = 5;

/// A delivery id unique to this content and moment: the time in nanoseconds, a per-process
/// counter and a digest of the event's detail.
fn new_delivery_id(event: &BusEvent) -> Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = clock::since_epoch().as_nanos();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let digest = Fingerprint::of_text(&format!("{nanos}/{count}/{}", event.detail_json()?));
    Ok(format!("{nanos:x}-{}", &digest.as_str()[..16]))
}

/// Ids named by either list, earlier ones first, each once.
fn union(older: &[String], newer: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    older
        .iter()
        .chain(newer)
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

fn merged_delta(older: &IdDelta, newer: &IdDelta) -> IdDelta {
    let added = union(&older.added, &newer.added);
    let updated: Vec<String> = union(&older.updated, &newer.updated)
        .into_iter()
        .filter(|id| !added.contains(id))
        .collect();
    let removed = union(&older.removed, &newer.removed);
    let mut delta = IdDelta::new(added, updated).with_removed(removed);
    delta.truncated |= older.truncated || newer.truncated;
    delta
}

fn merged_case(older: &CaseChange, mut newer: CaseChange) -> CaseChange {
    newer
        .changed_fields
        .extend(older.changed_fields.iter().copied());
    newer.comments = merged_delta(&older.comments, &newer.comments);
    newer.attachments = merged_delta(&older.attachments, &newer.attachments);
    newer.audit |= older.audit;
    newer.changed_at = earliest_change(older.changed_at.as_deref(), newer.changed_at.as_deref());
    newer
}

fn merged_issue(older: &IssueChange, mut newer: IssueChange) -> IssueChange {
    newer
        .changed_fields
        .extend(older.changed_fields.iter().copied());
    newer.comments = merged_delta(&older.comments, &newer.comments);
    newer.attachments = merged_delta(&older.attachments, &newer.attachments);
    newer.changed_at = earliest_change(older.changed_at.as_deref(), newer.changed_at.as_deref());
    newer
}

/// `newer` with everything `older` (an unacknowledged delivery of the same subject) named: the
/// changed fields and the comment/attachment ids of both. The kind is the newer one's: the
/// publisher chose it from what it saw last (an update means the pair is linked, so the create
/// happened; applying it as a create again would push every field, the status included, over
/// what may have been changed on the other side since).
///
/// An unacknowledged create names no field (a create brings every one), so an update merged
/// with it names the watchers besides its own fields: the create may have made the other side
/// and stopped before adding them, and, unlike the other fields, watchers are brought over only
/// when an event names them (the audit does not re-add a watcher a person removed), so without
/// this they would never arrive (simulator seed 2802). Adding a watcher overwrites nothing.
pub fn merged(older: &BusEvent, newer: BusEvent) -> BusEvent {
    match (older, newer) {
        (BusEvent::CaseCreated(o) | BusEvent::CaseUpdated(o), BusEvent::CaseCreated(n)) => {
            BusEvent::CaseCreated(merged_case(o, n))
        }
        (BusEvent::CaseCreated(o), BusEvent::CaseUpdated(n)) => {
            let mut m = merged_case(o, n);
            m.changed_fields.insert(CaseField::Watchers);
            BusEvent::CaseUpdated(m)
        }
        (BusEvent::CaseUpdated(o), BusEvent::CaseUpdated(n)) => {
            BusEvent::CaseUpdated(merged_case(o, n))
        }
        (BusEvent::IssueCreated(o) | BusEvent::IssueUpdated(o), BusEvent::IssueCreated(n)) => {
            BusEvent::IssueCreated(merged_issue(o, n))
        }
        (BusEvent::IssueCreated(o), BusEvent::IssueUpdated(n)) => {
            let mut m = merged_issue(o, n);
            m.changed_fields.insert(IssueField::Watchers);
            BusEvent::IssueUpdated(m)
        }
        (BusEvent::IssueUpdated(o), BusEvent::IssueUpdated(n)) => {
            BusEvent::IssueUpdated(merged_issue(o, n))
        }
        (_, newer) => newer,
    }
}

/// `event` carrying `delivery_id` (deletions carry none).
pub fn with_delivery_id(event: BusEvent, delivery_id: &str) -> BusEvent {
    let id = Some(delivery_id.to_owned());
    match event {
        BusEvent::CaseCreated(mut c) => {
            c.delivery_id = id;
            BusEvent::CaseCreated(c)
        }
        BusEvent::CaseUpdated(mut c) => {
            c.delivery_id = id;
            BusEvent::CaseUpdated(c)
        }
        BusEvent::IssueCreated(mut i) => {
            i.delivery_id = id;
            BusEvent::IssueCreated(i)
        }
        BusEvent::IssueUpdated(mut i) => {
            i.delivery_id = id;
            BusEvent::IssueUpdated(i)
        }
        other => other,
    }
}

/// Records `event` as pending (merged with an unacknowledged earlier delivery of its subject),
/// then publishes it; returns the event as published. A deletion is published as it is (the
/// poller drops a deleted case's pending delivery itself). Recorded before publishing, so a crash
/// in between leaves a delivery the reconciler publishes, never a publish without a record.
pub async fn publish_recorded(
    store: &dyn PendingDeliveryStore,
    publisher: &dyn EventPublisher,
    event: BusEvent,
) -> Result<BusEvent> {
    Ok(publish(store, publisher, event, None, None).await?.event)
}

/// How long after a `CaseCreated` was published, and while it is not acknowledged, the poller
/// holds a later change of the same case instead of publishing it (see
/// [`publish_recorded_or_held`]): longer than jira-client takes to create an issue (its claim
/// waits up to 75 s), shorter than Lambda's first retry of a failed one plus its run.
pub const HOLD_BEHIND_CREATE_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// What [`publish_recorded_or_held`] did with an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event as recorded (merged, carrying its delivery id).
    pub event: BusEvent,
    /// Recorded without being published.
    pub held: bool,
}

/// [`publish_recorded`], except that a change of a case whose `CaseCreated` is still
/// unacknowledged and was published less than [`HOLD_BEHIND_CREATE_FOR`] ago is merged into the
/// ledger and held there, not published: before the issue exists every SIR change of the case
/// would otherwise be another `CaseCreated`, each costing jira-client Jira and SIR reads.
/// jira-client, after applying the create, finds its acknowledgement refused by the held
/// delivery and applies it too (or acknowledges it, when its own case read started after the
/// hold); the reconciler publishes a held delivery nobody applied.
pub async fn publish_recorded_or_held(
    store: &dyn PendingDeliveryStore,
    publisher: &dyn EventPublisher,
    event: BusEvent,
) -> Result<Recorded> {
    publish(
        store,
        publisher,
        event,
        Some(HOLD_BEHIND_CREATE_FOR.as_secs()),
        None,
    )
    .await
}

/// [`publish_recorded_or_held`] for a caller that has read the subject's pending delivery
/// already (`pending_read`, e.g. with [`crate::store::CaseRecordStore::case_records`]): the
/// first swap starts from it instead of reading it again. A delivery replaced since is no harm:
/// the swap is conditional on the delivery id read, and a refused one reads the ledger afresh.
/// What a stale read can miss is a rewrite under the same id: a failed publish moving its
/// delivery's `published_at` back (`mark_unpublished`), after which a change recorded from the
/// read before is held behind the create that did not go out, until the reconciler publishes
/// it; or the reconciler's republish (`published_at`, `attempts`, `held`), after which the
/// merged delivery counts one attempt fewer. Both delay or undercount; neither loses a change.
pub async fn publish_recorded_or_held_after_read(
    store: &dyn PendingDeliveryStore,
    publisher: &dyn EventPublisher,
    event: BusEvent,
    pending_read: Option<PendingDelivery>,
) -> Result<Recorded> {
    publish(
        store,
        publisher,
        event,
        Some(HOLD_BEHIND_CREATE_FOR.as_secs()),
        Some(pending_read),
    )
    .await
}

async fn publish(
    store: &dyn PendingDeliveryStore,
    publisher: &dyn EventPublisher,
    event: BusEvent,
    hold_behind_create_for: Option<u64>,
    pending_read: Option<Option<PendingDelivery>>,
) -> Result<Recorded> {
    let Some(subject) = DeliverySubject::of(&event) else {
        publisher.publish(std::slice::from_ref(&event)).await?;
        return Ok(Recorded { event, held: false });
    };
    let pending_read = pending_read.filter(|read| {
        read.as_ref()
            .is_none_or(|pending| pending.subject == subject)
    });
    let recorded = record(store, &subject, event, hold_behind_create_for, pending_read).await?;
    if !recorded.held
        && let Err(error) = publisher
            .publish(std::slice::from_ref(&recorded.event))
            .await
    {
        mark_unpublished(store, &recorded).await;
        return Err(error);
    }
    Ok(Recorded {
        event: recorded.event,
        held: recorded.held,
    })
}

/// A delivery recorded but whose publish failed must not look freshly published: the next
/// change (the retry) would be held behind a create that never went out, until the reconciler's
/// window. Its `published_at` moves back by [`HOLD_BEHIND_CREATE_FOR`], so nothing is held
/// behind it; the retry (whose snapshot compare still finds the change) publishes it, and the
/// reconciler's window still counts from about the failed try. Best effort: the publish's error
/// is what the caller reports; if this write fails too, the hold lasts
/// [`HOLD_BEHIND_CREATE_FOR`] at most.
async fn mark_unpublished(store: &dyn PendingDeliveryStore, recorded: &PendingDelivery) {
    let unpublished = PendingDelivery {
        published_at: recorded
            .published_at
            .saturating_sub(HOLD_BEHIND_CREATE_FOR.as_secs()),
        ..recorded.clone()
    };
    match store
        .swap_pending_delivery(Some(&recorded.delivery_id), &unpublished)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::debug!(
            delivery_id = recorded.delivery_id,
            "a newer delivery replaced the one whose publish failed"
        ),
        Err(error) => tracing::warn!(
            delivery_id = recorded.delivery_id,
            error = %crate::error::error_chain(&error),
            "could not mark a delivery whose publish failed as unpublished"
        ),
    }
}

/// Whether a change merged into `older` is held rather than published (see
/// [`publish_recorded_or_held`]).
fn holds_behind(older: &PendingDelivery, now: u64, hold_for: Option<u64>) -> bool {
    hold_for.is_some_and(|window| {
        (older.held || matches!(older.event, BusEvent::CaseCreated(_)))
            && now.saturating_sub(older.published_at) < window
    })
}

async fn record(
    store: &dyn PendingDeliveryStore,
    subject: &DeliverySubject,
    event: BusEvent,
    hold_behind_create_for: Option<u64>,
    mut pending_read: Option<Option<PendingDelivery>>,
) -> Result<PendingDelivery> {
    for _ in 0..SWAP_ROUNDS {
        let now = now_epoch_seconds();
        let older = match pending_read.take() {
            Some(read) => read,
            None => store.pending_delivery(subject).await?,
        };
        let merged = match &older {
            Some(older) => merged(&older.event, event.clone()),
            None => event.clone(),
        };
        let delivery_id = new_delivery_id(&merged)?;
        let held = older
            .as_ref()
            .is_some_and(|o| holds_behind(o, now, hold_behind_create_for));
        let pending = PendingDelivery {
            subject: subject.clone(),
            event: with_delivery_id(merged, &delivery_id),
            delivery_id,
            first_published_at: older.as_ref().map_or(now, |o| o.first_published_at),
            published_at: match &older {
                Some(older) if held => older.published_at,
                _ => now,
            },
            attempts: match &older {
                Some(older) if held => older.attempts,
                Some(older) => older.attempts.saturating_add(1),
                None => 1,
            },
            held,
        };
        let expected = older.as_ref().map(|o| o.delivery_id.as_str());
        if store.swap_pending_delivery(expected, &pending).await? {
            return Ok(pending);
        }
    }
    Err(Error::StoreConditionFailed {
        operation: "swap_pending_delivery",
        reason: format!("the pending delivery of {subject} kept changing under us"),
    })
}

/// Acknowledges that `event` was applied: removes its pending delivery if the ledger still holds
/// this very delivery (a newer one stays). An event without a delivery id (a deletion, or one
/// published before the ledger existed) needs none. `true` if an item was removed.
pub async fn acknowledge(store: &dyn PendingDeliveryStore, event: &BusEvent) -> Result<bool> {
    match (DeliverySubject::of(event), event.delivery_id()) {
        (Some(subject), Some(id)) => store.acknowledge_delivery(&subject, id).await,
        _ => Ok(false),
    }
}

/// [`PendingDeliveryStore::acknowledge_delivery`] for a consumer that has applied the event: a
/// failed acknowledgement is logged, not returned. The change is applied; the delivery left in
/// the ledger only costs one harmless redelivery after the window, whereas failing the
/// invocation would apply the event again now and, if the table stays unreachable, send an
/// applied event to the dead-letter queue. Returns whether the ledger refused it because it
/// holds another delivery for the subject (a newer one, or this one was acknowledged already).
pub async fn acknowledge_logged(
    store: &dyn PendingDeliveryStore,
    subject: &DeliverySubject,
    delivery_id: &str,
) -> bool {
    match store.acknowledge_delivery(subject, delivery_id).await {
        Ok(true) => {
            tracing::debug!(%subject, delivery_id, "delivery acknowledged");
            false
        }
        Ok(false) => {
            tracing::info!(
                %subject,
                delivery_id,
                "a newer delivery is pending (or this one was acknowledged already): left in place"
            );
            true
        }
        Err(error) => {
            tracing::warn!(
                %subject,
                delivery_id,
                error = %crate::error::error_chain(&error),
                "could not acknowledge the delivery; the reconciler will publish it once more"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{CaseSnapshot, IssueSnapshot};
    use crate::status::SirStatus;

    fn case(title: &str) -> CaseSnapshot {
        CaseSnapshot {
            case_id: "1234567890".into(),
            title: title.into(),
            description: "d".into(),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        }
    }

    #[test]
    fn a_newer_publish_keeps_what_an_unacknowledged_older_one_named() {
        let mut older = CaseChange::new(Some(&case("a")), case("b"));
        older.comments = IdDelta::new(["c1".to_owned()], ["c2".to_owned()]);
        let mut moved = case("b");
        moved.status = SirStatus::DetectionAndAnalysis;
        let mut newer = CaseChange::new(Some(&case("b")), moved);
        newer.comments = IdDelta::new(["c2".to_owned(), "c3".to_owned()], []);
        let BusEvent::CaseUpdated(m) = merged(
            &BusEvent::CaseUpdated(older),
            BusEvent::CaseUpdated(newer.clone()),
        ) else {
            panic!("an update stays an update");
        };
        assert_eq!(
            m.changed_fields,
            [CaseField::Title, CaseField::Status].into()
        );
        assert_eq!(m.comments.added, ["c1", "c2", "c3"]);
        assert!(m.comments.updated.is_empty(), "c2 is listed once, as added");
        assert_eq!(m.case, newer.case, "the newest state");
    }

    #[test]
    fn a_merged_delivery_keeps_the_earliest_change_time_for_its_lag() {
        let mut older = CaseChange::new(Some(&case("a")), case("b"));
        older.changed_at = Some("2026-12-04T19:30:00Z".into());
        let mut newer = CaseChange::new(Some(&case("b")), case("c"));
        newer.changed_at = Some("2026-12-04T19:35:00Z".into());
        let BusEvent::CaseUpdated(m) =
            merged(&BusEvent::CaseUpdated(older), BusEvent::CaseUpdated(newer))
        else {
            panic!("an update stays an update");
        };
        assert_eq!(m.changed_at.as_deref(), Some("2026-12-04T19:30:00Z"));
        let issue = IssueSnapshot {
            issue_key: "SEC-1".into(),
            summary: "Keys leaked".into(),
            description: String::new(),
            status: "To Do".into(),
            watchers: BTreeSet::new(),
        };
        let older = IssueChange::new(None, issue.clone());
        let mut newer = IssueChange::new(None, issue);
        newer.changed_at = Some("2026-12-04T19:35:00Z".into());
        let BusEvent::IssueUpdated(m) = merged(
            &BusEvent::IssueUpdated(older),
            BusEvent::IssueUpdated(newer),
        ) else {
            panic!("an update stays an update");
        };
        assert_eq!(m.changed_at.as_deref(), Some("2026-12-04T19:35:00Z"));
    }

    #[test]
    fn an_audit_merged_with_a_plain_update_stays_an_audit() {
        let mut audit = CaseChange::new(Some(&case("a")), case("a"));
        audit.audit = true;
        let plain = CaseChange::new(Some(&case("a")), case("b"));
        for (older, newer) in [(audit.clone(), plain.clone()), (plain, audit)] {
            let BusEvent::CaseUpdated(m) =
                merged(&BusEvent::CaseUpdated(older), BusEvent::CaseUpdated(newer))
            else {
                panic!("an update stays an update");
            };
            assert!(m.audit);
        }
    }

    #[test]
    fn an_update_merged_with_an_unacknowledged_create_names_the_watchers() {
        let mut watched = case("a");
        watched.watchers.insert("bob@example.com".into());
        let created = BusEvent::CaseCreated(CaseChange::new(None, watched.clone()));
        let mut moved = watched.clone();
        moved.status = SirStatus::DetectionAndAnalysis;
        let updated = BusEvent::CaseUpdated(CaseChange::new(Some(&watched), moved));
        let BusEvent::CaseUpdated(m) = merged(&created, updated.clone()) else {
            panic!("the newer kind stays");
        };
        assert_eq!(
            m.changed_fields,
            [CaseField::Status, CaseField::Watchers].into()
        );
        let BusEvent::CaseUpdated(plain) = merged(&updated, updated.clone()) else {
            panic!("an update stays an update");
        };
        assert_eq!(plain.changed_fields, [CaseField::Status].into());
    }

    #[test]
    fn the_newer_publish_decides_the_kind() {
        let created = BusEvent::CaseCreated(CaseChange::new(None, case("a")));
        let updated = BusEvent::CaseUpdated(CaseChange::new(Some(&case("a")), case("b")));
        assert!(matches!(
            merged(&created, updated.clone()),
            BusEvent::CaseUpdated(_)
        ));
        assert!(matches!(
            merged(&updated, created),
            BusEvent::CaseCreated(_)
        ));
    }
}
