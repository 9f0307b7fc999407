//! The planner: a pure function of the desired IOCs, the entries a destination listed
//! ([`Listed`], destination-neutral), the policy and the time, returning the writes that make
//! this job's entries equal to the desired set.
//!
//! Both sides are compared by the IOC's normal form (`ioc.rs`), never by spelling: a listed
//! `Evil.Example.` holds the IOC `evil.example` (the sink reads each entry's kind and normal
//! form: an Apex entry listed as `type: "file"` holds a `file_sha1` IOC). A write names the
//! entry by its content exactly as listed, so an update or a delete lands on that very entry
//! whether the destination matches content byte for byte or case-insensitively.
//!
//! Rules (DESIGN.md, Sync semantics):
//! - add what is desired and not listed at all, in any spelling;
//! - update owned entries whose scan action or expiration policy differs, whose
//!   expiration is less than half the period away, or whose destination settings differ
//!   (Vision One's risk level);
//! - remove owned entries that are no longer desired, unless `preserve` (entries whose IOC
//!   is `withdrawn`, now excluded, go even then, and take no room); of two owned
//!   entries holding one IOC in different spellings, keep the one in normal form (else the
//!   first) and remove the other;
//! - never touch an entry without this job's tag; a desired IOC that such an entry already
//!   holds, in any spelling, is skipped (foreign), and foreign entries count toward capacity;
//! - leave alone (never write) an owned entry whose content does not normalise (this tool
//!   never writes such content, so it did not come from this job as it is: someone copied
//!   the tag, or an older version wrote it), and an owned entry whose IOC a foreign entry
//!   also holds in another spelling (on a server that matches content case-insensitively,
//!   a write could land on the foreign entry); both still count toward capacity;
//! - when the desired set does not fit beside what stays, keep the newest;
//! - a plan that would remove more than half of what the job owns (and more than 10
//!   entries), or anything at all while the desired set is empty, holds its removals back
//!   unless forced (the brake);
//! - a plan that would add more than [`Policy::max_adds`] entries and more than
//!   [`ADD_BRAKE_OWNED_FACTOR`] times what the job owns writes nothing at all unless
//!   forced (the add brake, [`add_brake`]);
//! - a plan that would leave less than half of the most the job owned in the last
//!   24 hours (by more than 10 entries) holds its removals back unless forced (the window brake, [`window_brake_for`]), so that a
//!   source shrinking a little each run cannot empty the list unnoticed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::ioc::{Ioc, IocKind};
use crate::model::desired::Desired;
use crate::model::{Listed, Put, ScanAction, make_notes};

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

/// Why an owned entry is left alone (see the module's rules), as counted in
/// [`Plan::untouched`].
pub mod untouched {
    /// Its content does not normalise (or its type is not one this tool knows).
    pub const UNREADABLE: &str = "unreadable";
    /// An entry without this job's tag holds the same IOC in another spelling.
    pub const SHARED: &str = "shared";
}

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
    /// Entries each type's list holds at most (the destination's, see
    /// [`crate::sink::Sink::capacity_per_kind`]).
    pub capacity: usize,
    /// IOCs (in normal form) whose owned entries go even under `preserve`: an exclusion
    /// list now matches them (see `policy`). Those entries never count against capacity.
    pub withdrawn: HashSet<Ioc>,
    /// The add brake's floor (`--max-adds`, default [`ADD_BRAKE_MIN_ADDS`]): a plan may add
    /// this many entries, or [`ADD_BRAKE_OWNED_FACTOR`] times what the tag owns if that is
    /// more, before the brake holds it (unless `force`).
    pub max_adds: usize,
    /// The most entries of the planned types the job owned on this destination within the
    /// window brake's window ([`owned_peak`]); `None`: no history (the window brake is off).
    pub owned_peak: Option<usize>,
}

/// Why an owned entry is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateReason {
    ScanAction,
    ExpirationPolicy,
    Renewal,
    /// A setting of the destination's own ([`Listed::settings_differ`]).
    DestinationSettings,
}

impl UpdateReason {
    pub fn describe(self) -> &'static str {
        match self {
            UpdateReason::ScanAction => "scan action changed",
            UpdateReason::ExpirationPolicy => "expiration policy changed",
            UpdateReason::Renewal => "expiry renewed",
            UpdateReason::DestinationSettings => "destination settings changed (risk level)",
        }
    }
}

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

/// An owned entry to delete, named by its content exactly as listed (the DELETE must match
/// that entry, not the IOC's normal form).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Removal {
    pub kind: IocKind,
    /// As listed.
    pub content: String,
}

/// The writes of one run, and what was left out and why.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub adds: Vec<Put>,
    pub updates: Vec<(Put, UpdateReason)>,
    pub removals: Vec<Removal>,
    /// Owned entries already as desired.
    pub unchanged: usize,
    /// Owned entries no longer desired, kept by `preserve`.
    pub preserved: usize,
    /// Owned entries left alone whatever the source says, by reason ([`untouched`]).
    pub untouched: BTreeMap<&'static str, usize>,
    /// Desired IOCs an entry without our tag already holds (in any spelling).
    pub skipped_foreign: Vec<Ioc>,
    /// Desired IOCs left out because the list is full (the oldest).
    pub skipped_capacity: Vec<Ioc>,
    /// Set when the brake held the removals back.
    pub brake: Option<Brake>,
    /// Set when the add brake held the whole plan back.
    pub add_brake: Option<AddBrake>,
    /// Set when the window brake held the removals back.
    pub window_brake: Option<WindowBrake>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.updates.is_empty() && self.removals.is_empty()
    }
}

/// The owned entries holding one IOC: the one writes go to, and other spellings of it.
struct Held<'a> {
    primary: &'a Listed,
    others: Vec<&'a Listed>,
}

/// Plans the writes that make the entries `policy.tag` owns equal to `desired`.
pub fn plan(desired: &[Desired], listed: &[Listed], policy: &Policy, now: DateTime<Utc>) -> Plan {
    let now = now.with_nanosecond_zero();
    let expiration = policy
        .expiration_days
        .map(|days| now + Duration::days(i64::from(days)));
    let mut plan = Plan::default();
    let mut owned_total = 0;
    let mut untouched: BTreeMap<&'static str, usize> = BTreeMap::new();
    for &kind in &policy.types {
        // Both sides by normal form.
        let mut foreign_entries = 0;
        let mut foreign: HashSet<String> = HashSet::new();
        let mut owned: BTreeMap<String, Vec<&Listed>> = BTreeMap::new();
        let mut unreadable = 0;
        for entry in listed.iter().filter(|e| e.kind == kind) {
            let ioc = entry.ioc.clone();
            if entry.owner_tag() == Some(policy.tag.as_str()) {
                owned_total += 1;
                match ioc {
                    Some(ioc) => owned.entry(ioc.value).or_default().push(entry),
                    None => unreadable += 1,
                }
            } else {
                foreign_entries += 1;
                if let Some(ioc) = ioc {
                    foreign.insert(ioc.value);
                }
            }
        }
        // Owned entries whose IOC a foreign entry also holds are never written.
        let mut shared = 0;
        owned.retain(|value, entries| {
            let keep = !foreign.contains(value);
            if !keep {
                shared += entries.len();
            }
            keep
        });
        if unreadable > 0 {
            *untouched.entry(untouched::UNREADABLE).or_default() += unreadable;
        }
        if shared > 0 {
            *untouched.entry(untouched::SHARED).or_default() += shared;
        }
        let held: BTreeMap<String, Held> = owned
            .into_iter()
            .map(|(value, mut entries)| {
                // The entry in normal form, else the first by content, takes the writes.
                entries.sort_by(|a, b| (a.raw != value, &a.raw).cmp(&(b.raw != value, &b.raw)));
                let primary = entries.remove(0);
                (
                    value,
                    Held {
                        primary,
                        others: entries,
                    },
                )
            })
            .collect();

        // One desired entry per IOC; the caller's set is deduplicated, this is a guard.
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

        // What stays whatever is kept: foreign and untouched entries, and with `preserve`
        // every owned entry. The rest of the capacity goes to the newest desired IOCs.
        let withdrawn = |value: &str| {
            policy.withdrawn.contains(&Ioc {
                kind,
                value: value.to_owned(),
            })
        };
        let mut stays = foreign_entries + unreadable + shared;
        if policy.preserve {
            let kept_by_preserve = || held.iter().filter(|(value, _)| !withdrawn(value));
            stays += kept_by_preserve()
                .map(|(_, h)| 1 + h.others.len())
                .sum::<usize>();
            plan.preserved += kept_by_preserve()
                .filter(|(value, _)| !wanted.contains_key(value.as_str()))
                .map(|(_, h)| 1 + h.others.len())
                .sum::<usize>();
        }
        let mut room = policy.capacity.saturating_sub(stays);
        let mut candidates: Vec<&Desired> = wanted.into_values().collect();
        candidates.sort_by(|a, b| b.seen.cmp(&a.seen).then_with(|| a.ioc.cmp(&b.ioc)));
        let mut kept: HashSet<&str> = HashSet::new();
        let mut full = false;
        for d in candidates {
            let existing = held.get(&d.ioc.value);
            // An owned entry kept by `preserve` already has its place.
            let costs_room = !(policy.preserve && existing.is_some());
            if costs_room {
                if full || room == 0 {
                    full = true;
                    plan.skipped_capacity.push(d.ioc.clone());
                    continue;
                }
                room -= 1;
            }
            kept.insert(&d.ioc.value);
            match existing {
                None => plan.adds.push(Put {
                    kind,
                    content: d.ioc.value.clone(),
                    notes: make_notes(&policy.tag, &d.reason),
                    scan_action: d.scan_action,
                    expiration,
                }),
                Some(held) => {
                    // Other spellings are removed below, or with `preserve` kept as they
                    // are and so kept up to date too.
                    let others = if policy.preserve {
                        &held.others[..]
                    } else {
                        &[]
                    };
                    for entry in std::iter::once(held.primary).chain(others.iter().copied()) {
                        match update_reason(entry, d.scan_action, policy.expiration_days, now) {
                            // The listed spelling, so the write lands on that entry.
                            Some(reason) => plan.updates.push((
                                Put {
                                    kind,
                                    content: entry.raw.clone(),
                                    notes: make_notes(&policy.tag, &d.reason),
                                    scan_action: d.scan_action,
                                    expiration,
                                },
                                reason,
                            )),
                            None => plan.unchanged += 1,
                        }
                    }
                }
            }
        }
        {
            let mut gone: Vec<Removal> = Vec::new();
            for (value, held) in &held {
                if policy.preserve && !withdrawn(value) {
                    continue;
                }
                let entries: Vec<&Listed> = if kept.contains(value.as_str()) {
                    held.others.clone()
                } else {
                    std::iter::once(held.primary)
                        .chain(held.others.iter().copied())
                        .collect()
                };
                gone.extend(entries.into_iter().map(|e| Removal {
                    kind,
                    content: e.raw.clone(),
                }));
            }
            gone.sort();
            plan.removals.extend(gone);
        }
    }
    plan.untouched = untouched;
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
    window_brake(&mut plan, owned_total, policy);
    plan.add_brake = add_brake(&plan, owned_total, policy);
    if plan.add_brake.is_some() {
        plan.adds.clear();
        plan.updates.clear();
        plan.removals.clear();
    }
    plan
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

/// Whether an owned entry needs rewriting, and why.
fn update_reason(
    entry: &Listed,
    scan_action: ScanAction,
    expiration_days: Option<u32>,
    now: DateTime<Utc>,
) -> Option<UpdateReason> {
    if entry.scan_action != scan_action.as_str() {
        return Some(UpdateReason::ScanAction);
    }
    let expiry = match (expiration_days, entry.expires) {
        (None, None) => None,
        (None, Some(_)) | (Some(_), None) => Some(UpdateReason::ExpirationPolicy),
        (Some(days), Some(expires)) => {
            let half = Duration::seconds(i64::from(days) * 86_400 / 2);
            (expires < now + half).then_some(UpdateReason::Renewal)
        }
    };
    expiry.or(entry
        .settings_differ
        .then_some(UpdateReason::DestinationSettings))
}

// ---- The window brake -----------------------------------------------------------------
//
// The brake above is per run: a source that shrinks by 49% a run empties the list in a few
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

/// Holds `plan`'s removals back when the window brake engages (the per-run brake, when it
/// did, has held them back already).
fn window_brake(plan: &mut Plan, owned_total: usize, policy: &Policy) {
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

trait NanosecondZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl NanosecondZero for DateTime<Utc> {
    /// Destinations store seconds; whole seconds keep a plan's dates equal to what is
    /// listed later.
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).expect("a valid time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apex::udso::UdsoEntry;
    use crate::model::desired::Pulled;
    use crate::sink::apex::{UDSO_CAPACITY, listed_entries};
    use proptest::prelude::*;

    /// The planner on entries as Apex lists them, read the way the Apex sink reads them
    /// (kinds from `type`, `file` as `file_sha1`, unknown types left out).
    fn plan(
        desired: &[Desired],
        listed: &[UdsoEntry],
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Plan {
        super::plan(desired, &listed_entries(listed.to_vec()), policy, now)
    }

    /// The listed entries after a plan is applied, as Apex would hold them: matching
    /// content byte for byte, or (`case_insensitive`) ignoring case, as a server with a
    /// case-insensitive collation does, where a put updates the entry it matches (keeping
    /// that entry's content) and a delete removes it. For tests of the planner's guarantees.
    fn apply_to_list(listed: &[UdsoEntry], plan: &Plan, case_insensitive: bool) -> Vec<UdsoEntry> {
        let mut after: Vec<UdsoEntry> = listed.to_vec();
        let matches = |e: &UdsoEntry, kind: IocKind, content: &str| {
            e.ioc_kind() == Some(kind)
                && if case_insensitive {
                    e.content.to_lowercase() == content.to_lowercase()
                } else {
                    e.content == content
                }
        };
        for write in plan.adds.iter().chain(plan.updates.iter().map(|(w, _)| w)) {
            let written = |content: String| UdsoEntry {
                kind: write.kind.udso_type().to_owned(),
                content,
                notes: write.notes.clone(),
                scan_action: write.scan_action.as_str().to_owned(),
                expiration_utc_date: write.expiration.map(|e| e.naive_utc()),
            };
            match after
                .iter_mut()
                .find(|e| matches(e, write.kind, &write.content))
            {
                Some(e) => *e = written(e.content.clone()),
                None => after.push(written(write.content.clone())),
            }
        }
        for removal in &plan.removals {
            if let Some(i) = after
                .iter()
                .position(|e| matches(e, removal.kind, &removal.content))
            {
                after.remove(i);
            }
        }
        after
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
            max_adds: ADD_BRAKE_MIN_ADDS,
            owned_peak: None,
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

    fn removed(removals: &[Removal]) -> Vec<&str> {
        removals.iter().map(|r| r.content.as_str()).collect()
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
        assert_eq!(removed(&p.removals), ["8.8.8.8"]);
        assert_eq!(p.preserved, 1);
        // Room: 3 less the foreign and the preserved entry; the withdrawn one takes none.
        assert_eq!(p.adds.len(), 1);
        assert_eq!(contents(&p.skipped_capacity), ["3.3.3.3"]);
    }

    #[test]
    fn a_withdrawn_ioc_goes_in_every_listed_spelling() {
        let owned = |v: &str| listed(IocKind::Domain, v, "apex-ioc-sync:lumu", "block", Some(20));
        let l = [
            owned("Evil.Example."),
            owned("evil.example"),
            owned("kept.example"),
        ];
        let preserving = Policy {
            preserve: true,
            withdrawn: [Ioc::new(IocKind::Domain, "evil.example").unwrap()].into(),
            ..policy()
        };
        let p = plan(&[], &l, &preserving, now());
        // The brake holds removals back on an empty source; forced, both spellings go.
        assert!(p.brake.is_some());
        let p = plan(
            &[],
            &l,
            &Policy {
                force: true,
                ..preserving
            },
            now(),
        );
        assert_eq!(removed(&p.removals), ["Evil.Example.", "evil.example"]);
        assert_eq!(p.preserved, 1);
    }

    #[test]
    fn owned_entries_whose_destination_settings_differ_are_rewritten() {
        let record = |notes: &str| Listed {
            kind: IocKind::Domain,
            raw: "a.example".into(),
            ioc: Ioc::new(IocKind::Domain, "a.example").ok(),
            notes: notes.into(),
            scan_action: "block".into(),
            expires: Some(now() + Duration::days(29)),
            settings_differ: true,
        };
        let d = [desired(IocKind::Domain, "a.example", 0)];
        let p = super::plan(&d, &[record("apex-ioc-sync:lumu")], &policy(), now());
        assert_eq!(p.updates.len(), 1);
        assert_eq!(p.updates[0].1, UpdateReason::DestinationSettings);
        assert_eq!(p.updates[0].0.content, "a.example");
        // Never someone else's.
        let p = super::plan(&d, &[record("by hand")], &policy(), now());
        assert!(p.is_empty() && p.skipped_foreign.len() == 1, "{p:?}");
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
        assert_eq!(removed(&p.removals), ["2.2.2.2"]);
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
        assert_eq!(removed(&p.removals), ["1.1.1.1"]);
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

    #[test]
    fn a_foreign_entry_holds_the_ioc_in_any_spelling() {
        let l = [
            listed(IocKind::Domain, "Evil.Example.", "by hand", "log", None),
            listed(
                IocKind::Url,
                "HTTP://Evil.Example/Path",
                "by hand",
                "log",
                None,
            ),
        ];
        let d = [
            desired(IocKind::Domain, "evil.example", 0),
            desired(IocKind::Url, "http://evil.example/Path", 0),
        ];
        let p = plan(&d, &l, &policy(), now());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            contents(&p.skipped_foreign),
            ["evil.example", "http://evil.example/Path"]
        );
    }

    #[test]
    fn an_owned_entry_in_another_spelling_is_ours_and_written_as_listed() {
        let l = [listed(
            IocKind::Domain,
            "EVIL.Example",
            "apex-ioc-sync:lumu",
            "log",
            Some(29),
        )];
        let d = [desired(IocKind::Domain, "evil.example", 0)];
        let p = plan(&d, &l, &policy(), now());
        assert!(p.adds.is_empty() && p.removals.is_empty());
        assert_eq!(p.updates.len(), 1);
        assert_eq!(p.updates[0].0.content, "EVIL.Example");
        assert_eq!(p.updates[0].1, UpdateReason::ScanAction);
        // Not desired any more: removed by its listed content.
        let p = plan(
            &[desired(IocKind::Domain, "x.example", 0)],
            &l,
            &policy(),
            now(),
        );
        assert_eq!(removed(&p.removals), ["EVIL.Example"]);
    }

    #[test]
    fn entries_listed_as_file_are_file_sha1() {
        let upper = "73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531";
        let mut e = listed(
            IocKind::FileSha1,
            upper,
            "apex-ioc-sync:lumu",
            "block",
            Some(29),
        );
        e.kind = "file".into();
        let d = [desired(IocKind::FileSha1, &upper.to_lowercase(), 0)];
        let p = plan(&d, std::slice::from_ref(&e), &policy(), now());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.unchanged, 1);
        let p = plan(
            &[desired(IocKind::Ip, "1.1.1.1", 0)],
            &[e],
            &policy(),
            now(),
        );
        assert_eq!(
            p.removals,
            [Removal {
                kind: IocKind::FileSha1,
                content: upper.into()
            }]
        );
    }

    #[test]
    fn of_two_owned_spellings_the_normal_form_stays() {
        let l = [
            listed(
                IocKind::Domain,
                "A.Example",
                "apex-ioc-sync:lumu",
                "block",
                Some(29),
            ),
            listed(
                IocKind::Domain,
                "a.example",
                "apex-ioc-sync:lumu",
                "block",
                Some(29),
            ),
        ];
        let p = plan(
            &[desired(IocKind::Domain, "a.example", 0)],
            &l,
            &policy(),
            now(),
        );
        assert_eq!(removed(&p.removals), ["A.Example"]);
        assert_eq!(p.unchanged, 1);
        assert!(p.adds.is_empty() && p.updates.is_empty());
    }

    #[test]
    fn unreadable_and_shared_owned_entries_are_left_alone_but_take_room() {
        let l = [
            listed(
                IocKind::Ip,
                "10.0.0.0/24",
                "apex-ioc-sync:lumu",
                "block",
                None,
            ),
            listed(IocKind::Domain, "Shared.Example", "by hand", "log", None),
            listed(
                IocKind::Domain,
                "shared.example",
                "apex-ioc-sync:lumu",
                "block",
                None,
            ),
        ];
        // Neither is desired, and neither is removed, even with --force.
        let forced = Policy {
            force: true,
            ..policy()
        };
        let p = plan(&[desired(IocKind::Ip, "1.1.1.1", 0)], &l, &forced, now());
        assert!(p.removals.is_empty(), "{p:?}");
        assert_eq!(
            p.untouched,
            BTreeMap::from([(untouched::SHARED, 1), (untouched::UNREADABLE, 1)])
        );
        // Capacity counts them: one ip slot is taken by the unreadable entry.
        let cap = Policy {
            capacity: 1,
            ..forced
        };
        let p = plan(&[desired(IocKind::Ip, "1.1.1.1", 0)], &l, &cap, now());
        assert!(p.adds.is_empty());
        assert_eq!(contents(&p.skipped_capacity), ["1.1.1.1"]);
    }

    /// One listed or desired IOC of a small value space, so that both sides overlap often,
    /// in several spellings, some of which do not normalise.
    #[derive(Debug, Clone, Copy)]
    struct Spelled {
        kind: IocKind,
        value: u8,
        /// 0 is the normal form; 1.. other spellings of the same IOC.
        spelling: u8,
        /// Content that does not normalise.
        unreadable: bool,
    }

    impl Spelled {
        fn content(self) -> String {
            let v = self.value;
            let sha1 = format!("{v:x}{}", "abcdef0123".repeat(4))[..40].to_owned();
            let sha256 = format!("{v:x}{}", "abcdef0123".repeat(7))[..64].to_owned();
            if self.unreadable {
                return match self.kind {
                    IocKind::Ip => format!("10.0.0.{v}/24"),
                    IocKind::Domain => format!("*.d{v}.example"),
                    IocKind::Url => format!("ftp://u{v}.example/P"),
                    IocKind::FileSha1 | IocKind::FileSha256 => format!("{v}-not-a-hash"),
                };
            }
            match (self.kind, self.spelling % 4) {
                (IocKind::Ip, _) => format!("10.0.0.{v}"),
                (IocKind::Domain, 0) => format!("d{v}.example"),
                (IocKind::Domain, 1) => format!("D{v}.Example"),
                (IocKind::Domain, 2) => format!("D{v}.EXAMPLE."),
                (IocKind::Domain, _) => format!("d{v}.example."),
                (IocKind::Url, 0) => format!("http://u{v}.example/P"),
                (IocKind::Url, 1) => format!("HTTP://U{v}.Example/P"),
                (IocKind::Url, _) => format!("http://u{v}.EXAMPLE/P"),
                (IocKind::FileSha1, 0) => sha1,
                (IocKind::FileSha1, _) => sha1.to_uppercase(),
                (IocKind::FileSha256, 0) => sha256,
                (IocKind::FileSha256, _) => sha256.to_uppercase(),
            }
        }
    }

    fn arb_spelled() -> impl Strategy<Value = Spelled> {
        (
            prop::sample::select(IocKind::ALL.to_vec()),
            0u8..6,
            0u8..4,
            prop::bool::weighted(0.1),
        )
            .prop_map(|(kind, value, spelling, unreadable)| Spelled {
                kind,
                value,
                spelling,
                unreadable,
            })
    }

    /// Desired IOCs, and a listing in other spellings (`file` for some SHA-1 entries) as a
    /// server holds it: byte for byte distinct, or (`case_insensitive`) distinct ignoring
    /// case.
    fn arb_entries(
        case_insensitive: bool,
    ) -> impl Strategy<Value = (Vec<Desired>, Vec<UdsoEntry>)> {
        let owner = prop::sample::select(vec![
            "apex-ioc-sync:lumu",
            "apex-ioc-sync:lumu x",
            "apex-ioc-sync:taxii",
            "manual",
            "",
        ]);
        let action = prop::sample::select(vec![ScanAction::Log, ScanAction::Block]);
        let expiry = prop::option::of(-5i64..40);
        let desired = prop::collection::vec((arb_spelled(), action.clone(), 0i64..100), 0..24);
        let listed =
            prop::collection::vec((arb_spelled(), owner, action, expiry, any::<bool>()), 0..24);
        (desired, listed).prop_map(move |(d, l)| {
            let desired = d
                .into_iter()
                .filter_map(|(s, a, age)| {
                    Some(Desired {
                        ioc: Ioc::new(s.kind, &s.content()).ok()?,
                        scan_action: a,
                        reason: "r".into(),
                        seen: now() - Duration::minutes(age),
                    })
                })
                .collect();
            let mut seen = HashSet::new();
            let listed = l
                .into_iter()
                .filter(|(s, ..)| {
                    let content = s.content();
                    seen.insert((
                        s.kind,
                        if case_insensitive {
                            content.to_lowercase()
                        } else {
                            content
                        },
                    ))
                })
                .map(|(s, owner, a, exp, file_label)| UdsoEntry {
                    kind: if s.kind == IocKind::FileSha1 && file_label {
                        "file".into()
                    } else {
                        s.kind.udso_type().into()
                    },
                    content: s.content(),
                    notes: owner.into(),
                    scan_action: a.as_str().into(),
                    expiration_utc_date: exp.map(|d| (now() + Duration::days(d)).naive_utc()),
                })
                .collect();
            (desired, listed)
        })
    }

    fn ours(e: &UdsoEntry) -> bool {
        e.owner_tag() == Some("lumu")
    }

    /// `(type, normal form)` of the IOCs entries hold.
    fn normal_forms<'a>(
        entries: impl Iterator<Item = &'a UdsoEntry>,
    ) -> BTreeSet<(IocKind, String)> {
        entries
            .filter_map(|e| e.ioc().map(|i| (i.kind, i.value)))
            .collect()
    }

    /// The guarantees of a plan, on a server that matches content byte for byte or ignoring
    /// case.
    fn check_plan(
        desired: Vec<Desired>,
        listed: &[UdsoEntry],
        preserve: bool,
        case_insensitive: bool,
    ) -> Result<(), TestCaseError> {
        let policy = Policy {
            preserve,
            force: true,
            ..policy()
        };
        let mut pulled = Pulled {
            iocs: desired,
            ..Pulled::default()
        };
        pulled.dedupe();
        let desired = pulled.iocs;
        let p = plan(&desired, listed, &policy, now());
        let foreign_held = normal_forms(listed.iter().filter(|e| !ours(e)));

        // No write takes a foreign entry over: nothing put holds an IOC a foreign entry
        // holds, in any spelling; an update names an owned entry exactly as listed.
        for w in p.adds.iter().chain(p.updates.iter().map(|(w, _)| w)) {
            let ioc = Ioc::new(w.kind, &w.content).unwrap();
            prop_assert!(
                !foreign_held.contains(&(ioc.kind, ioc.value)),
                "takes over {}",
                w.content
            );
        }
        for (w, _) in &p.updates {
            prop_assert!(
                listed
                    .iter()
                    .any(|e| ours(e) && e.ioc_kind() == Some(w.kind) && e.content == w.content),
                "update of {} names no listed entry",
                w.content
            );
        }
        // Removals name owned entries exactly as listed.
        for r in &p.removals {
            prop_assert!(
                listed
                    .iter()
                    .any(|e| ours(e) && e.ioc_kind() == Some(r.kind) && e.content == r.content),
                "removal of {} names no owned listed entry",
                r.content
            );
        }

        let after = apply_to_list(listed, &p, case_insensitive);
        // Foreign entries are exactly as they were.
        let foreign = |l: &[UdsoEntry]| -> Vec<UdsoEntry> {
            let mut f: Vec<UdsoEntry> = l.iter().filter(|e| !ours(e)).cloned().collect();
            f.sort_by(|a, b| (&a.kind, &a.content).cmp(&(&b.kind, &b.content)));
            f
        };
        prop_assert_eq!(foreign(&after), foreign(listed));

        // The owned IOCs are the desired ones that no foreign entry holds (plus, with
        // preserve, what was owned), whatever the spelling.
        let mut want: BTreeSet<(IocKind, String)> = desired
            .iter()
            .map(|d| (d.ioc.kind, d.ioc.value.clone()))
            .filter(|k| !foreign_held.contains(k))
            .collect();
        if preserve {
            want.extend(
                normal_forms(listed.iter().filter(|e| ours(e)))
                    .into_iter()
                    .filter(|k| !foreign_held.contains(k)),
            );
        }
        let owned_after: BTreeSet<(IocKind, String)> =
            normal_forms(after.iter().filter(|e| ours(e)))
                .into_iter()
                .filter(|k| !foreign_held.contains(k))
                .collect();
        prop_assert_eq!(owned_after, want);
        if !preserve {
            // One owned entry per IOC (but for the ones left alone, shared with a foreign
            // entry).
            let mut count: BTreeMap<(IocKind, String), usize> = BTreeMap::new();
            for e in after.iter().filter(|e| ours(e)) {
                if let Some(i) = e
                    .ioc()
                    .filter(|i| !foreign_held.contains(&(i.kind, i.value.clone())))
                {
                    *count.entry((i.kind, i.value)).or_default() += 1;
                }
            }
            prop_assert!(count.values().all(|&n| n == 1), "{count:?}");
        }

        // Every desired entry we own now has the desired scan action.
        for e in after.iter().filter(|e| ours(e)) {
            if let Some(d) = desired.iter().find(|d| Some(&d.ioc) == e.ioc().as_ref())
                && !foreign_held.contains(&(d.ioc.kind, d.ioc.value.clone()))
            {
                prop_assert_eq!(e.scan_action.as_str(), d.scan_action.as_str());
            }
        }

        // A second plan against the result is empty: the sync converges in one run.
        let again = plan(&desired, &after, &policy, now());
        prop_assert!(again.is_empty(), "second plan not empty: {:?}", again);
        Ok(())
    }

    proptest! {
        #[test]
        fn plans_compare_by_normal_form_and_converge_on_a_byte_matching_server(
            (desired, listed) in arb_entries(false),
            preserve in any::<bool>(),
        ) {
            check_plan(desired, &listed, preserve, false)?;
        }

        #[test]
        fn plans_compare_by_normal_form_and_converge_on_a_case_insensitive_server(
            (desired, listed) in arb_entries(true),
            preserve in any::<bool>(),
        ) {
            check_plan(desired, &listed, preserve, true)?;
        }

        #[test]
        fn capacity_is_never_exceeded_by_a_plan(
            (desired, listed) in arb_entries(false),
            capacity in 0usize..8,
            preserve in any::<bool>(),
        ) {
            let policy = Policy { capacity, preserve, force: true, ..policy() };
            let p = plan(&desired, &listed, &policy, now());
            let after = apply_to_list(&listed, &p, false);
            for kind in IocKind::ALL {
                let of_kind = |l: &[UdsoEntry]| -> Vec<UdsoEntry> {
                    l.iter().filter(|e| e.ioc_kind() == Some(kind)).cloned().collect()
                };
                let before = of_kind(&listed);
                let owned_held = normal_forms(before.iter().filter(|e| ours(e)));
                let foreign_held = normal_forms(before.iter().filter(|e| !ours(e)));
                // What stays whatever the plan: foreign and untouched owned entries (and
                // with preserve, every owned entry).
                let stays = before.iter().filter(|e| {
                    !ours(e) || preserve || e.ioc().is_none_or(|i| foreign_held.contains(&(i.kind, i.value)))
                }).count();
                let total = of_kind(&after).len();
                prop_assert!(total <= capacity.max(stays), "{kind}: {total} entries, capacity {capacity}, {stays} stay; owned {owned_held:?}");
            }
        }
    }
}

/// The window brake (see its section above).
#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::model::make_notes;

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
            let p = super::plan(
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
                let forced = super::plan(
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
        let p = super::plan(&desired(10), &owned(100), &policy(Some(200), false), now());
        assert!(p.brake.is_some());
        assert_eq!(p.window_brake, None);
    }
}
