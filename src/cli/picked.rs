//! Options of the sync job that the journal commands (`history`, `explain`, `rollback`) take
//! too: picked by id from the sync job's own definitions, so that none is defined twice.

use clap::{ArgMatches, Args, FromArgMatches};

use super::{Options, PROGRAM};

/// Options of the sync job that a journal command (`history`, `explain`, `rollback`) takes
/// too, picked by id from the sync job's own definitions (help, aliases, defaults, `.config`
/// names), so that one `.config` drives a job and its journal and no option is defined
/// twice. Each command takes the ids of its `IDS`.
pub trait PickedOptions {
    /// The arg ids picked (`tag`, `state_file`, ...).
    const IDS: &'static [&'static str];
}

/// The sync job's options of `P::IDS`, as the merged view's values (the others at their
/// defaults).
#[derive(Debug, Clone)]
pub struct Picked<P> {
    pub options: Options,
    _ids: std::marker::PhantomData<P>,
}

impl<P: PickedOptions> Args for Picked<P> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        // The sync job's definitions, each with the help heading of its group.
        let all = Options::augment_args(clap::Command::new(PROGRAM));
        all.get_arguments()
            .filter(|a| P::IDS.contains(&a.get_id().as_str()))
            .fold(cmd, |cmd, a| cmd.arg(a.clone()))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<P: PickedOptions> FromArgMatches for Picked<P> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut o = Options::default();
        for &id in P::IDS {
            match id {
                "source" => o.sync.source = *m.get_one("source").expect("a default"),
                "tag" => o.sync.tag = m.get_one("tag").cloned(),
                "ioc_types" => {
                    o.sync.ioc_types = m
                        .get_many("ioc_types")
                        .expect("a default")
                        .copied()
                        .collect();
                }
                "state_file" => o.sync.state_file = m.get_one("state_file").cloned(),
                "lock_file" => o.sync.lock_file = m.get_one("lock_file").cloned(),
                "lock_scope" => o.sync.lock_scope = *m.get_one("lock_scope").expect("a default"),
                "dry_run" => o.sync.dry_run = m.get_flag("dry_run"),
                "force" => o.sync.force = m.get_flag("force"),
                "threaded" => o.sync.threaded = m.get_flag("threaded"),
                "threads" => o.sync.threads = m.get_one("threads").copied(),
                "risk_level" => o.risk_level = *m.get_one("risk_level").expect("a default"),
                other => unreachable!("no pick of `{other}`"),
            }
        }
        Ok(Picked {
            options: o,
            _ids: std::marker::PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// `history`'s picks: the job's state file (`--state-file`, else by `--tag` or `--source`).
#[derive(Debug, Clone)]
pub struct HistoryPicks;
impl PickedOptions for HistoryPicks {
    const IDS: &'static [&'static str] = &["source", "tag", "state_file"];
}

/// `explain`'s picks: the job's state file, and the types it pushes.
#[derive(Debug, Clone)]
pub struct ExplainPicks;
impl PickedOptions for ExplainPicks {
    const IDS: &'static [&'static str] = &["source", "tag", "ioc_types", "state_file"];
}

/// `rollback`'s picks: the job's state and lock files (and the lock's scope, so that it takes
/// the lock the job takes), the rehearsal, the brakes, the writes at once, and Vision One's
/// risk level for what it re-adds.
#[derive(Debug, Clone)]
pub struct RollbackPicks;
impl PickedOptions for RollbackPicks {
    const IDS: &'static [&'static str] = &[
        "risk_level",
        "source",
        "tag",
        "dry_run",
        "force",
        "threaded",
        "threads",
        "state_file",
        "lock_file",
        "lock_scope",
    ];
}
