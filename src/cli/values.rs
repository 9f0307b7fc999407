//! The values options take from a closed set (`--sink`, `--source`, `--ioc-types`,
//! `--logging`, Lumu's statuses and adversary types), with the names clap shows and parses.

use clap::ValueEnum;

use crate::ioc::IocKind;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoggingMode {
    /// Standard error.
    #[value(verbatim_doc_comment)]
    Screen,
    /// The log file (size-rotated): --log-file, else apex-ioc-sync.log in $LOGS_DIRECTORY, else beside the config file, else in the current folder.
    #[value(verbatim_doc_comment)]
    File,
}

/// Adversary types of Lumu incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdversaryType {
    #[value(name = "C2C")]
    C2c,
    #[value(name = "Malware")]
    Malware,
    #[value(name = "DGA")]
    Dga,
    #[value(name = "Mining")]
    Mining,
    #[value(name = "Spam")]
    Spam,
    #[value(name = "Phishing")]
    Phishing,
}

/// Lumu incident statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IncidentStatus {
    Open,
    Muted,
    Closed,
}

impl IncidentStatus {
    pub fn name(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Muted => "muted",
            IncidentStatus::Closed => "closed",
        }
    }
}

impl AdversaryType {
    /// The name Lumu uses.
    pub fn name(self) -> &'static str {
        match self {
            AdversaryType::C2c => "C2C",
            AdversaryType::Malware => "Malware",
            AdversaryType::Dga => "DGA",
            AdversaryType::Mining => "Mining",
            AdversaryType::Spam => "Spam",
            AdversaryType::Phishing => "Phishing",
        }
    }
}

/// IOC types a job pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum IocTypeArg {
    Ip,
    Domain,
    Url,
    /// SHA-1 file hashes (UDSO type `file_sha1`).
    #[value(verbatim_doc_comment)]
    Hash,
    /// SHA-256 file hashes (`file_sha256`), which Apex's UDSO list cannot hold: a run against Apex counts them as unsupported-by-destination.
    #[value(verbatim_doc_comment)]
    Sha256,
}

impl IocTypeArg {
    /// The kind of IOC this type names.
    pub fn kind(self) -> IocKind {
        match self {
            IocTypeArg::Ip => IocKind::Ip,
            IocTypeArg::Domain => IocKind::Domain,
            IocTypeArg::Url => IocKind::Url,
            IocTypeArg::Hash => IocKind::FileSha1,
            IocTypeArg::Sha256 => IocKind::FileSha256,
        }
    }
}

/// Where a sync job writes its IOCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SinkKind {
    /// Apex Central's User-Defined Suspicious Objects list.
    #[value(verbatim_doc_comment)]
    #[default]
    Apex,
    /// Trend Vision One's suspicious-object list.
    #[value(verbatim_doc_comment)]
    VisionOne,
}

impl SinkKind {
    /// The name `--sink` takes.
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Apex => "apex",
            SinkKind::VisionOne => "vision-one",
        }
    }
}

/// Where a sync job reads its IOCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// Lumu Defender's incidents.
    #[value(verbatim_doc_comment)]
    Lumu,
    /// A TAXII 2.1 feed.
    #[value(verbatim_doc_comment)]
    Taxii,
    /// OpenIOC files (--file).
    #[value(verbatim_doc_comment)]
    Openioc,
    /// STIX 2.1 bundles or plain IOC lists (--file).
    #[value(verbatim_doc_comment)]
    File,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Lumu => "lumu",
            SourceKind::Taxii => "taxii",
            SourceKind::Openioc => "openioc",
            SourceKind::File => "file",
        }
    }
}
