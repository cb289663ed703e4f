//! Policy gates a bundle must pass before anything is uploaded: size and count limits,
//! forbidden files (source maps by default), and path safety (no symlinks, absolute paths,
//! `..`, backslashes or control characters, non-UTF-8 names, or paths that collide after
//! Unicode NFC normalisation or case folding). Every violation is collected, so one run
//! tells the release manager everything that is wrong.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// Limits for one app; defaults suit a typical React Native / Capacitor bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Limits {
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_files: u64,
    /// Glob patterns (`*` and `?`) matched against each file's name; matches are refused.
    pub forbidden: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 2 * 1024 * 1024,
            max_file_bytes: 2 * 1024 * 1024,
            max_files: 10_000,
            forbidden: vec!["*.map".to_string()],
        }
    }
}

/// One broken rule. `Display` says what and where in a release manager's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "camelCase")]
pub enum Violation {
    Empty,
    TotalTooLarge {
        bytes: u64,
        limit: u64,
    },
    FileTooLarge {
        path: String,
        bytes: u64,
        limit: u64,
    },
    TooManyFiles {
        count: u64,
        limit: u64,
    },
    Forbidden {
        path: String,
        pattern: String,
    },
    NotUtf8 {
        lossy: String,
    },
    UnsafePath {
        path: String,
        why: &'static str,
    },
    Link {
        path: String,
    },
    SpecialFile {
        path: String,
    },
    Duplicate {
        path: String,
        other: String,
    },
    CaseCollision {
        path: String,
        other: String,
    },
    /// A path that is a file and also the folder of another file (possible in a zip or tar).
    FileAndDirectory {
        path: String,
    },
    InvalidVersion {
        version: String,
        why: String,
    },
    AlreadyReleased {
        version: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the bundle contains no files"),
            Self::TotalTooLarge { bytes, limit } => {
                write!(
                    f,
                    "total size {bytes} bytes exceeds the limit of {limit} bytes"
                )
            }
            Self::FileTooLarge { path, bytes, limit } => {
                write!(
                    f,
                    "{path}: {bytes} bytes exceeds the per-file limit of {limit} bytes"
                )
            }
            Self::TooManyFiles { count, limit } => {
                write!(f, "{count} files exceed the limit of {limit} files")
            }
            Self::Forbidden { path, pattern } => {
                write!(
                    f,
                    "{path}: forbidden file (matches {pattern:?}); remove it from the build"
                )
            }
            Self::NotUtf8 { lossy } => write!(f, "{lossy}: file name is not valid UTF-8"),
            Self::UnsafePath { path, why } => write!(f, "{path:?}: unsafe path ({why})"),
            Self::Link { path } => write!(f, "{path}: symbolic or hard links are not allowed"),
            Self::SpecialFile { path } => {
                write!(f, "{path}: not a regular file (device, fifo or socket)")
            }
            Self::Duplicate { path, other } => {
                write!(
                    f,
                    "{path:?} and {other:?} are the same path after Unicode normalisation"
                )
            }
            Self::FileAndDirectory { path } => write!(
                f,
                "{path}: is both a file and the folder of other files; devices cannot unpack it"
            ),
            Self::CaseCollision { path, other } => write!(
                f,
                "{path:?} and {other:?} differ only in case; they collide on case-insensitive \
                 file systems (iOS, macOS, Windows)"
            ),
            Self::InvalidVersion { version, why } => {
                write!(f, "version {version:?} is not valid: {why}")
            }
            Self::AlreadyReleased { version } => {
                write!(
                    f,
                    "version {version} is already released; pick a new version"
                )
            }
        }
    }
}

/// Why a path is unsafe, if it is. Paths use `/` and are relative to the bundle root.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty name");
    }
    if path.len() > airlock_protocol::manifest::MAX_PATH_LEN {
        return Some("longer than 1,024 bytes, the device limit");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    if path.contains('\\') {
        return Some("contains a backslash");
    }
    if path.contains('\r') || path.contains('\n') {
        return Some("contains CR or LF");
    }
    if path.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    if path.len() > 1 && path.as_bytes()[1] == b':' && path.as_bytes()[0].is_ascii_alphabetic() {
        return Some("drive-letter path");
    }
    for part in path.split('/') {
        match part {
            ".." => return Some("contains `..` (escapes the bundle root)"),
            "." => return Some("contains a `.` component"),
            "" => return Some("contains an empty component (`//` or a trailing `/`)"),
            _ => {}
        }
    }
    None
}

/// Matches a glob (`*` any run, `?` one character) against a file's name.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Gates that need every file's name and size (content is not needed).
pub fn check_files(files: &[(String, u64)], limits: &Limits) -> Vec<Violation> {
    let mut out = Vec::new();
    if files.is_empty() {
        out.push(Violation::Empty);
    }
    let count = files.len() as u64;
    if count > limits.max_files {
        out.push(Violation::TooManyFiles {
            count,
            limit: limits.max_files,
        });
    }
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    if total > limits.max_total_bytes {
        out.push(Violation::TotalTooLarge {
            bytes: total,
            limit: limits.max_total_bytes,
        });
    }
    let mut normalised: HashMap<String, &str> = HashMap::new();
    let mut folded: HashMap<String, &str> = HashMap::new();
    let folders: std::collections::HashSet<&str> = files
        .iter()
        .flat_map(|(path, _)| path.match_indices('/').map(move |(i, _)| &path[..i]))
        .collect();
    for (path, size) in files {
        if folders.contains(path.as_str()) {
            out.push(Violation::FileAndDirectory { path: path.clone() });
        }
        if let Some(why) = path_problem(path) {
            out.push(Violation::UnsafePath {
                path: path.clone(),
                why,
            });
            continue;
        }
        if *size > limits.max_file_bytes {
            out.push(Violation::FileTooLarge {
                path: path.clone(),
                bytes: *size,
                limit: limits.max_file_bytes,
            });
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(pattern) = limits.forbidden.iter().find(|p| glob_matches(p, name)) {
            out.push(Violation::Forbidden {
                path: path.clone(),
                pattern: pattern.clone(),
            });
        }
        let nfc: String = path.nfc().collect();
        if let Some(other) = normalised.insert(nfc.clone(), path) {
            out.push(Violation::Duplicate {
                path: path.clone(),
                other: other.to_string(),
            });
            continue;
        }
        if let Some(other) = folded.insert(nfc.to_lowercase(), path) {
            out.push(Violation::CaseCollision {
                path: path.clone(),
                other: other.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<(String, u64)> {
        names.iter().map(|n| (n.to_string(), 10)).collect()
    }

    #[test]
    fn every_unsafe_path_is_named() {
        for bad in [
            "/abs", "a/../b", "..", "a\\b", "a\nb", "a\rb", "a//b", "./a", "C:x", "a/",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?} must be refused");
        }
        for good in [
            "index.html",
            "assets/app.js",
            "a/b/c.d.e",
            "ünïcode/naïve.js",
        ] {
            assert_eq!(path_problem(good), None, "{good:?} is a fine path");
        }
    }

    #[test]
    fn all_violations_are_listed_at_once() {
        let limits = Limits {
            max_files: 3,
            ..Limits::default()
        };
        let v = check_files(
            &files(&["a.js", "a.js.map", "A.JS", "../x", "b.js"]),
            &limits,
        );
        let rules: Vec<String> = v.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(
            v.len(),
            4,
            "expected count, map, case and path violations: {rules:#?}"
        );
    }

    #[test]
    fn nfc_duplicates_and_case_collisions() {
        let composed = "caf\u{e9}.js";
        let decomposed = "cafe\u{301}.js";
        let v = check_files(&files(&[composed, decomposed]), &Limits::default());
        assert!(matches!(v[..], [Violation::Duplicate { .. }]), "{v:?}");
        let v = check_files(&files(&["Readme.md", "README.md"]), &Limits::default());
        assert!(matches!(v[..], [Violation::CaseCollision { .. }]), "{v:?}");
        let v = check_files(
            &[("a".into(), 1), ("a/b".into(), 1), ("c".repeat(1025), 1)],
            &Limits::default(),
        );
        assert!(
            matches!(
                v[..],
                [
                    Violation::FileAndDirectory { .. },
                    Violation::UnsafePath { .. }
                ]
            ),
            "a file that is also a folder, and a path over the device limit, fail the gates: {v:?}"
        );
    }

    #[test]
    fn sizes_and_empty() {
        let limits = Limits {
            max_total_bytes: 15,
            max_file_bytes: 8,
            ..Limits::default()
        };
        let v = check_files(&files(&["a", "b"]), &limits);
        assert_eq!(v.len(), 3, "total plus two oversized files: {v:?}");
        assert_eq!(check_files(&[], &Limits::default()), vec![Violation::Empty]);
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*.map", "main.js.map"));
        assert!(!glob_matches("*.map", "main.js.mapx"));
        assert!(glob_matches("?.txt", "a.txt"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*b", "ac"));
    }
}
