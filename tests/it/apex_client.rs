//! The Apex client against the simulated Apex Central over HTTP.

use std::time::Duration;

use apex_ioc_sync::apex::client::{ApexClient, ApexError};
use apex_ioc_sync::apex::udso::{Deleted, ScanAction, UdsoWrite};
use apex_ioc_sync::http::{HttpSettings, RetryPolicy};
use apex_ioc_sync::ioc::IocKind;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;

fn client(apex: &BackgroundApex) -> ApexClient {
    let c = apex.sim.config();
    ApexClient::new(
        &apex.url(),
        &c.app_id,
        Secret::new(&c.api_key),
        &HttpSettings::default(),
    )
    .unwrap()
    .with_retry(RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    })
}

fn write(kind: IocKind, content: &str) -> UdsoWrite {
    UdsoWrite {
        kind,
        content: content.into(),
        notes: "apex-ioc-sync:test".into(),
        scan_action: ScanAction::Block,
        expiration: Some(chrono::Utc::now() + chrono::Duration::days(30)),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn put_list_update_delete_round_trip_with_awkward_content() {
    let apex = crate::common::start_apex();
    let client = client(&apex);
    rt().block_on(async {
        // In normal form (the client refuses any other), with the characters that must be
        // percent-encoded in a DELETE's query and hashed in that form.
        let url = "https://evil.example.com/Path?q=1&x=a+b%20c&y=%C3%BC;z=/#frag";
        for w in [
            write(IocKind::Url, url),
            write(IocKind::Domain, "xn--bcher-kva.example"),
            write(IocKind::Ip, "10.1.2.3"),
            write(
                IocKind::FileSha1,
                "73d95a30c812d9cff0eaf37a686fdfef8f9ca531",
            ),
        ] {
            client.put_udso(&w).await.unwrap();
        }
        let urls = client.list_udso(IocKind::Url).await.unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0].content, url);
        assert_eq!(urls[0].owner_tag(), Some("test"));
        assert!(urls[0].expiration_utc_date.is_some());

        // Putting listed content updates it.
        let mut w = write(IocKind::Url, url);
        w.scan_action = ScanAction::Log;
        w.expiration = None;
        client.put_udso(&w).await.unwrap();
        let urls = client.list_udso(IocKind::Url).await.unwrap();
        assert_eq!((urls.len(), urls[0].scan_action.as_str()), (1, "log"));
        assert_eq!(urls[0].expiration_utc_date, None);

        assert_eq!(
            client.delete_udso(IocKind::Url, url).await.unwrap(),
            Deleted::Removed
        );
        assert_eq!(
            client
                .delete_udso(IocKind::Domain, "xn--bcher-kva.example")
                .await
                .unwrap(),
            Deleted::Removed
        );
        // An entry in a form earlier versions wrote (a U-label) can still be deleted: the
        // UTF-8 content is percent-encoded in the query and signed in that form.
        apex.sim.insert(crate::common::entry(
            "domain",
            "bücher.example",
            "apex-ioc-sync:test",
        ));
        assert_eq!(
            client
                .delete_udso(IocKind::Domain, "bücher.example")
                .await
                .unwrap(),
            Deleted::Removed
        );
        assert!(client.list_udso(IocKind::Url).await.unwrap().is_empty());
    });
}

#[test]
fn delete_is_idempotent() {
    let apex = crate::common::start_apex();
    let client = client(&apex);
    rt().block_on(async {
        client
            .put_udso(&write(IocKind::Ip, "1.2.3.4"))
            .await
            .unwrap();
        assert_eq!(
            client.delete_udso(IocKind::Ip, "1.2.3.4").await.unwrap(),
            Deleted::Removed
        );
        assert_eq!(
            client.delete_udso(IocKind::Ip, "1.2.3.4").await.unwrap(),
            Deleted::AlreadyGone
        );
    });
    // 500/8 is an answer, not a failure to retry: two deletes, two requests.
    assert_eq!(apex.sim.control.stats.count("DELETE"), 2);
}

#[test]
fn capacity_is_per_type_and_answers_413_12() {
    let apex = crate::common::start_apex_with(ApexSimConfig {
        capacity: 3,
        ..ApexSimConfig::random()
    });
    let client = client(&apex);
    rt().block_on(async {
        for i in 1..=3 {
            client
                .put_udso(&write(IocKind::Ip, &format!("10.0.0.{i}")))
                .await
                .unwrap();
        }
        let err = client
            .put_udso(&write(IocKind::Ip, "10.0.0.4"))
            .await
            .unwrap_err();
        assert!(err.is_capacity(), "{err}");
        assert_eq!(err.status(), Some(413));
        assert!(err.to_string().contains("maximum exceeded"), "{err}");
        // Updating a listed entry still works at capacity, and other types have their own room.
        client
            .put_udso(&write(IocKind::Ip, "10.0.0.1"))
            .await
            .unwrap();
        client
            .put_udso(&write(IocKind::Domain, "a.example"))
            .await
            .unwrap();
    });
    // 413 is not retried.
    assert_eq!(apex.sim.control.stats.count("PUT"), 6);
}

#[test]
fn invalid_entries_are_refused_before_sending() {
    let apex = crate::common::start_apex();
    let client = client(&apex);
    rt().block_on(async {
        let err = client
            .put_udso(&write(IocKind::Ip, "::1"))
            .await
            .unwrap_err();
        assert!(matches!(err, ApexError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("IPv6"), "{err}");
    });
    assert_eq!(apex.sim.control.stats.total(), 0);
}

#[test]
fn injected_faults_are_retried_until_they_converge() {
    let apex = crate::common::start_apex();
    let faults = &apex.sim.control.faults;
    faults.error_5xx_every(3);
    faults.error_429_every(5, 0);
    faults.drop_every(7);
    faults.set_latency(Duration::from_millis(5));
    let client = client(&apex);
    rt().block_on(async {
        for i in 1..=20 {
            client
                .put_udso(&write(IocKind::Ip, &format!("10.9.0.{i}")))
                .await
                .unwrap();
        }
        assert_eq!(client.list_udso(IocKind::Ip).await.unwrap().len(), 20);
    });
    assert!(
        apex.sim.control.stats.count("PUT") > 20,
        "faults were injected and retried"
    );
}

#[test]
fn a_server_that_keeps_failing_gives_up_after_the_policy() {
    let apex = crate::common::start_apex();
    apex.sim.control.faults.error_5xx_every(1);
    let client = client(&apex);
    let err = rt().block_on(client.list_udso(IocKind::Ip)).unwrap_err();
    assert!(matches!(err, ApexError::Http { status: 503, .. }), "{err}");
    assert_eq!(apex.sim.control.stats.count("GET"), 5);
}

#[test]
fn string_result_codes_are_understood() {
    let apex = crate::common::start_apex_with(ApexSimConfig {
        string_numbers: true,
        ..ApexSimConfig::random()
    });
    let client = client(&apex);
    rt().block_on(async {
        client
            .put_udso(&write(IocKind::Ip, "1.2.3.4"))
            .await
            .unwrap();
        assert_eq!(client.list_udso(IocKind::Ip).await.unwrap().len(), 1);
        let err = client.put_udso(&write(IocKind::Ip, "1.2.3.4")).await;
        assert!(err.is_ok());
        assert_eq!(
            client.delete_udso(IocKind::Ip, "9.9.9.9").await.unwrap(),
            Deleted::AlreadyGone
        );
    });
}

#[test]
fn expired_entries_leave_the_list() {
    let apex = crate::common::start_apex();
    let mut e = crate::common::entry("ip", "1.1.1.1", "apex-ioc-sync:x");
    e.expiration_utc_date = Some((chrono::Utc::now() - chrono::Duration::minutes(1)).naive_utc());
    apex.sim.insert(e);
    apex.sim.insert(crate::common::entry("ip", "2.2.2.2", ""));
    let listed = rt().block_on(client(&apex).list_udso(IocKind::Ip)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].content, "2.2.2.2");
}

#[test]
fn concurrent_adds_never_overfill_the_list() {
    let apex = crate::common::start_apex_with(ApexSimConfig {
        capacity: 5,
        ..ApexSimConfig::random()
    });
    let client = client(&apex);
    let results: Vec<Result<(), ApexError>> = rt().block_on(async {
        let puts = (0..40).map(|i| {
            let client = client.clone();
            async move {
                client
                    .put_udso(&write(IocKind::Ip, &format!("10.7.0.{i}")))
                    .await
            }
        });
        futures::future::join_all(puts).await
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(ApexError::is_capacity)
    );
    assert_eq!(apex.sim.entries(IocKind::Ip).len(), 5);
}

#[test]
fn first_try_only_faults_every_distinct_add_once() {
    let apex = crate::common::start_apex();
    apex.sim.control.faults.first_try_only(true);
    apex.sim.control.faults.error_5xx_every(1);
    let client = client(&apex);
    rt().block_on(async {
        for i in 0..10 {
            client
                .put_udso(&write(IocKind::Ip, &format!("10.8.0.{i}")))
                .await
                .unwrap();
        }
    });
    assert_eq!(
        apex.sim.control.stats.count("PUT"),
        20,
        "each add failed once, then went through"
    );
}

#[test]
fn deleting_an_expired_entry_is_data_not_found() {
    let apex = crate::common::start_apex();
    let mut e = crate::common::entry("ip", "1.1.1.1", "apex-ioc-sync:x");
    e.expiration_utc_date = Some((chrono::Utc::now() - chrono::Duration::minutes(1)).naive_utc());
    apex.sim.insert(e);
    let outcome = rt()
        .block_on(client(&apex).delete_udso(IocKind::Ip, "1.1.1.1"))
        .unwrap();
    assert_eq!(outcome, Deleted::AlreadyGone);
}
