//! STIX 2.1 indicator patterns (see `reference/taxii-stix.md`): [`pattern`] parses the whole
//! patterning grammar into an AST that borrows from the pattern text, and [`extract`] picks
//! out what Apex can hold (IPv4, domain, URL, SHA-1) with the scan action each IOC gets,
//! counting everything else as skipped by reason. [`indicator`] is the indicator model
//! every STIX source shares (TAXII pages and bundle files): objects read from JSON, and the
//! record of each indicator version to store.
//!
//! ```
//! use apex_ioc_sync::model::ScanAction;
//! use apex_ioc_sync::stix::{extract::extract, pattern::parse};
//!
//! let text = "[ipv4-addr:value = '198.51.100.1' \
//!             OR file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']";
//! let pattern = parse(text).unwrap();
//! let found = extract(&pattern, ScanAction::Block);
//! assert_eq!(found.iocs[0].0.value, "198.51.100.1");
//! assert_eq!(found.iocs[0].1, ScanAction::Block);
//! assert_eq!(found.skipped, ["md5"]);
//! ```

pub mod extract;
pub mod indicator;
pub mod pattern;
