//! A bundle as published: a flat list of files with `/`-separated relative paths, read from
//! a folder, a `.zip` or a `.tar.gz`, and checked by the policy gates before any byte leaves
//! the machine. Reading records every entry — including the ones that break a rule (links,
//! special files, names that are not UTF-8) — so [`read`] can report all violations at once.
//! Content past the size limit is not kept in memory.

pub mod archive;
pub mod policy;

use crate::error::{Error, Result};
use policy::{Limits, Violation};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A bundle that passed every gate; files sorted by path bytewise.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub source: String,
    pub files: Vec<BundleFile>,
}

impl Bundle {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// One entry as found in the input, before the gates.
#[derive(Debug)]
pub(crate) enum RawEntry {
    File {
        name: Vec<u8>,
        size: u64,
        bytes: Option<Vec<u8>>,
    },
    Link {
        name: Vec<u8>,
    },
    Special {
        name: Vec<u8>,
    },
}

/// Reads and gates a bundle. `extra` holds violations found by the caller (such as an
/// invalid version) so that they are reported together with the bundle's own.
pub fn read(path: &Path, limits: &Limits, extra: Vec<Violation>) -> Result<Bundle> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read bundle", path, e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_lowercase();
    let budget = limits.max_total_bytes;
    let entries = if meta.is_dir() {
        archive::read_folder(path, budget)?
    } else if name.ends_with(".zip") {
        archive::read_zip(path, budget)?
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        archive::read_tar_gz(path, budget)?
    } else {
        return Err(Error::InvalidInput(format!(
            "{source}: a bundle must be a folder, a .zip or a .tar.gz"
        )));
    };
    let mut violations = extra;
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    for entry in entries {
        let name = match &entry {
            RawEntry::File { name, .. } | RawEntry::Link { name } | RawEntry::Special { name } => {
                name
            }
        };
        let Ok(path) = std::str::from_utf8(name).map(str::to_string) else {
            violations.push(Violation::NotUtf8 {
                lossy: String::from_utf8_lossy(name).into(),
            });
            continue;
        };
        match entry {
            RawEntry::File { size, bytes, .. } => {
                sizes.push((path.clone(), size));
                files.push((path, bytes));
            }
            RawEntry::Link { .. } => violations.push(Violation::Link { path }),
            RawEntry::Special { .. } => violations.push(Violation::SpecialFile { path }),
        }
    }
    violations.extend(policy::check_files(&sizes, limits));
    if !violations.is_empty() {
        return Err(Error::Gates {
            bundle: source,
            violations,
        });
    }
    let mut files: Vec<BundleFile> = files
        .into_iter()
        .map(|(path, bytes)| BundleFile {
            bytes: bytes.expect("content is kept for every file while within the size limit"),
            path,
        })
        .collect();
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(Bundle { source, files })
}
