//! `apex-ioc-sync explain IOC`: why an IOC is, or is not, on the destination's list, in one
//! screen. The IOC is read in any spelling (refanged, its type detected, as a plain list's
//! values are) and shown in its normal form; then:
//! - whether the job's exclusion lists, hold list or the built-in guard hold it back now
//!   (which list, which entry), and whether the job pushes its type at all;
//! - what the destination lists now: every entry holding it, in any spelling, and whose
//!   it is (this job's, another tag's, or foreign: made by hand or another tool);
//! - for each job of the state file (tag): what its source wanted at its last run and what
//!   the run made of it (pushed, left out for a foreign entry or for capacity, excluded),
//!   for a TAXII job the stored indicators that hold it with their validity now, and the
//!   journal's writes of it.
//!
//! No source is read: a Lumu context costs quota, a TAXII page moves a cursor, and an
//! analyst may not hold the source's credentials. What a source wanted is what the job's
//! last run stored in the journal (`journal_wanted`), which is also what that run acted on;
//! run the job with `--dry-run` to see the source now.

use std::collections::HashMap;

use anyhow::anyhow;
use serde::Serialize;

use super::history::{expiry, time};
use crate::cli::SinkKind;
use crate::exit::Failure;
use crate::ioc::Ioc;
use crate::policy::{Excluded, Held};
use crate::settings::Settings;
use crate::sink::Sink;
use crate::state::journal::{IndicatorHolding, Journal, RunRow, Wanted, WriteRow};
use crate::text::{detect, refang};
use crate::{out, outln};

/// The IOC `input` names, in any spelling; a usage error when it is none.
pub fn parse_ioc(input: &str) -> Result<Ioc, Failure> {
    detect(&refang(input.trim())).map_err(|why| {
        Failure::usage(anyhow!(
            "`{input}` is not an IOC this tool can push ({why}): give an IPv4 address, a domain, \
             a URL (http or https), a SHA-1 or a SHA-256"
        ))
    })
}

/// One listed entry holding the IOC.
#[derive(Debug, Serialize)]
struct Entry {
    content: String,
    notes: String,
    scan_action: String,
    expires: Option<chrono::DateTime<chrono::Utc>>,
    /// The `apex-ioc-sync:` tag in the notes; `null`: a foreign entry.
    owner_tag: Option<String>,
    /// Carries this job's tag.
    ours: bool,
}

/// What the destination lists now.
#[derive(Debug, Serialize)]
struct DestinationNow {
    name: &'static str,
    sink: &'static str,
    location: String,
    /// Whether the destination holds entries of the IOC's type at all.
    holds_type: bool,
    entries: Vec<Entry>,
}

/// One job (tag) of the state file.
#[derive(Debug, Serialize)]
struct Job {
    tag: String,
    /// The job the options name.
    this_job: bool,
    /// Its newest run that was not a dry run.
    last_run: Option<RunRow>,
    /// The run whose desired set the journal holds (its last run that read its source).
    wanted_run: Option<String>,
    /// What its source wanted of the IOC at that run; `null`: nothing.
    wanted: Option<Wanted>,
    /// A TAXII job's stored indicators holding the IOC, newest first.
    indicators: Vec<IndicatorHolding>,
    /// The journal's writes of the IOC by this tag's runs, oldest first.
    writes: Vec<WriteRow>,
}

/// The answer, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Explanation {
    input: String,
    #[serde(rename = "type")]
    kind: crate::ioc::IocKind,
    value: String,
    /// One sentence: on the list or not, and why.
    verdict: String,
    /// Among the job's `--ioc-types`.
    selected: bool,
    /// The list and entry that hold it back now, if one does.
    excluded: Option<Excluded>,
    destination: DestinationNow,
    /// The state file read.
    journal: String,
    /// Why the journal could not be read (missing, or without a journal yet).
    journal_error: Option<String>,
    jobs: Vec<Job>,
}

/// Explains `input` against the destination `--sink` names.
pub async fn run(settings: &Settings, input: &str) -> Result<(), Failure> {
    let ioc = parse_ioc(input)?;
    let explanation = match settings.sink() {
        SinkKind::Apex => explain(settings, &settings.apex_sink()?, input, ioc).await?,
        SinkKind::VisionOne => explain(settings, &settings.vision_one_sink()?, input, ioc).await?,
    };
    if settings.opts.output.json {
        outln!("{}", serde_json::to_string_pretty(&explanation)?)?;
    } else {
        out!("{}", text(&explanation))?;
    }
    Ok(())
}

async fn explain<S: Sink>(
    settings: &Settings,
    sink: &S,
    input: &str,
    ioc: Ioc,
) -> Result<Explanation, Failure> {
    let tag = settings.tag()?;
    let exclusions = settings.exclusions()?;
    let excluded = exclusions.check(&ioc).map(|hit| {
        exclusions.describe(&Held {
            ioc: ioc.clone(),
            hit,
        })
    });
    let holds_type = sink.kinds().contains(&ioc.kind);
    let entries = if holds_type {
        sink.list(ioc.kind)
            .await?
            .into_iter()
            .filter(|e| e.ioc.as_ref() == Some(&ioc))
            .map(|e| Entry {
                ours: e.owner_tag() == Some(tag.as_str()),
                owner_tag: e.owner_tag().map(str::to_owned),
                content: e.raw,
                notes: e.notes,
                scan_action: e.scan_action,
                expires: e.expires,
            })
            .collect()
    } else {
        Vec::new()
    };
    let path = settings.state_path(&tag);
    let (jobs, journal_error) = match Journal::read(&path) {
        Ok(journal) => (jobs(&journal, &ioc, &tag)?, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let mut explanation = Explanation {
        input: input.to_owned(),
        kind: ioc.kind,
        value: ioc.value.clone(),
        verdict: String::new(),
        selected: settings.ioc_types().contains(&ioc.kind),
        excluded,
        destination: DestinationNow {
            name: sink.name(),
            sink: sink.id(),
            location: sink.location(),
            holds_type,
            entries,
        },
        journal: path.display().to_string(),
        journal_error,
        jobs,
    };
    explanation.verdict = verdict(&explanation, &tag);
    Ok(explanation)
}

/// Every tag of the journal, this job's first.
fn jobs(journal: &Journal, ioc: &Ioc, tag: &str) -> anyhow::Result<Vec<Job>> {
    let runs = journal.runs(None, None)?;
    let tag_of: HashMap<&str, &str> = runs
        .iter()
        .map(|r| (r.id.as_str(), r.tag.as_str()))
        .collect();
    let writes = journal.writes_of(ioc)?;
    let mut tags = journal.tags()?;
    if !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_owned());
    }
    tags.sort_by_key(|t| t != tag);
    let now = chrono::Utc::now();
    tags.into_iter()
        .map(|t| {
            Ok(Job {
                this_job: t == tag,
                last_run: runs.iter().find(|r| r.tag == t && !r.dry_run).cloned(),
                wanted_run: journal.wanted_run(&t)?,
                wanted: journal.wanted(&t, ioc)?,
                indicators: journal.indicators_holding(&t, ioc, now)?,
                writes: writes
                    .iter()
                    .filter(|w| tag_of.get(w.run.as_str()) == Some(&t.as_str()))
                    .cloned()
                    .collect(),
                tag: t,
            })
        })
        .collect()
}

/// The one sentence that answers.
fn verdict(e: &Explanation, tag: &str) -> String {
    let d = &e.destination;
    if !d.holds_type {
        return format!("not on the list: {} holds no {} entries", d.name, e.kind);
    }
    let this = e.jobs.iter().find(|j| j.this_job);
    if let Some(entry) = d.entries.first() {
        return match (&entry.owner_tag, entry.ours) {
            (Some(_), true) => {
                let added = this.and_then(|j| {
                    j.writes
                        .iter()
                        .rev()
                        .find(|w| w.result == "done" && w.op != crate::state::journal::Op::Remove)
                });
                match added {
                    Some(w) => format!(
                        "on the list, owned by this job (tag {tag}): {} by run {} at {}{}",
                        if w.op == crate::state::journal::Op::Add {
                            "added"
                        } else {
                            "last updated"
                        },
                        w.run,
                        time(w.at),
                        w.reason
                            .as_deref()
                            .filter(|r| !r.is_empty())
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    None => format!(
                        "on the list, owned by this job (tag {tag}); its journal holds no write of it"
                    ),
                }
            }
            (Some(other), false) => format!(
                "on the list, owned by another job of this tool (tag {other}); this job never touches it"
            ),
            (None, _) => "on the list, as a foreign entry (no apex-ioc-sync tag: made by hand or \
                          another tool); no job of this tool touches it"
                .to_owned(),
        };
    }
    if let Some(x) = &e.excluded {
        return format!("not on the list: held back by {x}");
    }
    if !e.selected {
        return format!(
            "not on the list: this job does not push {} IOCs (--ioc-types)",
            e.kind
        );
    }
    let Some(job) = this else {
        return "not on the list; this job has no journal to say more".to_owned();
    };
    if let Some(w) = &job.wanted {
        return match w.outcome.as_str() {
            "capacity" => format!(
                "not on the list: the list was full at run {} (the oldest IOCs are left out)",
                w.run
            ),
            "excluded" => format!(
                "not on the list: excluded at run {} ({})",
                w.run,
                w.detail.as_deref().unwrap_or("an exclusion list")
            ),
            "foreign" => format!(
                "not on the list, though a foreign entry held it at run {}, which left it out; \
                 the next run pushes it",
                w.run
            ),
            _ => format!(
                "not on the list, though run {} wanted it ({}): removed since by someone else, \
                 or its write failed (see the journal below); the next run pushes it",
                w.run, w.reason
            ),
        };
    }
    if job.indicators.iter().any(|i| i.valid_now) {
        return format!(
            "not on the list, though a stored indicator holding it is valid now: its run ({}) \
             left it out, as one of more valid {} IOCs than the list holds (the newest are \
             kept), or it became valid since",
            job.wanted_run.as_deref().unwrap_or("none yet"),
            e.kind
        );
    }
    if let Some(w) = job.writes.last() {
        if w.op == crate::state::journal::Op::Remove && w.result == "done" {
            return format!(
                "not on the list: removed by run {} at {} (no longer in the source)",
                w.run,
                time(w.at)
            );
        }
        return format!(
            "not on the list; the journal's last write of it: {} {} by run {}",
            w.op.as_str(),
            w.result,
            w.run
        );
    }
    match &job.wanted_run {
        Some(run) => format!(
            "not on the list, and never seen: this job's source did not give it at its last run ({run}), and its journal holds no write of it"
        ),
        None => "not on the list, and never seen: this job's journal holds no run that read its source, and no write of it".to_owned(),
    }
}

/// The explanation as text, one screen.
fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<11}{text}\n"));
    };
    let spelled = if e.input.trim() == e.value {
        String::new()
    } else {
        format!("  (from `{}`)", e.input.trim())
    };
    line("IOC", format!("{} {}{spelled}", e.kind, e.value));
    line("Verdict", e.verdict.clone());
    line(
        "Exclusions",
        match &e.excluded {
            Some(x) => format!("held back by {x}"),
            None => "no exclusion list, hold list or guard rule matches it".to_owned(),
        },
    );
    if !e.selected {
        line(
            "Types",
            format!(
                "{} is not among this job's --ioc-types: the job never pushes it",
                e.kind
            ),
        );
    }
    let d = &e.destination;
    let mut list = format!("{} {}: ", d.name, d.location);
    if !d.holds_type {
        list.push_str(&format!("holds no {} entries", e.kind));
    } else if d.entries.is_empty() {
        list.push_str("absent (in any spelling)");
    } else {
        let shown: Vec<String> = d
            .entries
            .iter()
            .map(|x| {
                let owner = match (&x.owner_tag, x.ours) {
                    (Some(t), true) => format!("this job's (tag {t})"),
                    (Some(t), false) => format!("tag {t}'s"),
                    (None, _) => "foreign".to_owned(),
                };
                format!(
                    "`{}` {owner}, {}, expires {}, notes `{}`",
                    x.content,
                    x.scan_action,
                    expiry(x.expires),
                    x.notes
                )
            })
            .collect();
        list.push_str(&shown.join("; "));
    }
    line("List", list);
    if let Some(err) = &e.journal_error {
        line("Journal", err.clone());
    }
    for job in &e.jobs {
        let last = match &job.last_run {
            Some(r) => format!(
                "last run {} at {}{}",
                r.id,
                time(r.started),
                r.exit_code
                    .map(|c| format!(", exit {c}"))
                    .unwrap_or_else(|| ", no end".to_owned())
            ),
            None => "no run yet".to_owned(),
        };
        let this = if job.this_job { ", this job" } else { "" };
        line("Job", format!("tag {}{this}: {last}", job.tag));
        let source = match (&job.wanted, &job.wanted_run) {
            (Some(w), _) => {
                let made = match w.outcome.as_str() {
                    "listed" => "planned on the list".to_owned(),
                    "foreign" => "left out: an entry without this tag held it".to_owned(),
                    "capacity" => "left out: the list was full".to_owned(),
                    "excluded" => format!(
                        "excluded by {}",
                        w.detail.as_deref().unwrap_or("an exclusion list")
                    ),
                    other => other.to_owned(),
                };
                format!(
                    "wanted at run {}: {} ({}, last seen {}); {made}",
                    w.run,
                    w.reason,
                    w.scan_action,
                    time(w.seen)
                )
            }
            (None, Some(run)) => format!("not wanted at run {run}"),
            (None, None) => "no run of this job stored what its source wanted".to_owned(),
        };
        line("  source", source);
        for i in &job.indicators {
            line(
                "  TAXII",
                format!(
                    "{} (modified {}){}{}, valid until {}: {}",
                    i.id,
                    time(i.modified),
                    if i.revoked { ", revoked" } else { "" },
                    i.confidence
                        .map(|c| format!(", confidence {c}"))
                        .unwrap_or_default(),
                    expiry(i.valid_until),
                    if i.valid_now {
                        "valid now"
                    } else {
                        "not valid now"
                    }
                ),
            );
        }
        if job.writes.is_empty() {
            line("  journal", "no write of it".to_owned());
        }
        for w in &job.writes {
            let mut about = format!(
                "{} run {}  {} {}{}",
                time(w.at),
                w.run,
                w.op.as_str(),
                w.result,
                w.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            if let Some(reason) = w.reason.as_deref().filter(|r| !r.is_empty()) {
                about.push_str(&format!("  {reason}"));
            }
            if let Some(action) = &w.scan_action {
                about.push_str(&format!("  {action}, expires {}", expiry(w.expires)));
            }
            if w.content != e.value {
                about.push_str(&format!("  (as `{}`)", w.content));
            }
            line("  journal", about);
        }
    }
    out
}
