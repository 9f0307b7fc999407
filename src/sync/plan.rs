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
//!   24 hours (by more than 10 entries) holds its removals back unless forced (the window
//!   brake, [`window_brake_for`]), so that a source shrinking a little each run cannot
//!   empty the list unnoticed.
//!
//! [`plan`] is the sequence of these steps, each a function below; the brakes are in
//! `plan/brake.rs`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::ioc::{Ioc, IocKind};
use crate::model::desired::Desired;
use crate::model::{Listed, Put, ScanAction, make_notes};

mod brake;

pub use brake::{
    ADD_BRAKE_MIN_ADDS, ADD_BRAKE_OWNED_FACTOR, AddBrake, BRAKE_MIN_REMOVALS, BRAKE_WINDOW_HOURS,
    Brake, WindowBrake, add_brake, owned_peak, too_many_removals, window_brake_for,
};

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

/// Plans the writes that make the entries `policy.tag` owns equal to `desired`: for each
/// planned type, index what is listed, pick one desired entry per IOC, take the newest
/// that fit and add or update them, and remove the owned rest; then the brakes.
pub fn plan(desired: &[Desired], listed: &[Listed], policy: &Policy, now: DateTime<Utc>) -> Plan {
    let now = now.with_nanosecond_zero();
    let expiration = policy
        .expiration_days
        .map(|days| now + Duration::days(i64::from(days)));
    let mut plan = Plan::default();
    let mut owned_total = 0;
    for &kind in &policy.types {
        let planner = KindPlanner {
            policy,
            kind,
            now,
            expiration,
        };
        let listing = planner.index(listed);
        owned_total += listing.owned;
        listing.count_untouched(&mut plan.untouched);
        let wanted = planner.wanted(desired, &listing, &mut plan.skipped_foreign);
        let room = planner.room(&listing, &wanted, &mut plan.preserved);
        let kept = planner.choose(wanted, room, &listing, &mut plan);
        plan.removals.extend(planner.removals(&listing, &kept));
    }
    brake::engage_removal_brake(&mut plan, desired, owned_total, policy);
    brake::engage_window_brake(&mut plan, owned_total, policy);
    brake::engage_add_brake(&mut plan, owned_total, policy);
    plan
}

/// The owned entries holding one IOC: the one writes go to, and other spellings of it.
struct OwnedSpellings<'a> {
    primary: &'a Listed,
    others: Vec<&'a Listed>,
}

impl<'a> OwnedSpellings<'a> {
    /// `entries` (one IOC's, never empty): the one in normal form `value`, else the first
    /// by content, takes the writes.
    fn new(value: &str, mut entries: Vec<&'a Listed>) -> Self {
        entries.sort_by(|a, b| (a.raw != value, &a.raw).cmp(&(b.raw != value, &b.raw)));
        let primary = entries.remove(0);
        OwnedSpellings {
            primary,
            others: entries,
        }
    }

    fn len(&self) -> usize {
        1 + self.others.len()
    }

    /// Every entry, the primary first.
    fn all(&self) -> impl Iterator<Item = &'a Listed> + '_ {
        std::iter::once(self.primary).chain(self.others.iter().copied())
    }
}

/// One type's listed entries, both sides by the IOC's normal form.
struct Listing<'a> {
    /// Entries with this job's tag, all of them.
    owned: usize,
    /// Entries without it.
    foreign_entries: usize,
    /// The IOCs entries without the tag hold.
    foreign: HashSet<String>,
    /// Owned entries whose content does not normalise: left alone.
    unreadable: usize,
    /// Owned entries whose IOC a foreign entry also holds: never written.
    shared: usize,
    /// The other owned entries, by IOC: the ones the plan writes.
    by_ioc: BTreeMap<String, OwnedSpellings<'a>>,
}

impl Listing<'_> {
    /// Adds the owned entries left alone to `untouched`, by reason.
    fn count_untouched(&self, untouched: &mut BTreeMap<&'static str, usize>) {
        for (reason, n) in [
            (untouched::UNREADABLE, self.unreadable),
            (untouched::SHARED, self.shared),
        ] {
            if n > 0 {
                *untouched.entry(reason).or_default() += n;
            }
        }
    }
}

/// The planning of one IOC type: what each step reads.
struct KindPlanner<'p> {
    policy: &'p Policy,
    kind: IocKind,
    now: DateTime<Utc>,
    /// When the entries written now expire (`None`: never).
    expiration: Option<DateTime<Utc>>,
}

impl KindPlanner<'_> {
    /// Indexes the listed entries of the type: owned or foreign, and owned by IOC.
    fn index<'a>(&self, listed: &'a [Listed]) -> Listing<'a> {
        let mut listing = Listing {
            owned: 0,
            foreign_entries: 0,
            foreign: HashSet::new(),
            unreadable: 0,
            shared: 0,
            by_ioc: BTreeMap::new(),
        };
        let mut owned: BTreeMap<String, Vec<&Listed>> = BTreeMap::new();
        for entry in listed.iter().filter(|e| e.kind == self.kind) {
            let ioc = entry.ioc.clone();
            if entry.owner_tag() == Some(self.policy.tag.as_str()) {
                listing.owned += 1;
                match ioc {
                    Some(ioc) => owned.entry(ioc.value).or_default().push(entry),
                    None => listing.unreadable += 1,
                }
            } else {
                listing.foreign_entries += 1;
                if let Some(ioc) = ioc {
                    listing.foreign.insert(ioc.value);
                }
            }
        }
        for (value, entries) in owned {
            // Owned entries whose IOC a foreign entry also holds are never written.
            if listing.foreign.contains(&value) {
                listing.shared += entries.len();
            } else {
                let spellings = OwnedSpellings::new(&value, entries);
                listing.by_ioc.insert(value, spellings);
            }
        }
        listing
    }

    /// One desired entry per IOC of the type, the most recently seen (the caller's set is
    /// deduplicated, this is a guard); IOCs a foreign entry holds go to `skipped_foreign`.
    fn wanted<'d>(
        &self,
        desired: &'d [Desired],
        listing: &Listing,
        skipped_foreign: &mut Vec<Ioc>,
    ) -> BTreeMap<&'d str, &'d Desired> {
        let mut wanted: BTreeMap<&str, &Desired> = BTreeMap::new();
        for d in desired.iter().filter(|d| d.ioc.kind == self.kind) {
            if listing.foreign.contains(d.ioc.value.as_str()) {
                skipped_foreign.push(d.ioc.clone());
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
        wanted
    }

    /// The room the wanted IOCs have: the capacity less what stays whatever is kept
    /// (foreign and untouched entries, and with `preserve` every owned entry not
    /// withdrawn). Adds to `preserved` the owned entries `preserve` keeps that are no
    /// longer wanted.
    fn room(
        &self,
        listing: &Listing,
        wanted: &BTreeMap<&str, &Desired>,
        preserved: &mut usize,
    ) -> usize {
        let mut stays = listing.foreign_entries + listing.unreadable + listing.shared;
        if self.policy.preserve {
            let kept_by_preserve = || {
                listing
                    .by_ioc
                    .iter()
                    .filter(|(value, _)| !self.withdrawn(value))
            };
            stays += kept_by_preserve()
                .map(|(_, owned)| owned.len())
                .sum::<usize>();
            *preserved += kept_by_preserve()
                .filter(|(value, _)| !wanted.contains_key(value.as_str()))
                .map(|(_, owned)| owned.len())
                .sum::<usize>();
        }
        self.policy.capacity.saturating_sub(stays)
    }

    /// Keeps the wanted IOCs newest first while `room` lasts (an owned entry kept by
    /// `preserve` already has its place), adding or updating each; the rest go to
    /// `plan.skipped_capacity`. Returns the IOCs kept.
    fn choose<'d>(
        &self,
        wanted: BTreeMap<&'d str, &'d Desired>,
        mut room: usize,
        listing: &Listing,
        plan: &mut Plan,
    ) -> HashSet<&'d str> {
        let mut candidates: Vec<&Desired> = wanted.into_values().collect();
        candidates.sort_by(|a, b| b.seen.cmp(&a.seen).then_with(|| a.ioc.cmp(&b.ioc)));
        let mut kept: HashSet<&str> = HashSet::new();
        for d in candidates {
            let existing = listing.by_ioc.get(&d.ioc.value);
            if !(self.policy.preserve && existing.is_some()) {
                // Room never grows: once the list is full, every later IOC that needs
                // room is left out.
                if room == 0 {
                    plan.skipped_capacity.push(d.ioc.clone());
                    continue;
                }
                room -= 1;
            }
            kept.insert(&d.ioc.value);
            match existing {
                None => plan.adds.push(self.put(d.ioc.value.clone(), d)),
                Some(owned) => self.update(owned, d, plan),
            }
        }
        kept
    }

    /// Rewrites the owned entries of a kept IOC that differ from `d` (its other spellings
    /// too with `preserve`, which keeps them; else they are removed); counts the rest
    /// unchanged.
    fn update(&self, owned: &OwnedSpellings, d: &Desired, plan: &mut Plan) {
        let others = if self.policy.preserve {
            &owned.others[..]
        } else {
            &[]
        };
        for entry in std::iter::once(owned.primary).chain(others.iter().copied()) {
            match update_reason(entry, d.scan_action, self.policy.expiration_days, self.now) {
                // The listed spelling, so the write lands on that entry.
                Some(reason) => plan.updates.push((self.put(entry.raw.clone(), d), reason)),
                None => plan.unchanged += 1,
            }
        }
    }

    /// The write of `content` for `d`.
    fn put(&self, content: String, d: &Desired) -> Put {
        Put {
            kind: self.kind,
            content,
            notes: make_notes(&self.policy.tag, &d.reason),
            scan_action: d.scan_action,
            expiration: self.expiration,
        }
    }

    /// The owned entries to delete, sorted: every spelling of an IOC not kept, and the
    /// other spellings of one kept; with `preserve`, only those of withdrawn IOCs.
    fn removals(&self, listing: &Listing, kept: &HashSet<&str>) -> Vec<Removal> {
        let mut gone: Vec<Removal> = Vec::new();
        for (value, owned) in &listing.by_ioc {
            if self.policy.preserve && !self.withdrawn(value) {
                continue;
            }
            let entries: Vec<&Listed> = if kept.contains(value.as_str()) {
                owned.others.clone()
            } else {
                owned.all().collect()
            };
            gone.extend(entries.into_iter().map(|e| Removal {
                kind: self.kind,
                content: e.raw.clone(),
            }));
        }
        gone.sort();
        gone
    }

    /// Whether an exclusion list now matches the IOC `value` (normal form) of the type.
    fn withdrawn(&self, value: &str) -> bool {
        self.policy.withdrawn.contains(&Ioc {
            kind: self.kind,
            value: value.to_owned(),
        })
    }
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
    pub(super) fn plan(
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

    pub(super) fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    pub(super) fn policy() -> Policy {
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

    pub(super) fn desired(kind: IocKind, value: &str, age_minutes: i64) -> Desired {
        Desired {
            ioc: Ioc::new(kind, value).unwrap(),
            scan_action: ScanAction::Block,
            reason: "C2C incident 1".into(),
            seen: now() - Duration::minutes(age_minutes),
        }
    }

    pub(super) fn listed(
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

    pub(super) fn removed(removals: &[Removal]) -> Vec<&str> {
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
