//! Destinations: the lists this tool writes suspicious objects to, behind one [`Sink`]
//! interface (in the spirit of vector's sinks). The sync engine (`sync::run`,
//! `sync::apply`, `sync::clean`) knows only this trait and the destination-neutral records
//! of `model`; each destination is a module that translates: [`apex`] (Apex
//! Central's User-Defined Suspicious Objects list, one signed request per write) and
//! [`vision_one`] (Trend Vision One's suspicious-object list, batched writes with per-item
//! results).
//!
//! The trait's async methods are written as `fn ... -> impl Future<Output = ...> + Send`
//! (return-position `impl Trait` in traits, stable since Rust 1.75), implemented with plain
//! `async fn`: no boxing and no `async-trait` crate. The price is that `Sink` is not
//! object safe, so the engine is generic over it (`run::<S: Sink>`) and the command that
//! assembles a job picks the sink with one `match` arm per destination; with two
//! destinations, two monomorphised copies of the engine cost less than a `Box<dyn Future>`
//! per call and keep the `Send` bound checked at compile time (a later metrics or
//! per-subcommand runner may spawn these futures).

pub mod apex;
pub mod vision_one;

use std::future::Future;
use std::time::Instant;

use crate::ioc::IocKind;
use crate::model::{Listed, Write, WriteResult};

/// A destination: a list of suspicious objects of a few kinds, each kind's list of bounded
/// size, that can be listed one kind at a time and written to.
pub trait Sink: Sync {
    /// The destination's name in messages: `Apex Central`, `Vision One`.
    fn name(&self) -> &'static str;

    /// The `--sink` value that selects it (`apex`, `vision-one`), for reports.
    fn id(&self) -> &'static str;

    /// Which server: its origin (`https://apex.corp`, `https://api.xdr.trendmicro.com`), as
    /// the journal records a run's destination; the same server always gives the same text.
    fn location(&self) -> String;

    /// The kinds of IOC it holds. A run sets the others aside and counts them as
    /// `unsupported-by-destination`; `--clean` and `list` look at these kinds only.
    fn kinds(&self) -> &'static [IocKind];

    /// Entries each kind's list holds at most, counting entries of every owner. The planner
    /// never plans past it.
    fn capacity_per_kind(&self) -> usize;

    /// Writes one request carries at most (1 where each write is a request of its own): the
    /// sync engine sizes its waves of guarded writes in requests (`sync::apply`).
    fn writes_per_request(&self) -> usize {
        1
    }

    /// One cheap call that fails as a real request would with wrong credentials, a wrong
    /// region or host, a skewed clock or a missing permission: made before a source is
    /// read, so that such a job fails in a second instead of after spending the source's
    /// quota.
    fn healthcheck(&self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Every entry of one kind, in any owner's notes. A listing that cannot be read whole
    /// is an error (never a shorter list: planning against it would take entries over).
    fn list(&self, kind: IocKind) -> impl Future<Output = anyhow::Result<Vec<Listed>>> + Send;

    /// Applies `writes` with at most `concurrency` requests at once, calling `done` with each
    /// write and its result as soon as the result is known (so a progress bar and error
    /// lines move per write, not per phase). Every write is reported exactly once; a failed
    /// write never stops the others. Retries are the destination's own (see its client).
    /// A request whose turn comes after `deadline` is not sent: its writes are reported
    /// with [`crate::model::WriteError::not_started`]; requests under way finish.
    fn apply(
        &self,
        writes: Vec<Write>,
        concurrency: usize,
        deadline: Option<Instant>,
        done: &mut (dyn FnMut(Write, WriteResult) + Send),
    ) -> impl Future<Output = ()> + Send;
}
