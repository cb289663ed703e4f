//! The bundle manifest: every file of a release with its hash and size, and the bundle hash.
//!
//! Invariant: a manifest that passes [`Manifest::check`] lists at least one file, in strictly
//! increasing bytewise path order, with safe relative paths, and its `bundleHash` is what
//! `sha256sum` over the bundle folder gives (see [`bundle_hash`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::digest::{is_sha256_hex, sha256_hex};
use crate::layout::{validate_app_name, validate_version};

/// The longest file path in a bundle, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// One bundle file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path with `/` separators, e.g. `assets/app.js`.
    pub path: String,
    /// Lowercase hex SHA-256 of the content; the blob lives at `blobs/sha256/<sha256>`.
    pub sha256: String,
    /// Content length in bytes.
    pub size: u64,
}

/// `apps/<app>/releases/<version>/manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// The app, e.g. `shop-ios`.
    pub app: String,
    /// The release version, e.g. `1.4.0`.
    pub version: String,
    /// The files, sorted by path bytewise.
    pub files: Vec<FileEntry>,
    /// See [`bundle_hash`].
    pub bundle_hash: String,
}

/// SHA-256 (hex) of the lines `"<sha256>  <path>\n"` sorted by path bytewise: exactly what
/// `find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`
/// prints in the bundle folder. Sorts a copy; the input order does not matter.
pub fn bundle_hash(files: &[FileEntry]) -> String {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut lines = String::new();
    for file in sorted {
        lines.push_str(&format!("{}  {}\n", file.sha256, file.path));
    }
    sha256_hex(lines.as_bytes())
}

impl Manifest {
    /// A manifest for `files` (in any order): sorts them by path and computes the bundle hash.
    pub fn new(app: impl Into<String>, version: impl Into<String>, files: Vec<FileEntry>) -> Self {
        let mut files = files;
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let bundle_hash = bundle_hash(&files);
        Manifest {
            app: app.into(),
            version: version.into(),
            files,
            bundle_hash,
        }
    }

    /// The canonical bytes: pretty-printed JSON (2-space indent) followed by `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Parses manifest JSON. Only the shape is checked here; call [`Manifest::check`] too.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::malformed("manifest", e))
    }

    /// Checks names, the file list (non-empty, sorted, unique, safe paths, hash shapes) and
    /// that `bundleHash` recomputes from the files.
    pub fn check(&self) -> Result<(), Error> {
        validate_app_name(&self.app)?;
        validate_version(&self.version)?;
        if self.files.is_empty() {
            return Err(Error::malformed(
                "manifest",
                "a bundle must contain at least one file",
            ));
        }
        let mut directories = BTreeSet::new();
        for (i, file) in self.files.iter().enumerate() {
            check_path(&file.path)?;
            if !is_sha256_hex(&file.sha256) {
                let detail = format!("{}: sha256 must be 64 lowercase hex digits", file.path);
                return Err(Error::malformed("manifest", detail));
            }
            if i > 0 && self.files[i - 1].path.as_bytes() >= file.path.as_bytes() {
                let detail = format!("{:?} is duplicated or out of bytewise order", file.path);
                return Err(Error::malformed("manifest", detail));
            }
            let mut dir = file.path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                directories.insert(parent);
                dir = parent;
            }
        }
        if let Some(file) = self
            .files
            .iter()
            .find(|f| directories.contains(f.path.as_str()))
        {
            let detail = format!("{:?} is both a file and a directory", file.path);
            return Err(Error::malformed("manifest", detail));
        }
        let expected = bundle_hash(&self.files);
        if self.bundle_hash != expected {
            let detail = format!(
                "bundleHash is {} but the files give {expected}",
                self.bundle_hash
            );
            return Err(Error::malformed("manifest", detail));
        }
        Ok(())
    }
}

/// A bundle path must be relative, `/`-separated, without empty, `.` or `..` segments, and free
/// of backslashes and control characters (which `sha256sum` would escape).
fn check_path(path: &str) -> Result<(), Error> {
    let fail = |why: &str| {
        Err(Error::malformed(
            "manifest",
            format!("path {path:?}: {why}"),
        ))
    };
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return fail(&format!("must be 1 to {MAX_PATH_LEN} bytes long"));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return fail("control characters and backslashes are not allowed");
    }
    if path
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return fail("must be relative, with no empty, '.' or '..' segments");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &[u8]) -> FileEntry {
        FileEntry {
            path: path.into(),
            sha256: sha256_hex(content),
            size: content.len() as u64,
        }
    }

    fn sample() -> Manifest {
        Manifest::new(
            "shop-ios",
            "1.4.0",
            vec![entry("b.js", b"b"), entry("a/x.js", b"x")],
        )
    }

    #[test]
    fn new_sorts_and_round_trips() {
        let m = sample();
        assert_eq!(m.files[0].path, "a/x.js", "files are sorted by path");
        m.check().expect("a fresh manifest is consistent");
        assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
        assert!(
            m.to_bytes().ends_with(b"}\n"),
            "canonical bytes end with a newline"
        );
    }

    #[test]
    fn bundle_hash_ignores_input_order() {
        let files = vec![entry("b", b"1"), entry("a", b"2")];
        let reversed: Vec<_> = files.iter().rev().cloned().collect();
        assert_eq!(bundle_hash(&files), bundle_hash(&reversed));
    }

    #[test]
    fn check_refuses_inconsistencies() {
        let mut m = sample();
        m.bundle_hash = sha256_hex(b"other");
        assert!(m.check().unwrap_err().to_string().contains("bundleHash"));

        let mut m = sample();
        m.files.swap(0, 1);
        assert!(m.check().is_err(), "out-of-order files must be refused");

        let mut m = sample();
        m.files.push(m.files[1].clone());
        m.bundle_hash = bundle_hash(&m.files);
        assert!(m.check().is_err(), "duplicate paths must be refused");

        let m = Manifest::new("shop-ios", "1.4.0", vec![]);
        assert!(m.check().is_err(), "empty bundles must be refused");

        let m = Manifest::new(
            "shop-ios",
            "1.4.0",
            vec![entry("a", b""), entry("a/b", b"")],
        );
        assert!(
            m.check().is_err(),
            "'a' cannot be both a file and a directory"
        );

        let mut m = sample();
        m.files[0].sha256 = m.files[0].sha256.to_uppercase();
        assert!(m.check().is_err(), "hashes must be lowercase hex");
    }

    #[test]
    fn check_refuses_unsafe_paths() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\nb",
            "",
        ] {
            let m = Manifest::new("shop-ios", "1.4.0", vec![entry(bad, b"")]);
            assert!(
                m.check().is_err(),
                "{bad:?} must be refused as a bundle path"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = br#"{"app":"a","version":"1.0.0","files":[],"bundleHash":"x","extra":1}"#;
        assert!(
            Manifest::from_bytes(json).is_err(),
            "devices refuse what they don't understand"
        );
    }
}
