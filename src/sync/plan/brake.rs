//! The brakes (DESIGN.md, Sync semantics): what holds a plan back unless `--force`.
//!
//! - the removal brake ([`Brake`]): a plan that would remove more than half of what the
//!   job owns (and more than [`BRAKE_MIN_REMOVALS`] entries), or anything at all while
//!   the desired set is empty, holds its removals back;
//! - the window brake ([`WindowBrake`]): the same rule against the most the job owned in
//!   the last [`BRAKE_WINDOW_HOURS`], so that a source shrinking a little each run cannot
//!   empty the list unnoticed;
//! - the add brake ([`AddBrake`]): a plan that would add more than [`Policy::max_adds`]
//!   entries and more than [`ADD_BRAKE_OWNED_FACTOR`] times what the job owns writes
//!   nothing at all.
//!
//! [`plan`](super::plan) engages them in that order, after planning every type.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Plan, Policy};
use crate::ioc::IocKind;
use crate::model::desired::Desired;

/// The brake engages above this many removals (and above half of what is owned).
pub const BRAKE_MIN_REMOVALS: usize = 10;

/// The add brake's default floor (`--max-adds`): a run may always add this many entries.
/// A feed that suddenly names more than the tag owns by far (a poisoned or broken feed, a
/// list of every domain) is held back whole; 5,000 is more than a day of Lumu incidents or
/// of Trend's feed, and half of one type's 10,000 entries on Apex.
pub const ADD_BRAKE_MIN_ADDS: usize = 5_000;

/// The add brake also lets a run add this many times what the tag owns: a job that owns
/// 4,000 entries may add 12,000.
pub const ADD_BRAKE_OWNED_FACTOR: usize = 3;

/// What the brake held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brake {
    pub would_remove: usize,
    pub owned: usize,
    /// The source gave no IOC of the chosen types: it engages for any number of removals.
    pub empty_source: bool,
}

/// What the add brake held back: the whole plan, adds, updates and removals (a feed that
/// suddenly names this much is not trusted for anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddBrake {
    /// Adds the plan would have made (after capacity).
    pub would_add: usize,
    /// Entries the tag owned, of the planned types.
    pub owned: usize,
    /// The most adds a run may make: the larger of [`Policy::max_adds`] and
    /// [`ADD_BRAKE_OWNED_FACTOR`] times `owned`.
    pub threshold: usize,
    /// Updates held back with the adds.
    pub would_update: usize,
    /// Removals held back with the adds (those the removal brake held back included).
    pub would_remove: usize,
}

/// The add brake: engaged (unless `policy.force`) when `plan` adds more than the larger of
/// `policy.max_adds` and [`ADD_BRAKE_OWNED_FACTOR`] times `owned`, the entries the tag
/// owns. A tag that owns nothing yet is held above `max_adds` like any other: the first run
/// of a feed that large says `--force` once (or raises `--max-adds`).
pub fn add_brake(plan: &Plan, owned: usize, policy: &Policy) -> Option<AddBrake> {
    let threshold = policy
        .max_adds
        .max(owned.saturating_mul(ADD_BRAKE_OWNED_FACTOR));
    // Removals another brake held back count too: the add brake holds them all.
    let held_removals = plan.brake.as_ref().map_or(0, |b| b.would_remove)
        + plan.window_brake.as_ref().map_or(0, |b| b.would_remove);
    (!policy.force && plan.adds.len() > threshold).then(|| AddBrake {
        would_add: plan.adds.len(),
        owned,
        threshold,
        would_update: plan.updates.len(),
        would_remove: plan.removals.len() + held_removals,
    })
}

/// The brake's rule: removing `removing` of `owned` entries is too many when it is more
/// than [`BRAKE_MIN_REMOVALS`] and more than half.
pub fn too_many_removals(removing: usize, owned: usize) -> bool {
    removing > BRAKE_MIN_REMOVALS && removing * 2 > owned
}

// ---- The window brake -----------------------------------------------------------------
//
// The removal brake is per run: a source that shrinks by 49% a run empties the list in a few
// runs without ever engaging it. The window brake compares what would remain owned after a
// run's removals with the most the job owned on the same destination within the last
// [`BRAKE_WINDOW_HOURS`] (the journal's per-run owned counts, see `state::journal`), by the
// same rule: more than half gone, and more than BRAKE_MIN_REMOVALS entries. `--force` lifts
// it, and a forced run starts the window afresh.

/// How far back the window brake looks.
pub const BRAKE_WINDOW_HOURS: i64 = 24;

/// What the window brake held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowBrake {
    pub would_remove: usize,
    /// Owned entries that would remain after the removals.
    pub would_remain: usize,
    /// The most the job owned within the window (this run's listing included).
    pub peak: usize,
    pub window_hours: i64,
}

/// The most entries of `types` one of `owned` (per-type counts, one per run listing)
/// holds: the window's peak for the types planned now.
pub fn owned_peak(owned: &[BTreeMap<IocKind, usize>], types: &BTreeSet<IocKind>) -> usize {
    owned
        .iter()
        .map(|counts| types.iter().filter_map(|k| counts.get(k)).sum())
        .max()
        .unwrap_or(0)
}

/// The window brake for a run that would remove `removing` of the `owned` entries it owns
/// now, against the window's `peak` (`None`: no history): `Some` when it engages (not
/// forced, something to remove, and more than half of the peak gone by more than
/// [`BRAKE_MIN_REMOVALS`]).
pub fn window_brake_for(
    removing: usize,
    owned: usize,
    peak: Option<usize>,
    force: bool,
) -> Option<WindowBrake> {
    let peak = peak?.max(owned);
    let would_remain = owned.saturating_sub(removing);
    let gone = peak - would_remain;
    (!force && removing > 0 && too_many_removals(gone, peak)).then_some(WindowBrake {
        would_remove: removing,
        would_remain,
        peak,
        window_hours: BRAKE_WINDOW_HOURS,
    })
}

/// The removal brake: holds `plan`'s removals back (unless forced) when they are too many
/// of the `owned_total` entries the job owns ([`too_many_removals`]), or when the source
/// gave no IOC of the planned types at all.
pub(super) fn engage_removal_brake(
    plan: &mut Plan,
    desired: &[Desired],
    owned_total: usize,
    policy: &Policy,
) {
    let removing = plan.removals.len();
    let empty_source = !desired.iter().any(|d| policy.types.contains(&d.ioc.kind));
    let too_many = too_many_removals(removing, owned_total);
    if !policy.force && removing > 0 && (empty_source || too_many) {
        plan.brake = Some(Brake {
            would_remove: removing,
            owned: owned_total,
            empty_source,
        });
        plan.removals.clear();
    }
}

/// Holds `plan`'s removals back when the window brake engages (the per-run brake, when it
/// did, has held them back already).
pub(super) fn engage_window_brake(plan: &mut Plan, owned_total: usize, policy: &Policy) {
    if plan.brake.is_some() {
        return;
    }
    plan.window_brake = window_brake_for(
        plan.removals.len(),
        owned_total,
        policy.owned_peak,
        policy.force,
    );
    if plan.window_brake.is_some() {
        plan.removals.clear();
    }
}

/// Holds the whole of `plan` back, adds, updates and removals, when the add brake engages
/// ([`add_brake`]).
pub(super) fn engage_add_brake(plan: &mut Plan, owned_total: usize, policy: &Policy) {
    plan.add_brake = add_brake(plan, owned_total, policy);
    if plan.add_brake.is_some() {
        plan.adds.clear();
        plan.updates.clear();
        plan.removals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apex::udso::UdsoEntry;
    use crate::sync::plan::tests::{desired, listed, now, plan, policy, removed};

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
                owned: 30,
                empty_source: false
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
        let one_kept = [desired(IocKind::Ip, "10.0.0.0", 0)];
        assert!(plan(&one_kept, &l[..10], &policy(), now()).brake.is_none());
    }

    /// The case the add brake is for: a job that owns 1,000 entries, and a feed that
    /// suddenly names 50,000 IOCs. Nothing is written: no add, no update, no removal.
    #[test]
    fn the_add_brake_holds_a_poisoned_feed_whole_unless_forced() {
        let name = |i: usize| format!("c2-{i}.example");
        // Owned, expiring in 1 day: each still desired is renewed (an update).
        let l: Vec<UdsoEntry> = (0..1_000)
            .map(|i| {
                listed(
                    IocKind::Domain,
                    &name(i),
                    "apex-ioc-sync:lumu",
                    "block",
                    Some(1),
                )
            })
            .collect();
        // 600 of them still named (400 removals, below the removal brake), 49,400 new
        // (older, so the newest kept on a full list are the 600 first).
        let d: Vec<Desired> = (400..50_000)
            .map(|i| desired(IocKind::Domain, &name(i), if i < 1_000 { 0 } else { 10 }))
            .collect();
        let p = plan(&d, &l, &policy(), now());
        assert_eq!(
            p.add_brake,
            Some(AddBrake {
                // The list holds 10,000 domains: 600 kept, 9,400 room.
                would_add: 9_400,
                owned: 1_000,
                threshold: ADD_BRAKE_MIN_ADDS,
                would_update: 600,
                would_remove: 400,
            })
        );
        assert!(p.adds.is_empty() && p.updates.is_empty() && p.removals.is_empty());
        assert!(p.brake.is_none());
        let forced = Policy {
            force: true,
            ..policy()
        };
        let p = plan(&d, &l, &forced, now());
        assert_eq!(
            (p.adds.len(), p.updates.len(), p.removals.len()),
            (9_400, 600, 400)
        );
        assert!(p.add_brake.is_none());
    }

    /// The threshold is the larger of `max_adds` and 3 times what is owned; a tag that owns
    /// nothing yet is held above `max_adds`.
    #[test]
    fn the_add_brake_threshold_is_the_larger_of_the_floor_and_three_times_owned() {
        let ip = |i: usize| format!("198.18.{}.{}", i / 256, i % 256);
        let owned = |n: usize| -> Vec<UdsoEntry> {
            (0..n)
                .map(|i| listed(IocKind::Ip, &ip(i), "apex-ioc-sync:lumu", "block", Some(29)))
                .collect()
        };
        // Every owned IOC still desired, and `adds` new ones.
        let desired_with = |owned: usize, adds: usize| -> Vec<Desired> {
            (0..owned + adds)
                .map(|i| desired(IocKind::Ip, &ip(i), 0))
                .collect()
        };
        let floor = |max_adds: usize| Policy {
            max_adds,
            ..policy()
        };
        let braked = |owned_n: usize, adds: usize, max_adds: usize| {
            plan(
                &desired_with(owned_n, adds),
                &owned(owned_n),
                &floor(max_adds),
                now(),
            )
            .add_brake
            .map(|b| b.threshold)
        };
        // 4 owned: max(10, 12) = 12.
        assert_eq!(braked(4, 12, 10), None);
        assert_eq!(braked(4, 13, 10), Some(12));
        // 2 owned: max(10, 6) = 10.
        assert_eq!(braked(2, 10, 10), None);
        assert_eq!(braked(2, 11, 10), Some(10));
        // A first run: nothing owned, held above the floor alone.
        assert_eq!(braked(0, 10, 10), None);
        assert_eq!(braked(0, 11, 10), Some(10));
        assert_eq!(braked(0, 1, 0), Some(0));
        // The default floor.
        assert_eq!(braked(0, ADD_BRAKE_MIN_ADDS, ADD_BRAKE_MIN_ADDS), None);
        assert_eq!(
            braked(0, ADD_BRAKE_MIN_ADDS + 1, ADD_BRAKE_MIN_ADDS),
            Some(ADD_BRAKE_MIN_ADDS)
        );
    }

    /// Both brakes at once: the removals the removal brake held count among what the add
    /// brake held.
    #[test]
    fn the_add_brake_counts_removals_the_removal_brake_held() {
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
        // None of the 30 owned, and 100 new: 30 removals (braked) and 100 adds (braked).
        let d: Vec<Desired> = (0..100)
            .map(|i| desired(IocKind::Ip, &format!("10.1.0.{i}"), 0))
            .collect();
        let p = plan(
            &d,
            &l,
            &Policy {
                max_adds: 10,
                ..policy()
            },
            now(),
        );
        assert_eq!(p.brake.as_ref().map(|b| b.would_remove), Some(30));
        assert_eq!(
            p.add_brake
                .as_ref()
                .map(|b| (b.would_add, b.threshold, b.would_remove)),
            Some((100, 90, 30))
        );
        assert!(p.is_empty());
    }

    #[test]
    fn an_empty_source_removes_nothing_unless_forced_however_few_are_owned() {
        let l = [listed(
            IocKind::Ip,
            "10.0.0.1",
            "apex-ioc-sync:lumu",
            "block",
            Some(29),
        )];
        let p = plan(&[], &l, &policy(), now());
        assert_eq!(
            p.brake,
            Some(Brake {
                would_remove: 1,
                owned: 1,
                empty_source: true
            })
        );
        assert!(p.removals.is_empty());
        // IOCs of other types only are no IOCs of the chosen types.
        let ip_only = Policy {
            types: [IocKind::Ip].into(),
            ..policy()
        };
        let other = [desired(IocKind::Domain, "a.example", 0)];
        assert!(plan(&other, &l, &ip_only, now()).brake.is_some());
        let forced = Policy {
            force: true,
            ..policy()
        };
        assert_eq!(
            removed(&plan(&[], &l, &forced, now()).removals),
            ["10.0.0.1"]
        );
        // Nothing owned, nothing to hold back.
        assert!(plan(&[], &[], &policy(), now()).brake.is_none());
    }
}

/// The window brake (see its section above).
#[cfg(test)]
mod window_tests {
    use std::collections::HashSet;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::ioc::Ioc;
    use crate::model::{Listed, ScanAction, make_notes};
    use crate::sync::plan::plan;

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn policy(owned_peak: Option<usize>, force: bool) -> Policy {
        Policy {
            tag: "lumu".into(),
            types: BTreeSet::from([IocKind::Domain]),
            expiration_days: None,
            preserve: false,
            force,
            capacity: 10_000,
            withdrawn: HashSet::new(),
            owned_peak,
            max_adds: ADD_BRAKE_MIN_ADDS,
        }
    }

    fn domain(n: usize) -> String {
        format!("d{n}.example")
    }

    /// `n` owned domains, as listed.
    fn owned(n: usize) -> Vec<Listed> {
        (0..n)
            .map(|i| Listed {
                kind: IocKind::Domain,
                raw: domain(i),
                ioc: Some(Ioc::new(IocKind::Domain, &domain(i)).unwrap()),
                notes: make_notes("lumu", "x"),
                scan_action: "block".into(),
                expires: None,
                settings_differ: false,
            })
            .collect()
    }

    fn desired(n: usize) -> Vec<Desired> {
        (0..n)
            .map(|i| Desired {
                ioc: Ioc::new(IocKind::Domain, &domain(i)).unwrap(),
                scan_action: ScanAction::Block,
                reason: "x".into(),
                seen: now(),
            })
            .collect()
    }

    /// A source shrinking by 40% a run: 100, 60, 36. Each run on its own is under the
    /// per-run brake; the third is braked by the window (36 of a peak of 100 would remain).
    #[test]
    fn a_source_shrinking_by_40_percent_a_run_is_braked_on_the_third_run() {
        let mut history: Vec<BTreeMap<IocKind, usize>> = Vec::new();
        let types = BTreeSet::from([IocKind::Domain]);
        let mut on_list = 100;
        for (run, wanted) in [(1, 60), (2, 36)] {
            history.push(BTreeMap::from([(IocKind::Domain, on_list)]));
            let peak = owned_peak(&history, &types);
            let p = plan(
                &desired(wanted),
                &owned(on_list),
                &policy(Some(peak), false),
                now(),
            );
            assert_eq!(p.brake, None, "run {run}: the per-run brake stays off");
            if run == 1 {
                assert_eq!(p.window_brake, None);
                assert_eq!(p.removals.len(), 40);
                on_list = wanted;
            } else {
                assert_eq!(
                    p.window_brake,
                    Some(WindowBrake {
                        would_remove: 24,
                        would_remain: 36,
                        peak: 100,
                        window_hours: 24
                    })
                );
                assert!(p.removals.is_empty(), "nothing removed");
                // --force lifts it.
                let forced = plan(
                    &desired(wanted),
                    &owned(on_list),
                    &policy(Some(peak), true),
                    now(),
                );
                assert_eq!((forced.window_brake, forced.removals.len()), (None, 24));
            }
        }
    }

    #[test]
    fn the_window_brake_takes_the_rule_of_the_per_run_brake() {
        // No history: off.
        assert_eq!(window_brake_for(50, 60, None, false), None);
        // Nothing to remove: off, however little is owned against the peak.
        assert_eq!(window_brake_for(0, 10, Some(100), false), None);
        // 10 of a peak of 15 gone: more than half, but not more than 10 entries.
        assert_eq!(window_brake_for(4, 9, Some(15), false), None);
        // Exactly half of 100 gone: not more than half.
        assert_eq!(window_brake_for(10, 60, Some(100), false), None);
        assert!(window_brake_for(11, 60, Some(100), false).is_some());
        // This run's listing counts toward the peak.
        assert_eq!(window_brake_for(11, 30, Some(0), false), None);
        assert_eq!(
            window_brake_for(11, 20, Some(0), false).map(|b| b.peak),
            Some(20)
        );
        assert_eq!(window_brake_for(11, 60, Some(100), true), None, "--force");
        // The peak is of the types planned now.
        let history = [BTreeMap::from([(IocKind::Domain, 70), (IocKind::Url, 500)])];
        assert_eq!(owned_peak(&history, &BTreeSet::from([IocKind::Domain])), 70);
        assert_eq!(owned_peak(&[], &BTreeSet::from([IocKind::Domain])), 0);
    }

    /// When the per-run brake engages it says so; the window brake does not add a second.
    #[test]
    fn the_per_run_brake_comes_first() {
        let p = plan(&desired(10), &owned(100), &policy(Some(200), false), now());
        assert!(p.brake.is_some());
        assert_eq!(p.window_brake, None);
    }
}
