//! The Vision One client against the simulated Vision One over HTTP: paging, batches,
//! per-item failures, capacity, rate limits, tokens, and the request shapes Trend's own SDK
//! builds.

use std::time::{Duration, Instant};

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::http::{HttpSettings, RetryPolicy};
use apex_ioc_sync::ioc::{IocKind, MAX_URL_LEN};
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::sim::BackgroundVisionOne;
use apex_ioc_sync::sim::vision_one::{NeverExpiresAs, SimObject, VisionOneSimConfig};
use apex_ioc_sync::sink::vision_one::{
    BatchLimits, ItemError, ItemOutcome, MAX_BODY_BYTES, NewObject, ObjectRef, ObjectType,
    RiskLevel, VisionOneClient, VisionOneError,
};
use serde_json::{Value, json};

use crate::common::{item_with_key, shape};

fn start(config: VisionOneSimConfig) -> BackgroundVisionOne {
    BackgroundVisionOne::start(config).expect("simulator starts")
}

fn client_with_token(v1: &BackgroundVisionOne, token: &str) -> VisionOneClient {
    VisionOneClient::new(&v1.url(), &Secret::new(token), &HttpSettings::default())
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        })
}

fn client(v1: &BackgroundVisionOne) -> VisionOneClient {
    client_with_token(v1, &v1.sim.config().token)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn new_object(kind: IocKind, value: &str) -> NewObject {
    NewObject {
        kind,
        value: value.into(),
        description: "apex-ioc-sync:test C2C".into(),
        scan_action: ScanAction::Block,
        risk_level: RiskLevel::High,
        days_to_expiration: Some(30),
    }
}

fn long_url(i: usize) -> String {
    let prefix = format!("https://evil.example/{i}/");
    format!("{prefix}{}", "p".repeat(MAX_URL_LEN - prefix.len()))
}

/// Sends every item, cut the client's way; the results in item order.
async fn add_all(c: &VisionOneClient, items: &[NewObject]) -> Vec<Result<ItemOutcome, ItemError>> {
    let mut out = Vec::new();
    for range in c.batches(items) {
        out.extend(c.add(&items[range]).await.unwrap());
    }
    out
}

#[test]
fn list_follows_next_link_with_the_type_filter_on_every_page() {
    let v1 = start(VisionOneSimConfig::random());
    for i in 0..450 {
        v1.sim.insert(SimObject::new(
            ObjectType::Url,
            &format!("https://evil.example/{i:03}"),
            "apex-ioc-sync:t",
        ));
    }
    for i in 0..30 {
        v1.sim.insert(SimObject::new(
            ObjectType::Domain,
            &format!("d{i}.example"),
            "by hand",
        ));
    }
    v1.sim.start_journal();
    let c = client(&v1);
    rt().block_on(async {
        let urls = c.list(IocKind::Url).await.unwrap();
        assert_eq!(urls.len(), 450);
        assert!(urls.iter().all(|o| o.kind == IocKind::Url));
        let mut values: Vec<&str> = urls.iter().map(|o| o.raw.as_str()).collect();
        values.dedup();
        assert_eq!(values.len(), 450, "no object twice across pages");
        assert_eq!(
            v1.sim.endpoint_count("list"),
            3,
            "450 at top=200 is 3 pages"
        );
        let domains = c.list(IocKind::Domain).await.unwrap();
        assert_eq!(domains.len(), 30);
        assert_eq!(domains[0].description, "by hand");
        assert!(c.list(IocKind::Ip).await.unwrap().is_empty());
    });
    let journal = v1.sim.journal();
    assert_eq!(journal.len(), 5);
    for r in &journal[..3] {
        assert_eq!(r.filter.as_deref(), Some("type eq 'url'"));
        assert_eq!(r.authorization, "Bearer <token>");
        assert!(r.query.contains(&("top".into(), "200".into())), "{r:?}");
    }
    assert!(journal[1].query.iter().any(|(k, _)| k == "skipToken"));
    assert_eq!(journal[3].filter.as_deref(), Some("type eq 'domain'"));
}

#[test]
fn listed_objects_are_normalised_whatever_form_expiry_and_case_take() {
    for never in [
        NeverExpiresAs::FarFuture,
        NeverExpiresAs::Null,
        NeverExpiresAs::Absent,
    ] {
        let v1 = start(VisionOneSimConfig {
            never_expires_as: never,
            uppercase_hashes: true,
            ..VisionOneSimConfig::random()
        });
        let sha1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
        v1.sim
            .insert(SimObject::new(ObjectType::FileSha1, sha1, "by hand"));
        let c = client(&v1);
        rt().block_on(async {
            let mut expiring = new_object(
                IocKind::FileSha1,
                "73d95a30c812d9cff0eaf37a686fdfef8f9ca531",
            );
            expiring.days_to_expiration = Some(7);
            assert_eq!(c.add(&[expiring]).await.unwrap(), [Ok(ItemOutcome::Done)]);
            let listed = c.list(IocKind::FileSha1).await.unwrap();
            assert_eq!(listed.len(), 2);
            let by_hand = listed.iter().find(|o| o.description == "by hand").unwrap();
            assert_eq!(
                by_hand.raw,
                sha1.to_uppercase(),
                "listed as the server keeps it"
            );
            assert_eq!(
                by_hand.ioc.as_ref().unwrap().value,
                sha1,
                "compared in normal form"
            );
            assert_eq!(by_hand.expires, None, "{never:?} means never");
            let ours = listed.iter().find(|o| o.description != "by hand").unwrap();
            let days = (ours.expires.unwrap() - chrono::Utc::now()).num_hours();
            assert!((7 * 24 - 1..=7 * 24).contains(&days), "{days} hours");
            assert_eq!(
                (ours.scan_action.as_str(), ours.risk_level.as_str()),
                ("block", "high")
            );
        });
    }
}

#[test]
fn adds_and_deletes_go_in_batches_under_one_megabyte() {
    let v1 = start(VisionOneSimConfig::random());
    v1.sim.start_journal();
    let c = client(&v1);
    let items: Vec<NewObject> = (0..2_500)
        .map(|i| new_object(IocKind::Url, &long_url(i)))
        .collect();
    let ranges = c.batches(&items);
    rt().block_on(async {
        let results = add_all(&c, &items).await;
        assert_eq!(results.len(), 2_500);
        assert!(results.iter().all(|r| *r == Ok(ItemOutcome::Done)));
        assert_eq!(v1.sim.objects(ObjectType::Url).len(), 2_500);
        assert_eq!(v1.sim.endpoint_count("add") as usize, ranges.len());
        // Each body held as many of these 2,047-character URLs as fit under 1 MB.
        assert_eq!(ranges.len(), 6);

        let refs: Vec<ObjectRef> = c
            .list(IocKind::Url)
            .await
            .unwrap()
            .into_iter()
            .map(|o| ObjectRef {
                kind: o.kind,
                value: o.raw,
            })
            .collect();
        for range in c.batches(&refs) {
            let results = c.delete(&refs[range]).await.unwrap();
            assert!(results.iter().all(|r| *r == Ok(ItemOutcome::Done)));
        }
        assert!(v1.sim.objects(ObjectType::Url).is_empty());
    });
    for r in v1.sim.journal().iter().filter(|r| r.method == "POST") {
        let size = serde_json::to_vec(r.body.as_ref().unwrap()).unwrap().len();
        assert!(size <= MAX_BODY_BYTES, "{size}");
    }
}

#[test]
fn a_failed_item_is_reported_and_the_others_count() {
    let v1 = start(VisionOneSimConfig::random());
    let c = client(&v1);
    rt().block_on(async {
        let results = c
            .add(&[
                new_object(IocKind::Domain, "c2.example"),
                new_object(IocKind::FileSha1, "not-a-sha1"),
                new_object(IocKind::Ip, "203.0.113.7"),
            ])
            .await
            .unwrap();
        assert_eq!(results[0], Ok(ItemOutcome::Done));
        let Err(ItemError::Rejected {
            status,
            code,
            message,
        }) = &results[1]
        else {
            panic!("{:?}", results[1]);
        };
        assert_eq!((*status, code.as_str()), (400, "BadRequest"));
        assert!(message.contains("not-a-sha1"), "{message}");
        assert_eq!(results[2], Ok(ItemOutcome::Done));
        assert_eq!(v1.sim.all_objects().len(), 2);

        let results = c
            .delete(&[
                ObjectRef {
                    kind: IocKind::Domain,
                    value: "c2.example".into(),
                },
                ObjectRef {
                    kind: IocKind::Domain,
                    value: "never-added.example".into(),
                },
            ])
            .await
            .unwrap();
        assert_eq!(
            results,
            [Ok(ItemOutcome::Done), Ok(ItemOutcome::AlreadyGone)]
        );
    });
}

#[test]
fn a_full_list_refuses_what_does_not_fit_with_error_4000018() {
    let v1 = start(VisionOneSimConfig {
        capacity: 5,
        ..VisionOneSimConfig::random()
    });
    for i in 0..3 {
        v1.sim.insert(SimObject::new(
            ObjectType::Domain,
            &format!("foreign{i}.example"),
            "by hand",
        ));
    }
    v1.sim
        .insert(SimObject::new(ObjectType::Ip, "192.0.2.1", "by hand"));
    let c = client(&v1);
    rt().block_on(async {
        let items: Vec<NewObject> = (0..4)
            .map(|i| new_object(IocKind::Domain, &format!("ours{i}.example")))
            .collect();
        let results = c.add(&items).await.unwrap();
        assert_eq!(results[..2], [Ok(ItemOutcome::Done), Ok(ItemOutcome::Done)]);
        for r in &results[2..] {
            assert!(matches!(r, Err(ItemError::ListFull { .. })), "{r:?}");
        }
        assert!(
            results[3]
                .clone()
                .unwrap_err()
                .to_string()
                .contains("full (error 4000018)")
        );
        assert_eq!(v1.sim.objects(ObjectType::Domain).len(), 5);
        // Full, an update of a listed object still goes through; other types have room.
        let mut update = new_object(IocKind::Domain, "ours0.example");
        update.scan_action = ScanAction::Log;
        let results = c
            .add(&[update, new_object(IocKind::Ip, "192.0.2.2")])
            .await
            .unwrap();
        assert_eq!(results, [Ok(ItemOutcome::Done), Ok(ItemOutcome::Done)]);
        let listed = c.list(IocKind::Domain).await.unwrap();
        assert_eq!(listed.len(), 5);
        let ours0 = listed.iter().find(|o| o.raw == "ours0.example").unwrap();
        assert_eq!(ours0.scan_action, "log");
    });
}

#[test]
fn rate_limits_are_waited_out_as_retry_after_asks() {
    let v1 = start(VisionOneSimConfig::random());
    v1.sim.control.faults.error_429_every(2, 1);
    let c = client(&v1);
    let started = Instant::now();
    rt().block_on(async {
        let items: Vec<NewObject> = (0..3)
            .map(|i| new_object(IocKind::Ip, &format!("198.51.100.{i}")))
            .collect();
        let results = c.add(&items).await.unwrap();
        assert!(results.iter().all(|r| *r == Ok(ItemOutcome::Done)));
        assert_eq!(c.list(IocKind::Ip).await.unwrap().len(), 3);
    });
    // The add (request 1) went through; the list's first try (2) got 429 and was sent
    // again (3) after the one second Retry-After asked for.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v1.sim.control.stats.total(), 3);
    assert_eq!(
        (v1.sim.endpoint_count("add"), v1.sim.endpoint_count("list")),
        (1, 1)
    );
}

#[test]
fn items_answered_with_5xx_are_sent_again_alone() {
    let v1 = start(VisionOneSimConfig::random());
    v1.sim.item_5xx_every(3);
    let c = client(&v1);
    rt().block_on(async {
        let items: Vec<NewObject> = (0..10)
            .map(|i| new_object(IocKind::Domain, &format!("d{i}.example")))
            .collect();
        let results = c.add(&items).await.unwrap();
        assert!(
            results.iter().all(|r| *r == Ok(ItemOutcome::Done)),
            "{results:?}"
        );
        assert_eq!(v1.sim.objects(ObjectType::Domain).len(), 10);
        // Items 3, 6, 9 failed; sent again (items 11-13), 12 failed; sent again (14).
        assert_eq!(v1.sim.endpoint_count("add"), 3);

        // With retries used up, the item stays failed and says why.
        let c = c.with_retry(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        });
        v1.sim.item_5xx_every(1);
        let results = c.add(&items[..1]).await.unwrap();
        let e = results[0].clone().unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("HTTP 500 InternalServerError"),
            "{e}"
        );
    });
}

#[test]
fn a_wrong_token_is_refused_and_never_repeated() {
    let v1 = start(VisionOneSimConfig::random());
    v1.sim.start_journal();
    let wrong = "eyJ-wrong-token-0123456789";
    let c = client_with_token(&v1, wrong);
    rt().block_on(async {
        let e = c.list(IocKind::Url).await.unwrap_err();
        assert!(matches!(e, VisionOneError::Auth { status: 401, .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("InvalidCredentials") && text.contains("--v1-token"),
            "{text}"
        );
        assert!(!text.contains(wrong), "{text}");
        let e = c
            .add(&[new_object(IocKind::Ip, "10.0.0.1")])
            .await
            .unwrap_err();
        assert!(matches!(e, VisionOneError::Auth { status: 401, .. }), "{e}");
        assert!(!format!("{e} {e:?}").contains(wrong));
    });
    // Refused once each: a 401 is not retried.
    assert_eq!(v1.sim.control.stats.total(), 2);
    assert!(
        v1.sim
            .journal()
            .iter()
            .all(|r| r.authorization == "Bearer <other>")
    );
    assert!(v1.sim.all_objects().is_empty());
}

#[test]
fn a_next_link_to_another_server_is_not_followed() {
    let elsewhere = start(VisionOneSimConfig::random());
    let v1 = start(VisionOneSimConfig {
        next_link_origin: Some(elsewhere.url()),
        ..VisionOneSimConfig::random()
    });
    for i in 0..60 {
        v1.sim
            .insert(SimObject::new(ObjectType::Ip, &format!("10.0.0.{i}"), "x"));
    }
    let c = client(&v1).with_page_size(50);
    rt().block_on(async {
        let e = c.list(IocKind::Ip).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, VisionOneError::BadResponse { .. }), "{text}");
        assert!(
            text.contains("another server") && text.contains(&elsewhere.url()),
            "{text}"
        );
    });
    assert_eq!(
        elsewhere.sim.control.stats.total(),
        0,
        "the token went elsewhere"
    );
}

#[test]
fn bodies_over_one_megabyte_are_refused_with_413() {
    let v1 = start(VisionOneSimConfig::random());
    let items: Vec<NewObject> = (0..600)
        .map(|i| new_object(IocKind::Url, &long_url(i)))
        .collect();
    // A client told it may send 2 MB: the server refuses the whole request.
    let c = client(&v1).with_limits(BatchLimits {
        max_body_bytes: 2_000_000,
        max_items: 1_000,
    });
    rt().block_on(async {
        assert_eq!(c.batches(&items).len(), 1);
        let e = c.add(&items).await.unwrap_err();
        assert!(matches!(e, VisionOneError::PayloadTooLarge { .. }), "{e}");
        assert!(e.to_string().contains("HTTP 413"), "{e}");
        // Our own limits refuse it before sending.
        let requests = v1.sim.control.stats.total();
        let e = client(&v1).add(&items).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("more than the 1000000 Vision One takes"),
            "{e}"
        );
        assert_eq!(v1.sim.control.stats.total(), requests);
    });
    assert!(v1.sim.all_objects().is_empty());
}

#[test]
fn requests_have_the_shapes_pytmv1_builds() {
    let recorded: Value =
        serde_json::from_str(include_str!("../data/vision-one/pytmv1-requests.json")).unwrap();
    let pytmv1 = |op: &str| -> &Value {
        recorded["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation"] == op)
            .unwrap_or_else(|| panic!("no {op} in the recording"))
    };
    let v1 = start(VisionOneSimConfig::random());
    for i in 0..250 {
        v1.sim.insert(SimObject::new(
            ObjectType::Ip,
            &format!("10.1.{}.{}", i / 200, i % 200),
            "x",
        ));
    }
    v1.sim.start_journal();
    let c = client(&v1);
    let kinds = IocKind::ALL;
    let samples = [
        (IocKind::Ip, "203.0.113.9"),
        (IocKind::Domain, "c2.example"),
        (IocKind::Url, "https://c2.example/gate.php?id=1"),
        (
            IocKind::FileSha1,
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        ),
        (
            IocKind::FileSha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    assert!(
        kinds.iter().all(|k| samples.iter().any(|(s, _)| s == k)),
        "a sample per kind"
    );
    rt().block_on(async {
        c.list(IocKind::Ip).await.unwrap();
        let adds: Vec<NewObject> = samples.iter().map(|(k, v)| new_object(*k, v)).collect();
        c.add(&adds).await.unwrap();
        let deletes: Vec<ObjectRef> = samples
            .iter()
            .map(|(k, v)| ObjectRef {
                kind: *k,
                value: (*v).into(),
            })
            .collect();
        c.delete(&deletes).await.unwrap();
    });
    let journal = v1.sim.journal();
    let ours: Vec<Value> = journal.iter().map(shape).collect();
    assert_eq!(ours.len(), 4, "{ours:#?}");
    let (list, next, add, delete) = (&ours[0], &ours[1], &ours[2], &ours[3]);

    // Lists: pytmv1 sends no `top` and no filter, and follows nextLink as given; this
    // client adds the documented `top` and `TMV1-Filter`, and follows nextLink as given.
    for (ours, theirs) in [(list, pytmv1("list")), (next, pytmv1("list-next"))] {
        for field in ["method", "path", "body"] {
            assert_eq!(ours[field], theirs[field], "{field}");
        }
        assert_eq!(
            ours["headers"]["Authorization"],
            theirs["headers"]["Authorization"]
        );
        assert_eq!(
            ours["headers"]["Content-Type"],
            theirs["headers"]["Content-Type"]
        );
        assert_eq!(ours["headers"]["TMV1-Filter"], "type eq 'ip'");
    }
    assert_eq!(list["query"], json!(["top"]));
    assert_eq!(next["query"], pytmv1("list-next")["query"]);

    // Writes: the same method, path, headers, and per object type the same item keys with
    // the same kinds of value.
    for (ours, theirs) in [(add, pytmv1("add")), (delete, pytmv1("delete"))] {
        for field in ["method", "path", "query", "headers"] {
            assert_eq!(
                ours[field], theirs[field],
                "{field} of {}",
                theirs["operation"]
            );
        }
        for (kind, _) in samples {
            let key = ObjectType::for_kind(kind).key();
            assert_eq!(
                item_with_key(&ours["body"], key),
                item_with_key(&theirs["body"], key),
                "{key} item of {}",
                theirs["operation"]
            );
        }
    }
}

/// `simulate` serves the simulated Vision One and prints its URL and token; the client
/// works against it, and sees the objects put there "by hand" as foreign.
#[test]
fn simulate_serves_vision_one_with_its_url_and_token() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Command::new(assert_cmd::cargo::cargo_bin("apex-ioc-sync"))
        .args(["simulate", "--v1-port", "0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    let banner = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("Simulated Trend Vision One listening on "))
        .expect("a Vision One line");
    let drain = std::thread::spawn(move || lines.count());
    let rest = banner.trim_start_matches("Simulated Trend Vision One listening on ");
    let (url, rest) = rest.split_once(' ').unwrap();
    let token = rest
        .split("API token ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    let c = VisionOneClient::new(url, &Secret::new(token), &HttpSettings::default()).unwrap();
    let outcome = rt().block_on(async {
        let domains = c.list(IocKind::Domain).await?;
        let added = c.add(&[new_object(IocKind::Domain, "c2.example")]).await?;
        let after = c.list(IocKind::Domain).await?;
        Ok::<_, VisionOneError>((domains, added, after))
    });
    sim.kill().unwrap();
    let _ = sim.wait();
    drain.join().unwrap();
    let (domains, added, after) = outcome.unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].raw, "phish.example");
    assert!(!domains[0].description.starts_with("apex-ioc-sync:"));
    assert_eq!(added, [Ok(ItemOutcome::Done)]);
    assert_eq!(after.len(), 2);
}
