//! The planner: a pure function of the desired IOCs, the listed UDSO entries, the policy
//! and the time, returning the writes that make this job's entries equal to the desired set.
//!
//! Rules (DESIGN.md, Sync semantics):
//! - add what is desired and not listed at all;
//! - update owned entries whose scan action or expiration policy differs, or whose
//!   expiration is less than half the period away;
//! - remove owned entries that are no longer desired, unless `preserve`;
//! - never touch an entry without this job's tag; a desired IOC that such an entry already
//!   holds is skipped (foreign), and foreign entries count toward capacity;
//! - when the desired set does not fit beside the foreign entries, keep the newest;
//! - a plan that would remove more than half of what the job owns (and more than 10
//!   entries) holds its removals back unless forced (the brake).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::apex::udso::{ScanAction, UdsoEntry, UdsoWrite, make_notes};
use crate::ioc::{Ioc, IocKind};
use crate::source::Desired;

/// Apex's capacity per type.
pub const UDSO_CAPACITY: usize = 10_000;
/// The kinds Apex's UDSO list holds (its `type` field: `reference/apex-central.md`, UDSO
/// list). A run skips IOCs of other kinds (`file_sha256`) and counts them as
/// `unsupported-by-destination`; `--clean` and `udso list` look at these types only.
pub const APEX_KINDS: [IocKind; 4] = [
    IocKind::Ip,
    IocKind::Domain,
    IocKind::Url,
    IocKind::FileSha1,
];
/// The brake engages above this many removals (and above half of what is owned).
pub const BRAKE_MIN_REMOVALS: usize = 10;

/// How the job wants its entries.
#[derive(Debug, Clone)]
pub struct Policy {
    pub tag: String,
    /// Only these types are planned; entries of other types are not looked at.
    pub types: BTreeSet<IocKind>,
    /// `None`: entries never expire.
    pub expiration_days: Option<u32>,
    pub preserve: bool,
    pub force: bool,
    pub capacity: usize,
    /// Owned entries to remove even under `preserve` (their IOC is excluded: see
    /// `policy`), as listed. They never count against capacity.
    pub withdrawn: HashSet<Ioc>,
}

/// Why an owned entry is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateReason {
    ScanAction,
    ExpirationPolicy,
    Renewal,
}

impl UpdateReason {
    pub fn describe(self) -> &'static str {
        match self {
            UpdateReason::ScanAction => "scan action changed",
            UpdateReason::ExpirationPolicy => "expiration policy changed",
            UpdateReason::Renewal => "expiry renewed",
        }
    }
}

/// What the brake held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brake {
    pub would_remove: usize,
    pub owned: usize,
}

/// The writes of one run, and what was left out and why.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub adds: Vec<UdsoWrite>,
    pub updates: Vec<(UdsoWrite, UpdateReason)>,
    pub removals: Vec<Ioc>,
    /// Owned entries already as desired.
    pub unchanged: usize,
    /// Owned entries no longer desired, kept by `preserve`.
    pub preserved: usize,
    /// Desired IOCs an entry without our tag already holds.
    pub skipped_foreign: Vec<Ioc>,
    /// Desired IOCs left out because the list is full (the oldest).
    pub skipped_capacity: Vec<Ioc>,
    /// Set when the brake held the removals back.
    pub brake: Option<Brake>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.updates.is_empty() && self.removals.is_empty()
    }
}

/// Plans the writes that make the entries `policy.tag` owns equal to `desired`.
pub fn plan(
    desired: &[Desired],
    listed: &[UdsoEntry],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Plan {
    let now = now.with_nanosecond_zero();
    let expiration = policy
        .expiration_days
        .map(|days| now + Duration::days(i64::from(days)));
    let mut plan = Plan::default();
    let mut owned_total = 0;
    for &kind in &policy.types {
        let mut owned: HashMap<&str, &UdsoEntry> = HashMap::new();
        let mut foreign: HashSet<&str> = HashSet::new();
        for entry in listed.iter().filter(|e| e.kind == kind.udso_type()) {
            if entry.owner_tag() == Some(policy.tag.as_str()) {
                owned.insert(&entry.content, entry);
            } else {
                foreign.insert(&entry.content);
            }
        }
        owned_total += owned.len();

        // One desired entry per content; the caller's set is deduplicated, this is a guard.
        let mut wanted: BTreeMap<&str, &Desired> = BTreeMap::new();
        for d in desired.iter().filter(|d| d.ioc.kind == kind) {
            if foreign.contains(d.ioc.value.as_str()) {
                plan.skipped_foreign.push(d.ioc.clone());
            } else {
                wanted
                    .entry(&d.ioc.value)
                    .and_modify(|w| {
                        if d.seen > w.seen {
                            *w = d;
                        }
                    })
                    .or_insert(d);
            }
        }
        let withdrawn = |content: &str| {
            policy.withdrawn.contains(&Ioc {
                kind,
                value: content.to_owned(),
            })
        };
        let preserved: Vec<&str> = if policy.preserve {
            owned
                .keys()
                .copied()
                .filter(|c| !wanted.contains_key(c) && !withdrawn(c))
                .collect()
        } else {
            Vec::new()
        };
        plan.preserved += preserved.len();

        // Newest first when capacity binds.
        let room = policy
            .capacity
            .saturating_sub(foreign.len() + preserved.len());
        let mut candidates: Vec<&Desired> = wanted.into_values().collect();
        candidates.sort_by(|a, b| b.seen.cmp(&a.seen).then_with(|| a.ioc.cmp(&b.ioc)));
        let overflow = candidates.split_off(room.min(candidates.len()));
        plan.skipped_capacity
            .extend(overflow.into_iter().map(|d| d.ioc.clone()));

        let kept: HashSet<&str> = candidates.iter().map(|d| d.ioc.value.as_str()).collect();
        for d in candidates {
            let write = UdsoWrite {
                kind,
                content: d.ioc.value.clone(),
                notes: make_notes(&policy.tag, &d.reason),
                scan_action: d.scan_action,
                expiration,
            };
            match owned.get(d.ioc.value.as_str()) {
                None => plan.adds.push(write),
                Some(entry) => {
                    match update_reason(entry, d.scan_action, policy.expiration_days, now) {
                        Some(reason) => plan.updates.push((write, reason)),
                        None => plan.unchanged += 1,
                    }
                }
            }
        }
        let mut gone: Vec<Ioc> = owned
            .keys()
            .filter(|c| !kept.contains(*c) && (!policy.preserve || withdrawn(c)))
            .map(|c| Ioc {
                kind,
                value: (*c).to_owned(),
            })
            .collect();
        gone.sort();
        plan.removals.extend(gone);
    }
    let removing = plan.removals.len();
    if !policy.force && removing > BRAKE_MIN_REMOVALS && removing * 2 > owned_total {
        plan.brake = Some(Brake {
            would_remove: removing,
            owned: owned_total,
        });
        plan.removals.clear();
    }
    plan
}

/// Whether an owned entry needs rewriting, and why.
fn update_reason(
    entry: &UdsoEntry,
    scan_action: ScanAction,
    expiration_days: Option<u32>,
    now: DateTime<Utc>,
) -> Option<UpdateReason> {
    if entry.scan_action != scan_action.as_str() {
        return Some(UpdateReason::ScanAction);
    }
    match (expiration_days, entry.expiration_utc_date) {
        (None, None) => None,
        (None, Some(_)) | (Some(_), None) => Some(UpdateReason::ExpirationPolicy),
        (Some(days), Some(expires)) => {
            let half = Duration::seconds(i64::from(days) * 86_400 / 2);
            (expires < now.naive_utc() + half).then_some(UpdateReason::Renewal)
        }
    }
}

trait NanosecondZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanosecondZero for DateTime<Utc> {
    /// Apex stores seconds; whole seconds keep a plan's dates equal to what is listed later.
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).expect("a valid time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Pulled;
    use proptest::prelude::*;

    /// The listed entries after a plan is applied, as the simulator or Apex would hold them:
    /// for tests of the planner's guarantees.
    fn apply_to_list(listed: &[UdsoEntry], plan: &Plan) -> Vec<UdsoEntry> {
        let mut by_key: BTreeMap<(String, String), UdsoEntry> = listed
            .iter()
            .map(|e| ((e.kind.clone(), e.content.clone()), e.clone()))
            .collect();
        for write in plan.adds.iter().chain(plan.updates.iter().map(|(w, _)| w)) {
            by_key.insert(
                (write.kind.udso_type().to_owned(), write.content.clone()),
                UdsoEntry {
                    kind: write.kind.udso_type().to_owned(),
                    content: write.content.clone(),
                    notes: write.notes.clone(),
                    scan_action: write.scan_action.as_str().to_owned(),
                    expiration_utc_date: write.expiration.map(|e| e.naive_utc()),
                },
            );
        }
        for ioc in &plan.removals {
            by_key.remove(&(ioc.kind.udso_type().to_owned(), ioc.value.clone()));
        }
        by_key.into_values().collect()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn policy() -> Policy {
        Policy {
            tag: "lumu".into(),
            types: IocKind::ALL.into_iter().collect(),
            expiration_days: Some(30),
            preserve: false,
            force: false,
            capacity: UDSO_CAPACITY,
            withdrawn: HashSet::new(),
        }
    }

    fn desired(kind: IocKind, value: &str, age_minutes: i64) -> Desired {
        Desired {
            ioc: Ioc::new(kind, value).unwrap(),
            scan_action: ScanAction::Block,
            reason: "C2C incident 1".into(),
            seen: now() - Duration::minutes(age_minutes),
        }
    }

    fn listed(
        kind: IocKind,
        content: &str,
        notes: &str,
        action: &str,
        expires_in_days: Option<i64>,
    ) -> UdsoEntry {
        UdsoEntry {
            kind: kind.udso_type().into(),
            content: content.into(),
            notes: notes.into(),
            scan_action: action.into(),
            expiration_utc_date: expires_in_days.map(|d| (now() + Duration::days(d)).naive_utc()),
        }
    }

    fn contents(iocs: &[Ioc]) -> Vec<&str> {
        iocs.iter().map(|i| i.value.as_str()).collect()
    }

    #[test]
    fn adds_what_is_not_listed_with_notes_and_expiration() {
        let p = plan(&[desired(IocKind::Ip, "1.2.3.4", 0)], &[], &policy(), now());
        assert_eq!(p.adds.len(), 1);
        let w = &p.adds[0];
        assert_eq!(w.notes, "apex-ioc-sync:lumu C2C incident 1");
        assert_eq!(w.scan_action, ScanAction::Block);
        assert_eq!(w.expiration, Some(now() + Duration::days(30)));
        assert!(p.updates.is_empty() && p.removals.is_empty() && p.brake.is_none());
    }

    #[test]
    fn an_unchanged_set_makes_no_writes() {
        let d = [
            desired(IocKind::Ip, "1.2.3.4", 0),
            desired(IocKind::Domain, "a.example", 0),
        ];
        let l = [
            listed(
                IocKind::Ip,
                "1.2.3.4",
                "apex-ioc-sync:lumu old reason",
                "block",
                Some(29),
            ),
            listed(
                IocKind::Domain,
                "a.example",
                "apex-ioc-sync:lumu",
                "block",
                Some(16),
            ),
        ];
        let p = plan(&d, &l, &policy(), now());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.unchanged, 2);
    }

    #[test]
    fn updates_for_scan_action_expiration_policy_and_renewal() {
        let d = [
            desired(IocKind::Ip, "1.1.1.1", 0),
            desired(IocKind::Ip, "2.2.2.2", 0),
            desired(IocKind::Ip, "3.3.3.3", 0),
        ];
        let l = [
            listed(
                IocKind::Ip,
                "1.1.1.1",
                "apex-ioc-sync:lumu",
                "log",
                Some(29),
            ),
            listed(IocKind::Ip, "2.2.2.2", "apex-ioc-sync:lumu", "block", None),
            listed(
                IocKind::Ip,
                "3.3.3.3",
                "apex-ioc-sync:lumu",
                "block",
                Some(14),
            ),
        ];
        let p = plan(&d, &l, &policy(), now());
        let reasons: Vec<(&str, UpdateReason)> = p
            .updates
            .iter()
            .map(|(w, r)| (w.content.as_str(), *r))
            .collect();
        assert_eq!(
            reasons,
            [
                ("1.1.1.1", UpdateReason::ScanAction),
                ("2.2.2.2", UpdateReason::ExpirationPolicy),
                ("3.3.3.3", UpdateReason::Renewal)
            ]
        );
        // With no expiration wanted, an entry that has one is updated to none.
        let never = Policy {
            expiration_days: None,
            ..policy()
        };
        let p = plan(
            &d[..1],
            &[listed(
                IocKind::Ip,
                "1.1.1.1",
                "apex-ioc-sync:lumu",
                "block",
                Some(10),
            )],
            &never,
            now(),
        );
        assert_eq!(p.updates[0].1, UpdateReason::ExpirationPolicy);
        assert_eq!(p.updates[0].0.expiration, None);
    }

    #[test]
    fn removes_owned_entries_no_longer_desired_unless_preserved() {
        let l = [
            listed(
                IocKind::Ip,
                "1.1.1.1",
                "apex-ioc-sync:lumu",
                "block",
                Some(20),
            ),
            listed(
                IocKind::Ip,
                "2.2.2.2",
                "apex-ioc-sync:lumu",
                "block",
                Some(20),
            ),
            listed(IocKind::Ip, "3.3.3.3", "manual", "block", None),
            listed(IocKind::Ip, "4.4.4.4", "apex-ioc-sync:taxii", "block", None),
        ];
        let d = [desired(IocKind::Ip, "1.1.1.1", 0)];
        let p = plan(&d, &l, &policy(), now());
        assert_eq!(contents(&p.removals), ["2.2.2.2"]);
        let p = plan(
            &d,
            &l,
            &Policy {
                preserve: true,
                ..policy()
            },
            now(),
        );
        assert!(p.removals.is_empty());
        assert_eq!(p.preserved, 1);
    }

    #[test]
    fn withdrawn_entries_go_even_when_preserved_and_free_their_room() {
        let owned = |v: &str| listed(IocKind::Ip, v, "apex-ioc-sync:lumu", "block", Some(20));
        let l = [
            owned("8.8.8.8"),
            owned("1.1.1.1"),
            listed(IocKind::Ip, "9.9.9.9", "manual", "block", None),
        ];
        let withdrawn: HashSet<Ioc> = [
            Ioc::new(IocKind::Ip, "8.8.8.8").unwrap(),
            // Not owned: never touched.
            Ioc::new(IocKind::Ip, "9.9.9.9").unwrap(),
        ]
        .into();
        let preserving = Policy {
            preserve: true,
            capacity: 3,
            withdrawn,
            ..policy()
        };
        let d = [
            desired(IocKind::Ip, "2.2.2.2", 0),
            desired(IocKind::Ip, "3.3.3.3", 1),
        ];
        let p = plan(&d, &l, &preserving, now());
        assert_eq!(contents(&p.removals), ["8.8.8.8"]);
        assert_eq!(p.preserved, 1);
        // Room: 3 less the foreign and the preserved entry; the withdrawn one takes none.
        assert_eq!(p.adds.len(), 1);
        assert_eq!(contents(&p.skipped_capacity), ["3.3.3.3"]);
    }

    #[test]
    fn foreign_entries_holding_a_desired_ioc_are_left_alone() {
        let l = [
            listed(
                IocKind::Domain,
                "evil.example",
                "blocked by the SOC",
                "log",
                None,
            ),
            listed(
                IocKind::Domain,
                "other.example",
                "apex-ioc-sync:taxii",
                "log",
                None,
            ),
        ];
        let d = [
            desired(IocKind::Domain, "evil.example", 0),
            desired(IocKind::Domain, "other.example", 0),
        ];
        let p = plan(&d, &l, &policy(), now());
        assert!(p.is_empty());
        assert_eq!(
            contents(&p.skipped_foreign),
            ["evil.example", "other.example"]
        );
    }

    #[test]
    fn capacity_keeps_the_newest_beside_foreign_entries() {
        let cap = Policy {
            capacity: 3,
            ..policy()
        };
        let l = [listed(IocKind::Ip, "9.9.9.9", "manual", "block", None)];
        let d = [
            desired(IocKind::Ip, "1.1.1.1", 30),
            desired(IocKind::Ip, "2.2.2.2", 10),
            desired(IocKind::Ip, "3.3.3.3", 20),
            desired(IocKind::Domain, "a.example", 99),
        ];
        let p = plan(&d, &l, &cap, now());
        let mut added: Vec<&str> = p.adds.iter().map(|w| w.content.as_str()).collect();
        added.sort();
        assert_eq!(added, ["2.2.2.2", "3.3.3.3", "a.example"]);
        assert_eq!(contents(&p.skipped_capacity), ["1.1.1.1"]);

        // An owned entry squeezed out by newer ones is removed.
        let l = [
            listed(IocKind::Ip, "9.9.9.9", "manual", "block", None),
            listed(
                IocKind::Ip,
                "1.1.1.1",
                "apex-ioc-sync:lumu",
                "block",
                Some(29),
            ),
        ];
        let p = plan(&d, &l, &cap, now());
        assert_eq!(contents(&p.removals), ["1.1.1.1"]);
    }

    #[test]
    fn the_brake_holds_large_removals_back_unless_forced() {
        let l: Vec<UdsoEntry> = (0..30)
            .map(|i| {
                listed(
                    IocKind::Ip,
                    &format!("10.0.0.{i}"),
                    "apex-ioc-sync:lumu",
                    "block",
                    Some(29),
                )
            })
            .collect();
        let keep: Vec<Desired> = (0..14)
            .map(|i| desired(IocKind::Ip, &format!("10.0.0.{i}"), 0))
            .collect();
        let p = plan(&keep, &l, &policy(), now());
        assert_eq!(
            p.brake,
            Some(Brake {
                would_remove: 16,
                owned: 30
            })
        );
        assert!(p.removals.is_empty());
        let p = plan(
            &keep,
            &l,
            &Policy {
                force: true,
                ..policy()
            },
            now(),
        );
        assert_eq!((p.removals.len(), p.brake.is_none()), (16, true));
        // Exactly half is allowed; and 10 or fewer removals never brake.
        let half: Vec<Desired> = (0..15)
            .map(|i| desired(IocKind::Ip, &format!("10.0.0.{i}"), 0))
            .collect();
        assert!(plan(&half, &l, &policy(), now()).brake.is_none());
        assert!(plan(&[], &l[..10], &policy(), now()).brake.is_none());
    }

    #[test]
    fn only_the_policy_types_are_planned() {
        let ip_only = Policy {
            types: [IocKind::Ip].into(),
            ..policy()
        };
        let l = [listed(
            IocKind::Url,
            "http://x.example/",
            "apex-ioc-sync:lumu",
            "block",
            None,
        )];
        let d = [
            desired(IocKind::Domain, "a.example", 0),
            desired(IocKind::Ip, "1.1.1.1", 0),
        ];
        let p = plan(&d, &l, &ip_only, now());
        assert_eq!(p.adds.len(), 1);
        assert!(p.removals.is_empty());
    }

    fn arb_entries() -> impl Strategy<Value = (Vec<Desired>, Vec<UdsoEntry>)> {
        // Small value spaces so desired and listed overlap often.
        let kind = prop::sample::select(vec![IocKind::Ip, IocKind::Domain]);
        let value = 0u8..12;
        let owner = prop::sample::select(vec![
            "apex-ioc-sync:lumu",
            "apex-ioc-sync:lumu x",
            "apex-ioc-sync:taxii",
            "manual",
            "",
        ]);
        let action = prop::sample::select(vec![ScanAction::Log, ScanAction::Block]);
        let expiry = prop::option::of(-5i64..40);
        let desired = prop::collection::vec(
            (kind.clone(), value.clone(), action.clone(), 0i64..100),
            0..20,
        );
        let listed = prop::collection::vec((kind, value, owner, action, expiry), 0..20);
        (desired, listed).prop_map(|(d, l)| {
            let content = |k: IocKind, v: u8| match k {
                IocKind::Ip => format!("10.0.0.{v}"),
                _ => format!("d{v}.example"),
            };
            let desired = d
                .into_iter()
                .map(|(k, v, a, age)| Desired {
                    ioc: Ioc::new(k, &content(k, v)).unwrap(),
                    scan_action: a,
                    reason: "r".into(),
                    seen: now() - Duration::minutes(age),
                })
                .collect();
            let mut seen = HashSet::new();
            let listed = l
                .into_iter()
                .filter(|(k, v, ..)| seen.insert((*k, *v)))
                .map(|(k, v, owner, a, exp)| UdsoEntry {
                    kind: k.udso_type().into(),
                    content: content(k, v),
                    notes: owner.into(),
                    scan_action: a.as_str().into(),
                    expiration_utc_date: exp.map(|d| (now() + Duration::days(d)).naive_utc()),
                })
                .collect();
            (desired, listed)
        })
    }

    proptest! {
        #[test]
        fn applying_a_plan_yields_the_desired_owned_set_and_spares_foreign_entries(
            (desired, listed) in arb_entries(),
            preserve in any::<bool>(),
        ) {
            let policy = Policy { preserve, force: true, ..policy() };
            let mut pulled = Pulled { iocs: desired, ..Pulled::default() };
            pulled.dedupe();
            let desired = pulled.iocs;
            let p = plan(&desired, &listed, &policy, now());
            let after = apply_to_list(&listed, &p);

            // Foreign entries are exactly as they were.
            let foreign = |l: &[UdsoEntry]| -> Vec<UdsoEntry> {
                let mut f: Vec<UdsoEntry> = l.iter().filter(|e| e.owner_tag() != Some("lumu")).cloned().collect();
                f.sort_by(|a, b| (&a.kind, &a.content).cmp(&(&b.kind, &b.content)));
                f
            };
            prop_assert_eq!(foreign(&after), foreign(&listed));

            // The owned set is the desired set minus what foreign entries hold
            // (plus what preserve keeps).
            let foreign_held: HashSet<(String, String)> = listed.iter()
                .filter(|e| e.owner_tag() != Some("lumu"))
                .map(|e| (e.kind.clone(), e.content.clone())).collect();
            let mut want: BTreeSet<(String, String)> = desired.iter()
                .map(|d| (d.ioc.kind.udso_type().to_owned(), d.ioc.value.clone()))
                .filter(|k| !foreign_held.contains(k))
                .collect();
            if preserve {
                want.extend(listed.iter().filter(|e| e.owner_tag() == Some("lumu")).map(|e| (e.kind.clone(), e.content.clone())));
            }
            let owned_after: BTreeSet<(String, String)> = after.iter()
                .filter(|e| e.owner_tag() == Some("lumu"))
                .map(|e| (e.kind.clone(), e.content.clone())).collect();
            prop_assert_eq!(owned_after, want);

            // Every desired entry we own now has the desired scan action.
            for e in after.iter().filter(|e| e.owner_tag() == Some("lumu")) {
                if let Some(d) = desired.iter().find(|d| d.ioc.value == e.content && d.ioc.kind.udso_type() == e.kind) {
                    prop_assert_eq!(e.scan_action.as_str(), d.scan_action.as_str());
                }
            }

            // A second plan against the result is empty: the sync converges in one run.
            let again = plan(&desired, &after, &policy, now());
            prop_assert!(again.is_empty(), "second plan not empty: {:?}", again);
        }

        #[test]
        fn capacity_is_never_exceeded_by_a_plan(
            (desired, listed) in arb_entries(),
            capacity in 0usize..8,
        ) {
            let policy = Policy { capacity, force: true, ..policy() };
            let p = plan(&desired, &listed, &policy, now());
            let after = apply_to_list(&listed, &p);
            for kind in [IocKind::Ip, IocKind::Domain] {
                let foreign = listed.iter().filter(|e| e.kind == kind.udso_type() && e.owner_tag() != Some("lumu")).count();
                let total = after.iter().filter(|e| e.kind == kind.udso_type()).count();
                prop_assert!(total <= capacity.max(foreign), "{kind}: {total} entries, capacity {capacity}");
            }
        }
    }
}
