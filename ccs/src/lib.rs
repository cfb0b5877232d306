//! `ccs`: the cluster configuration, `/etc/cluster/cluster.conf`.
//!
//! This crate owns the file: reading it (with the line and column of every element and
//! attribute), the typed model the rest of the project reads ([`model`]), validation that reports
//! every problem at once ([`validate`]), and the canonical written form ([`write`]).
//! It knows nothing of fencing or running services beyond their configuration.

pub mod cli;
pub mod corosync;
pub mod model;
pub mod resource_types;
pub mod sample;
pub mod schema;
pub mod store;
pub mod sync;
pub mod validate;
pub mod value;
pub mod xml;

use std::path::{Path, PathBuf};

pub use compact_str::CompactString;
pub use model::ClusterConf;
pub use validate::{Diagnostic, Severity};
pub use xml::Loc;

/// The file cman and rgmanager read when none is named.
pub const DEFAULT_PATH: &str = "/etc/cluster/cluster.conf";

/// Why a file could not be turned into a model at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{}:{}: {}", .diagnostic.line, .diagnostic.column, .diagnostic.message)]
    Syntax {
        path: PathBuf,
        diagnostic: Diagnostic,
    },
    /// The file was read but has errors; each is located.
    #[error("{path}: configuration fails to validate ({} error(s))", errors.len())]
    Invalid {
        path: PathBuf,
        errors: Vec<Diagnostic>,
    },
}

/// The result of checking a text: the model when the XML could be read, and every finding.
#[derive(Clone, Debug)]
pub struct Report {
    pub conf: Option<ClusterConf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    pub fn is_valid(&self) -> bool {
        self.conf.is_some() && self.errors().next().is_none()
    }
}

/// Reads a text into the model. Fails only when the text is not well-formed XML or its root is
/// not `<cluster>`; content problems are for [`validate::validate`].
pub fn parse_str(text: &str) -> Result<ClusterConf, Diagnostic> {
    build(text, || model::ModelBuilder::for_text(text)).map(|(conf, _)| conf)
}

/// Reads a text with builders from `builder`: through the fast path, or, when it gives up
/// (anything unusual, any error), again from the start through quick-xml with a new builder.
fn build(
    text: &str,
    builder: impl Fn() -> model::ModelBuilder,
) -> Result<(ClusterConf, Option<validate::ResourcePass>), Diagnostic> {
    let mut b = builder();
    if xml::parse_fast(text, &mut b).is_err() {
        b = builder();
        xml::parse_into(text, &mut b)
            .map_err(|e| Diagnostic::error(e.loc, format!("XML: {}", e.message)))?;
    }
    b.finish_checked().map_err(|(name, loc)| {
        Diagnostic::error(
            loc,
            format!("the root element is <{name}>; cluster.conf starts with <cluster>"),
        )
    })
}

/// Reads and validates a text: the findings of [`validate::validate`] on the model of
/// [`parse_str`]. The resource checks are made while parsing, on each resource as it is read
/// (a large file is read once instead of twice); the findings are the same.
pub fn check_str(text: &str) -> Report {
    let builder = || {
        model::ModelBuilder::for_text(text).checking(validate::ResourcePass::for_text(text.len()))
    };
    match build(text, builder) {
        Ok((conf, pass)) => {
            let diagnostics = validate::validate_streamed(&conf, pass);
            Report {
                conf: Some(conf),
                diagnostics,
            }
        }
        Err(d) => Report {
            conf: None,
            diagnostics: vec![d],
        },
    }
}

/// Reads, parses and validates a file; returns the model only if it has no errors (warnings
/// are returned beside it, for the caller to log).
pub fn load(path: &Path) -> Result<(ClusterConf, Vec<Diagnostic>), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let report = check_str(&text);
    let Some(conf) = report.conf else {
        let diagnostic = report
            .diagnostics
            .into_iter()
            .next()
            .unwrap_or_else(|| Diagnostic::error(Loc::default(), "unreadable"));
        return Err(Error::Syntax {
            path: path.to_path_buf(),
            diagnostic,
        });
    };
    let (errors, warnings): (Vec<_>, Vec<_>) =
        report.diagnostics.into_iter().partition(|d| d.is_error());
    if !errors.is_empty() {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            errors,
        });
    }
    Ok((conf, warnings))
}

/// The canonical written form: XML declaration, tab indentation, attributes in alphabetical
/// order (as luci and ccs wrote them), sections in a fixed order, unknown parts after the known.
pub fn write(conf: &ClusterConf) -> String {
    let mut w = xml::XmlWriter::new();
    conf.write_xml(&mut w);
    w.finish()
}
