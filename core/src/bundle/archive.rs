//! Readers that turn a folder, a `.zip` or a `.tar.gz` into raw entries with their names as
//! bytes. They never create files and never follow links: a link is recorded as a link (and
//! refused by the gates), so nothing in the input can reach outside it. Once the running
//! total passes `budget` bytes, content is no longer kept, only sizes.

use super::RawEntry;
use crate::error::{Error, Result};
use std::fs;
use std::io::Read;
use std::path::Path;

struct Collector {
    entries: Vec<RawEntry>,
    kept: u64,
    budget: u64,
}

impl Collector {
    fn new(budget: u64) -> Self {
        Self {
            entries: Vec::new(),
            kept: 0,
            budget,
        }
    }

    fn file(&mut self, name: Vec<u8>, size: u64, reader: &mut dyn Read) -> std::io::Result<()> {
        let bytes = if self.kept.saturating_add(size) <= self.budget {
            let mut buf = Vec::with_capacity(size as usize);
            reader.take(size.saturating_add(1)).read_to_end(&mut buf)?;
            self.kept += buf.len() as u64;
            Some(buf)
        } else {
            self.kept = self.kept.saturating_add(size);
            None
        };
        let size = bytes.as_ref().map_or(size, |b| b.len() as u64);
        self.entries.push(RawEntry::File { name, size, bytes });
        Ok(())
    }
}

fn unreadable(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("cannot read bundle {}: {err}", path.display()))
}

pub(crate) fn read_folder(root: &Path, budget: u64) -> Result<Vec<RawEntry>> {
    let mut out = Collector::new(budget);
    walk(root, root, &mut out).map_err(|e| unreadable(root, e))?;
    Ok(out.entries)
}

fn walk(root: &Path, dir: &Path, out: &mut Collector) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked paths stay under the root");
        let name = rel_name(rel);
        let kind = fs::symlink_metadata(&path)?.file_type();
        if kind.is_symlink() {
            out.entries.push(RawEntry::Link { name });
        } else if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let size = entry.metadata()?.len();
            out.file(name, size, &mut fs::File::open(&path)?)?;
        } else {
            out.entries.push(RawEntry::Special { name });
        }
    }
    Ok(())
}

/// A relative path as `/`-separated bytes: the OS's own encoding of each name (the raw
/// bytes on Unix, WTF-8 on Windows), which is UTF-8 exactly when the name is valid Unicode.
fn rel_name(rel: &Path) -> Vec<u8> {
    let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_encoded_bytes()).collect();
    parts.join(&b'/')
}

pub(crate) fn read_zip(path: &Path, budget: u64) -> Result<Vec<RawEntry>> {
    let file = fs::File::open(path).map_err(|e| Error::io("open bundle", path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| unreadable(path, e))?;
    let mut out = Collector::new(budget);
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| unreadable(path, e))?;
        let name = entry.name_raw().to_vec();
        if entry.is_dir() {
            continue;
        }
        let mode = entry.unix_mode().unwrap_or(0o100_644) & 0o170_000;
        if entry.is_symlink() {
            out.entries.push(RawEntry::Link { name });
        } else if mode != 0 && mode != 0o100_000 {
            out.entries.push(RawEntry::Special { name });
        } else {
            let size = entry.size();
            out.file(name, size, &mut entry)
                .map_err(|e| unreadable(path, e))?;
        }
    }
    Ok(out.entries)
}

pub(crate) fn read_tar_gz(path: &Path, budget: u64) -> Result<Vec<RawEntry>> {
    let file = fs::File::open(path).map_err(|e| Error::io("open bundle", path, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Collector::new(budget);
    for entry in tar.entries().map_err(|e| unreadable(path, e))? {
        let mut entry = entry.map_err(|e| unreadable(path, e))?;
        let raw = entry.path_bytes().into_owned();
        // `./a` and `a/` are ordinary tar spellings of `a`; anything else is kept as written
        // so the gates can judge it.
        let name = raw.strip_prefix(b"./").unwrap_or(&raw).to_vec();
        let kind = entry.header().entry_type();
        if kind.is_dir() || name.is_empty() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            out.entries.push(RawEntry::Link { name });
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            out.file(name, size, &mut entry)
                .map_err(|e| unreadable(path, e))?;
        } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        } else {
            out.entries.push(RawEntry::Special { name });
        }
    }
    Ok(out.entries)
}
