//! The Apex Central side: request signing, the client, and the UDSO list.

pub mod auth;
pub mod client;
pub mod openioc;
pub mod udso;
