//! Trend Vision One's Suspicious Object List as a destination: the [`crate::sink::Sink`]
//! ([`sink`]), the API client ([`client`]), its wire forms ([`model`]), request batching
//! ([`batch`]) and regions ([`region`]).
//!
//! The API, as relied on here (details and sources in each module):
//! - list: `GET /v3.0/threatintel/suspiciousObjects?top=200`, header `TMV1-Filter: type eq
//!   '<type>'`, answer `{"items": [...], "nextLink": "<absolute URL>"}` until no `nextLink`;
//! - add: `POST /v3.0/threatintel/suspiciousObjects`, a JSON array of `{"<type>": value,
//!   "description", "riskLevel", "scanAction", "daysToExpiration"}`;
//! - delete: `POST /v3.0/threatintel/suspiciousObjects/delete`, a JSON array of
//!   `{"<type>": value}`;
//! - add and delete answer 207 Multi-Status, one `{"status", "body": {"error"}}` per item
//!   in order; error 4000018 means the type's list is full;
//! - bodies at most 1 MB (413 past it), 429 with `Retry-After` past the rate limit,
//!   10,000 objects per type.
//!
//! Sources: Trend's Python SDK `pytmv1` 0.11.0 (`trendmicro/tm-v1-pytv1` commit 53deee9d:
//! `api/object.py`, `core.py`, `utils.py`, `model/common.py`, `model/enum.py`), Trend's
//! mock server `trendmicro/tm-v1-api-mockup` commit e21ef3c3, Trend's Go client
//! `trendmicro/vision-one-mcp-server` commit 720730a3 (`internal/v1client/`), the Vision
//! One automation guides (Authentication, API-Request-Limits, Troubleshooting, Regional
//! domains) and `shared/reference/vision-one.md` (4000018, the per-type capacity).

pub mod batch;
pub mod client;
pub mod model;
pub mod region;
pub mod sink;

pub use batch::{BatchLimits, MAX_BODY_BYTES, MAX_ITEMS_PER_REQUEST};
pub use client::{VisionOneClient, VisionOneError};
pub use model::{
    ItemError, ItemOutcome, ItemResult, ListedObject, NewObject, ObjectRef, ObjectType, RiskLevel,
};
pub use region::Region;
pub use sink::VisionOneSink;

/// Objects per type a Vision One tenant holds (added by hand or through the API; Sandbox
/// objects have their own 25,000). Past it Vision One silently drops the objects closest to
/// expiry, so a plan must never go past it. Source: Vision One online help, "Suspicious
/// Object List".
pub const CAPACITY_PER_TYPE: usize = 10_000;
