//! Conformance checks for [`EventStore`](crate::store::EventStore) and the providers'
//! allowed workspaces, run on every backend by the store conformance suite: each function
//! takes a fresh, empty store.

use chrono::{DateTime, Duration, Utc};

use crate::model::{Provider, ProviderName, RequestUuid, WorkspaceSet};
use crate::store::{DeliveryClaim, DynStore, ProviderPatch, WriteOutcome};

fn request(n: u8) -> RequestUuid {
    format!("{n:08x}-0000-4000-8000-000000000000")
        .parse()
        .expect("a valid request UUID")
}

fn at(seconds: i64, millis: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, millis * 1_000_000).expect("a valid time")
}

/// A check of the conformance suite (see its name).
pub async fn delivery_ids_are_claimed_once_within_retention(s: DynStore) {
    let day = Duration::days(1);
    assert_eq!(
        s.claim_delivery(&request(1), at(0, 250), day)
            .await
            .unwrap(),
        DeliveryClaim::First
    );
    // The braced form Bitbucket's APIs use is the same delivery.
    let braced: RequestUuid = "{00000001-0000-4000-8000-000000000000}".parse().unwrap();
    assert_eq!(
        s.claim_delivery(&braced, at(10, 0), day).await.unwrap(),
        DeliveryClaim::Duplicate {
            first_received: at(0, 250)
        },
        "a redelivery is recognised, with the first attempt's time to the millisecond"
    );
    assert_eq!(
        s.claim_delivery(&request(2), at(10, 0), day).await.unwrap(),
        DeliveryClaim::First
    );
    s.release_delivery(&request(2)).await.unwrap();
    s.release_delivery(&request(9)).await.unwrap();
    assert_eq!(
        s.claim_delivery(&request(2), at(11, 0), day).await.unwrap(),
        DeliveryClaim::First,
        "a released delivery is processed again"
    );
    // Past the retention, the id is forgotten: a delivery that old is new again.
    assert_eq!(
        s.claim_delivery(&request(1), at(86_401, 0), day)
            .await
            .unwrap(),
        DeliveryClaim::First
    );
    // A retention too large to subtract from a date keeps everything instead of failing.
    assert!(matches!(
        s.claim_delivery(&request(1), at(86_402, 0), Duration::MAX)
            .await
            .unwrap(),
        DeliveryClaim::Duplicate { .. }
    ));
}

/// A check of the conformance suite (see its name).
pub async fn concurrent_attempts_of_one_delivery_claim_it_once(s: DynStore) {
    let attempts = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.claim_delivery(&request(7), at(i, 0), Duration::days(1))
                .await
                .unwrap()
        })
    });
    let claims = futures::future::join_all(attempts).await;
    let first = claims
        .iter()
        .filter(|c| matches!(c, Ok(DeliveryClaim::First)))
        .count();
    assert_eq!(first, 1, "{claims:?}");
}

/// A check of the conformance suite (see its name).
pub async fn deprecations_are_remembered_with_the_doctor_report_time(s: DynStore) {
    assert!(s.deprecations().await.unwrap().is_empty());
    assert_eq!(s.doctor_reported_at().await.unwrap(), None);
    s.record_deprecation(
        "CHANGE-2770",
        Some("https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"),
        at(0, 1),
    )
    .await
    .unwrap();
    s.record_deprecation("CHANGE-2770", None, at(5, 2))
        .await
        .unwrap();
    s.record_deprecation("CHANGE-1000", None, at(3, 0))
        .await
        .unwrap();
    let seen = s.deprecations().await.unwrap();
    assert_eq!(
        seen.iter().map(|n| n.change.as_str()).collect::<Vec<_>>(),
        ["CHANGE-1000", "CHANGE-2770"]
    );
    let n = &seen[1];
    assert_eq!(
        (n.first_seen, n.last_seen, n.count),
        (at(0, 1), at(5, 2), 2)
    );
    assert_eq!(
        n.announcement.as_deref(),
        Some("https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"),
        "a later answer without a URL keeps the known one"
    );
    assert_eq!(seen[0].announcement, None);
    s.set_doctor_reported_at(at(4, 5)).await.unwrap();
    s.set_doctor_reported_at(at(6, 7)).await.unwrap();
    assert_eq!(s.doctor_reported_at().await.unwrap(), Some(at(6, 7)));
}

/// A check of the conformance suite (see its name).
pub async fn allowed_workspaces_round_trip(s: DynStore) {
    let bb: ProviderName = "bitbucket.org".parse().unwrap();
    let acme: WorkspaceSet = "acme,beta".parse().unwrap();
    let p = Provider::bitbucket_cloud().with_allowed_workspaces(acme.clone());
    assert_eq!(s.create_provider(&p).await.unwrap(), WriteOutcome::Created);
    assert_eq!(
        s.provider(&bb).await.unwrap().unwrap().allowed_workspaces,
        acme
    );
    let conflict = s
        .create_provider(&Provider::bitbucket_cloud())
        .await
        .unwrap_err();
    assert!(
        matches!(conflict, crate::store::StoreError::Conflict { .. }),
        "another limit is another provider: {conflict}"
    );
    let same = s
        .update_provider(&bb, &ProviderPatch::new().allowed_workspaces(acme.clone()))
        .await
        .unwrap();
    assert_eq!(same.outcome, WriteOutcome::Unchanged);
    let anyone = s
        .update_provider(
            &bb,
            &ProviderPatch::new().allowed_workspaces(WorkspaceSet::anyone()),
        )
        .await
        .unwrap();
    assert_eq!(anyone.outcome, WriteOutcome::Updated);
    assert!(s.providers().await.unwrap()[0]
        .allowed_workspaces
        .is_empty());
    let gamma: WorkspaceSet = "gamma".parse().unwrap();
    let updated = s
        .update_provider(&bb, &ProviderPatch::new().allowed_workspaces(gamma.clone()))
        .await
        .unwrap();
    assert_eq!(updated.value.allowed_workspaces, gamma);
    assert_eq!(s.provider(&bb).await.unwrap().unwrap(), updated.value);
}
