//! The policy gates, one bad input at a time and several at once: every refusal is a `Gate`
//! error (or `InvalidInput` when the input cannot be read as a bundle at all) naming the
//! broken rule, and nothing reaches the store — the gates run before the first upload, so a
//! refused bundle leaves the store folder byte-for-byte as it was.

mod common;

use airlock_core::bundle::policy::{Limits, Violation};
use airlock_core::config::Config;
use airlock_core::progress::Silent;
use airlock_core::{Error, ErrorKind, Workspace};
use common::*;
use std::io::Write;
use std::path::Path;
use tempfile::TempDir;

/// Releases `path` as `version` and returns the violations, checking that the error is a
/// gate refusal and that the store did not change.
async fn violations(env: &Env, ws: &Workspace, version: &str, path: &Path) -> Vec<Violation> {
    let before = env.store_files();
    let result = release_path(ws, version, path).await;
    let (kind, err) = kind_of(&format!("releasing {}", path.display()), result);
    assert_eq!(
        kind,
        ErrorKind::Gate,
        "a bundle breaking a rule is a gate refusal: {err}"
    );
    assert!(
        kind.is_refusal(),
        "gate refusals exit with the refusal code"
    );
    assert_eq!(
        env.store_files(),
        before,
        "a refused bundle must not write anything to the store ({err})"
    );
    let text = err.to_string();
    match err {
        Error::Gates { violations, .. } => {
            for v in &violations {
                assert!(
                    text.contains(&v.to_string()),
                    "the message must list {v}: {text}"
                );
            }
            violations
        }
        other => panic!("expected Error::Gates, got {other:?}"),
    }
}

/// As [`violations`], on an empty store, also checking that the store folder holds nothing.
async fn refused_on_empty_store(env: &Env, version: &str, path: &Path) -> Vec<Violation> {
    let ws = env.console().await;
    let found = violations(env, &ws, version, path).await;
    assert!(
        env.store_files().is_empty(),
        "the store must still be empty: {:?}",
        env.store_files()
    );
    found
}

fn limited(limits: Limits) -> Env {
    Env::with_config(|c: &mut Config| {
        c.apps.insert(APP.into(), limits);
    })
}

fn unsafe_paths(v: &[Violation]) -> Vec<(&str, &str)> {
    v.iter()
        .filter_map(|v| match v {
            Violation::UnsafePath { path, why } => Some((path.as_str(), *why)),
            _ => None,
        })
        .collect()
}

fn zip_bundle(entries: &[(&str, Option<&[u8]>)]) -> (TempDir, std::path::PathBuf) {
    use zip::write::SimpleFileOptions;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bundle.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("the zip is created"));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in entries {
        match content {
            Some(bytes) => {
                zip.start_file(*name, options).expect("a zip entry starts");
                zip.write_all(bytes).expect("a zip entry is written");
            }
            // A symbolic link: unix mode 0o120777, target as content.
            None => zip
                .add_symlink(*name, "/etc/passwd", options)
                .expect("a link entry"),
        }
    }
    zip.finish().expect("the zip is finished");
    (dir, path)
}

enum TarEntry<'a> {
    /// A regular file whose raw name is written as is (even `../x`, which `tar` refuses).
    File(&'a [u8], &'a [u8]),
    Symlink(&'a str, &'a str),
    Fifo(&'a str),
}

fn tar_gz_bundle(entries: &[TarEntry<'_>]) -> (TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bundle.tar.gz");
    let file = std::fs::File::create(&path).expect("the archive is created");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        match entry {
            TarEntry::File(name, content) => {
                let raw = &mut header.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
                header.set_cksum();
                tar.append(&header, *content)
                    .expect("a tar entry is written");
            }
            TarEntry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, name, target)
                    .expect("a link entry is written");
            }
            TarEntry::Fifo(name) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_size(0);
                tar.append_data(&mut header, name, std::io::empty())
                    .expect("a fifo entry");
            }
        }
    }
    tar.into_inner()
        .expect("the tar is finished")
        .finish()
        .expect("the gzip is finished");
    (dir, path)
}

const JS: &[u8] = b"console.log('hi');\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_maps_are_forbidden_by_default() {
    let env = Env::new();
    let dir = bundle(&[
        ("main.js", JS),
        ("main.js.map", b"{}"),
        ("sub/vendor.js.map", b"{}"),
    ]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    let forbidden: Vec<&str> = v
        .iter()
        .filter_map(|v| match v {
            Violation::Forbidden { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        forbidden,
        ["main.js.map", "sub/vendor.js.map"],
        "every map is named: {v:?}"
    );
    assert_eq!(v.len(), 2, "nothing else is wrong with this bundle: {v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_count_limits_come_from_the_app_settings() {
    let env = limited(Limits {
        max_total_bytes: 100,
        ..Limits::default()
    });
    let dir = bundle(&[("a.js", &[b'a'; 60]), ("b.js", &[b'b'; 60])]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert_eq!(
        v,
        [Violation::TotalTooLarge {
            bytes: 120,
            limit: 100
        }],
        "120 > 100 bytes"
    );

    let env = limited(Limits {
        max_file_bytes: 50,
        ..Limits::default()
    });
    let dir = bundle(&[("small.js", &[b'a'; 50]), ("big.js", &[b'b'; 80])]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert_eq!(
        v,
        [Violation::FileTooLarge {
            path: "big.js".into(),
            bytes: 80,
            limit: 50
        }],
        "only the file over the limit is named"
    );

    let env = limited(Limits {
        max_files: 3,
        ..Limits::default()
    });
    let dir = bundle(&[("1.js", JS), ("2.js", JS), ("3.js", JS), ("4.js", JS)]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert_eq!(
        v,
        [Violation::TooManyFiles { count: 4, limit: 3 }],
        "4 files > 3"
    );

    // The same limits let a bundle that fits through: the gates are not refusing everything.
    let env = limited(Limits {
        max_files: 3,
        max_file_bytes: 50,
        ..Limits::default()
    });
    let ws = env.console().await;
    let dir = bundle(&[("1.js", JS), ("2.js", JS), ("3.js", JS)]);
    release_path(&ws, "1.0.0", dir.path())
        .await
        .expect("a bundle within the limits is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_a_folder_are_refused_not_followed() {
    let env = Env::new();
    let dir = bundle(&[("main.js", JS)]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).expect("a symlink");
    std::os::unix::fs::symlink("main.js", dir.path().join("alias.js")).expect("a symlink");
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert_eq!(
        v,
        [
            Violation::Link {
                path: "alias.js".into()
            },
            Violation::Link {
                path: "passwd".into()
            }
        ],
        "links are refused even when they point inside the bundle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_entries_that_escape_or_link_are_refused() {
    let env = Env::new();
    let (_d, zip) = zip_bundle(&[("main.js", Some(JS)), ("../evil", Some(b"x"))]);
    let v = refused_on_empty_store(&env, "1.0.0", &zip).await;
    assert_eq!(
        unsafe_paths(&v).len(),
        1,
        "the `..` entry must be refused: {v:?}"
    );
    assert_eq!(unsafe_paths(&v)[0].0, "../evil");

    let (_d, zip) = zip_bundle(&[("main.js", Some(JS)), ("/etc/x", Some(b"x"))]);
    let v = refused_on_empty_store(&env, "1.0.0", &zip).await;
    assert_eq!(unsafe_paths(&v), [("/etc/x", "absolute path")], "{v:?}");

    let (_d, zip) = zip_bundle(&[("main.js", Some(JS)), ("link.js", None)]);
    let v = refused_on_empty_store(&env, "1.0.0", &zip).await;
    assert_eq!(
        v,
        [Violation::Link {
            path: "link.js".into()
        }],
        "a 0o120777 entry is a link"
    );

    let (_d, zip) = zip_bundle(&[("main.js", Some(JS)), ("assets/a.css", Some(b"a{}"))]);
    let ws = env.console().await;
    let out = release_path(&ws, "1.0.0", &zip)
        .await
        .expect("a clean zip is released");
    assert_eq!(out.files, 2, "both zip entries are published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tar_gz_entries_that_escape_link_or_are_special_are_refused() {
    let env = Env::new();
    let (_d, tgz) = tar_gz_bundle(&[
        TarEntry::File(b"main.js", JS),
        TarEntry::File(b"../x", b"x"),
    ]);
    let v = refused_on_empty_store(&env, "1.0.0", &tgz).await;
    assert_eq!(
        unsafe_paths(&v).len(),
        1,
        "the `../` entry must be refused: {v:?}"
    );
    assert_eq!(unsafe_paths(&v)[0].0, "../x");

    let (_d, tgz) = tar_gz_bundle(&[
        TarEntry::File(b"main.js", JS),
        TarEntry::Symlink("link.js", "../../etc/passwd"),
    ]);
    let v = refused_on_empty_store(&env, "1.0.0", &tgz).await;
    assert_eq!(
        v,
        [Violation::Link {
            path: "link.js".into()
        }],
        "{v:?}"
    );

    let (_d, tgz) = tar_gz_bundle(&[TarEntry::File(b"main.js", JS), TarEntry::Fifo("pipe")]);
    let v = refused_on_empty_store(&env, "1.0.0", &tgz).await;
    assert_eq!(
        v,
        [Violation::SpecialFile {
            path: "pipe".into()
        }],
        "{v:?}"
    );

    let (_d, tgz) = tar_gz_bundle(&[TarEntry::File(b"./main.js", JS)]);
    let ws = env.console().await;
    let out = release_path(&ws, "1.0.0", &tgz)
        .await
        .expect("`./main.js` is an ordinary name");
    assert_eq!(out.files, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_cr_and_lf_in_names_are_refused() {
    let env = Env::new();
    let dir = bundle(&[
        ("ok.js", JS),
        ("a\\b.js", JS),
        ("cr\r.js", JS),
        ("lf\n.js", JS),
    ]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    let mut found = unsafe_paths(&v);
    found.sort();
    assert_eq!(
        found,
        [
            ("a\\b.js", "contains a backslash"),
            ("cr\r.js", "contains CR or LF"),
            ("lf\n.js", "contains CR or LF")
        ],
        "each unsafe name is reported with its reason: {v:?}"
    );
    assert_eq!(v.len(), 3, "ok.js is fine: {v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_collide_after_normalisation_or_case_folding_are_refused() {
    let env = Env::new();
    let composed = "caf\u{e9}.js";
    let decomposed = "cafe\u{301}.js";
    let dir = bundle(&[(composed, JS), (decomposed, b"other")]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert!(
        matches!(&v[..], [Violation::Duplicate { .. }]),
        "NFC-equal names are the same file on macOS/iOS: {v:?}"
    );

    let dir = bundle(&[("Readme.md", JS), ("README.md", JS), ("docs/a.md", JS)]);
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert!(
        matches!(&v[..], [Violation::CaseCollision { path, other }]
            if [path.as_str(), other.as_str()].contains(&"Readme.md")
                && [path.as_str(), other.as_str()].contains(&"README.md")),
        "names differing only in case collide on case-insensitive systems: {v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let dir = bundle(&[("main.js", JS)]);
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.js");
    std::fs::write(dir.path().join(name), JS).expect("Linux accepts any bytes in a name");
    let v = refused_on_empty_store(&env, "1.0.0", dir.path()).await;
    assert_eq!(
        v,
        [Violation::NotUtf8 {
            lossy: "bad\u{fffd}.js".into()
        }],
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_bundles_and_bad_versions_are_refused() {
    let env = Env::new();
    let empty = tempfile::tempdir().expect("a temporary folder");
    let v = refused_on_empty_store(&env, "1.0.0", empty.path()).await;
    assert_eq!(v, [Violation::Empty], "an empty folder is not a release");

    let dir = bundle(&[("main.js", JS)]);
    for bad in ["1.0", "v1.0.0", "1.0.0+build.5", "01.0.0"] {
        let v = refused_on_empty_store(&env, bad, dir.path()).await;
        assert!(
            matches!(&v[..], [Violation::InvalidVersion { version, .. }] if version == bad),
            "{bad:?} is not a canonical semantic version: {v:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_already_released_version_is_refused_without_new_writes() {
    let env = Env::new();
    let ws = env.console().await;
    release(&ws, "ana", APP, "1.0.0")
        .await
        .expect("the first 1.0.0 is released");
    assert!(
        !env.store_files().is_empty(),
        "the first release wrote objects"
    );
    let other = bundle(&[("main.js", b"a different 1.0.0")]);
    let v = violations(&env, &ws, "1.0.0", other.path()).await;
    assert_eq!(
        v,
        [Violation::AlreadyReleased {
            version: "1.0.0".into()
        }],
        "{v:?}"
    );

    // A second console with its own registry knows it too: the log is the truth.
    let second = env.console().await;
    let v = violations(&env, &second, "1.0.0", other.path()).await;
    assert_eq!(
        v,
        [Violation::AlreadyReleased {
            version: "1.0.0".into()
        }],
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_violation_is_listed_in_one_error() {
    use std::os::unix::ffi::OsStrExt;
    let env = limited(Limits {
        max_file_bytes: 10,
        ..Limits::default()
    });
    let dir = bundle(&[
        ("main.js", JS),
        ("main.js.map", b"{}"),
        ("Logo.png", b"1"),
        ("logo.png", b"2"),
        ("a\\b", b"3"),
    ]);
    std::os::unix::fs::symlink("main.js", dir.path().join("link.js")).expect("a symlink");
    std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"x\xfe")), b"4").expect("a file");
    let v = refused_on_empty_store(&env, "not-a-version", dir.path()).await;
    let rules: Vec<String> = v
        .iter()
        .map(|v| serde_json::to_value(v).expect("violations serialise")["rule"].to_string())
        .collect();
    for rule in [
        "invalidVersion",
        "fileTooLarge",
        "forbidden",
        "caseCollision",
        "unsafePath",
        "link",
        "notUtf8",
    ] {
        assert!(
            rules.contains(&format!("\"{rule}\"")),
            "one run must report every broken rule, {rule} among them: {v:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_that_are_not_bundles_are_invalid_input_and_write_nothing() {
    let env = Env::new();
    let ws = env.console().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rar = dir.path().join("bundle.rar");
    std::fs::write(&rar, b"Rar!").expect("a file");
    let missing = dir.path().join("missing");
    let not_a_zip = dir.path().join("bundle.zip");
    std::fs::write(&not_a_zip, b"not a zip").expect("a file");
    for path in [&rar, &missing, &not_a_zip] {
        let result = release_path(&ws, "1.0.0", path).await;
        let (kind, err) = kind_of(&format!("releasing {}", path.display()), result);
        assert_eq!(
            kind,
            ErrorKind::InvalidInput,
            "an unreadable bundle is bad input: {err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "names the input: {err}"
        );
    }
    let bad_app = ws
        .release(
            &by("ana"),
            &release_request("../shop", "1.0.0", dir.path()),
            &Silent,
        )
        .await;
    let (kind, err) = kind_of("releasing an app named ../shop", bad_app);
    assert_eq!(kind, ErrorKind::InvalidInput, "{err}");
    assert!(
        env.store_files().is_empty(),
        "nothing may be written: {:?}",
        env.store_files()
    );
}
