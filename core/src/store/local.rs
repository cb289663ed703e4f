//! A store in a local folder (`file:///abs/dir`; the folder is the store's root and is
//! created if missing). Create-only writes go to a temporary file that is then hard-linked
//! into place — `link` fails if the target exists, so of two writers exactly one wins and a
//! crash leaves the whole object or none. Pointer replacement takes an exclusive lock on a
//! sibling lock file, compares the etag (SHA-256 of the bytes) and renames a temporary file
//! over the old one. Blocking file work runs on tokio's blocking pool.

use super::{ObjectClass, PutOutcome, Store, StoredObject};
use crate::error::{Error, Result};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::limits::Cap;
use async_trait::async_trait;
use std::fs;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    url: String,
}

impl LocalStore {
    pub fn open(path: &str) -> Result<Self> {
        let root = PathBuf::from(path);
        if !root.is_absolute() {
            return Err(Error::Config(format!(
                "store file://{path}: the path must be absolute (file:///abs/dir)"
            )));
        }
        fs::create_dir_all(&root).map_err(|e| Error::Store {
            store: format!("file://{path}"),
            op: "create folder",
            key: String::new(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            url: format!("file://{}", root.display()),
            root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        let valid = !key.is_empty()
            && !key.starts_with('/')
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !valid {
            return Err(self.err("resolve", key, "not a valid object key".into()));
        }
        Ok(self.root.join(key))
    }

    fn err(&self, op: &'static str, key: &str, detail: String) -> Error {
        Error::Store {
            store: self.url.clone(),
            op,
            key: key.to_string(),
            detail,
        }
    }

    fn write_temp(&self, target: &Path, bytes: &[u8]) -> std::io::Result<tempfile::TempPath> {
        let dir = target
            .parent()
            .expect("object keys always have a parent folder");
        fs::create_dir_all(dir)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".tmp-");
        // Objects are readable by others as the umask allows (a web server running as
        // another user serves this folder to devices); tempfile's default is owner-only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        Ok(tmp.into_temp_path())
    }

    fn get_blocking(&self, key: &str, cap: Cap) -> Result<Option<StoredObject>> {
        let path = self.path_of(key)?;
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("read", key, e.to_string())),
        };
        let size = file
            .metadata()
            .map_err(|e| self.err("read", key, e.to_string()))?
            .len();
        cap.check(key, size)?;
        // The file may grow after the size was read: never hold more than the cap + 1.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(cap.bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.err("read", key, e.to_string()))?;
        cap.check(key, bytes.len() as u64)?;
        Ok(Some(StoredObject {
            etag: sha256_hex(&bytes),
            bytes,
        }))
    }

    /// The etag of `key` (the SHA-256 of its bytes), hashed as it streams: whatever its size,
    /// nothing of it is held.
    fn etag_blocking(&self, key: &str) -> Result<Option<String>> {
        let path = self.path_of(key)?;
        let mut file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("read", key, e.to_string())),
        };
        let mut hasher = airlock_protocol::digest::Sha256Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| self.err("read", key, e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Some(hasher.finish()))
    }

    fn put_new_blocking(&self, key: &str, bytes: &[u8]) -> Result<PutOutcome> {
        let path = self.path_of(key)?;
        if path.exists() {
            return Ok(PutOutcome::AlreadyExists);
        }
        let tmp = self
            .write_temp(&path, bytes)
            .map_err(|e| self.err("write", key, e.to_string()))?;
        match fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(PutOutcome::Created),
            Err(e) if e.kind() == IoKind::AlreadyExists => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.err("link", key, e.to_string())),
        }
        // `tmp` is removed when dropped.
    }

    fn replace_blocking(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<()> {
        let path = self.path_of(key)?;
        let dir = path
            .parent()
            .expect("object keys always have a parent folder");
        fs::create_dir_all(dir).map_err(|e| self.err("create folder", key, e.to_string()))?;
        let lock_path = path.with_extension("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.err("lock", key, e.to_string()))?;
        lock.lock()
            .map_err(|e| self.err("lock", key, e.to_string()))?;
        let current = self.etag_blocking(key)?;
        if current.as_deref() != expected {
            return Err(Error::Conflict(format!(
                "{key} in {} changed since it was read (another console wrote it); \
                 re-run the command to act on the new state",
                self.url
            )));
        }
        let tmp = self
            .write_temp(&path, bytes)
            .map_err(|e| self.err("write", key, e.to_string()))?;
        tmp.persist(&path)
            .map_err(|e| self.err("rename", key, e.error.to_string()))?;
        Ok(())
        // The lock is released when `lock` is dropped (also if the process dies).
    }

    fn list_blocking(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>> {
        let (dir_key, name_prefix) = match prefix.rsplit_once('/') {
            Some((dir, rest)) => (dir, rest),
            None => ("", prefix),
        };
        let dir = if dir_key.is_empty() {
            self.root.clone()
        } else {
            self.path_of(dir_key)?
        };
        let mut keys = Vec::new();
        collect_files(&dir, dir_key, &mut keys)
            .map_err(|e| self.err("list", prefix, e.to_string()))?;
        keys.retain(|k| {
            let rel = k.strip_prefix(dir_key).unwrap_or(k).trim_start_matches('/');
            rel.starts_with(name_prefix)
                && start_after.is_none_or(|after| k.as_str() > after)
                && !is_internal(k)
        });
        keys.sort();
        Ok(keys)
    }
}

/// Temporary and lock files are the store's own, never objects.
fn is_internal(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.starts_with(".tmp-") || name.ends_with(".lock")
}

fn collect_files(dir: &Path, key_prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let key = if key_prefix.is_empty() {
            name
        } else {
            format!("{key_prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            collect_files(&entry.path(), &key, out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::Store {
            store: "file".into(),
            op: "run",
            key: String::new(),
            detail: format!("worker failed: {e}"),
        })
    })
}

#[async_trait]
impl Store for LocalStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get(&self, key: &str, cap: Cap) -> Result<Option<StoredObject>> {
        let (me, key) = (self.clone(), key.to_string());
        blocking(move || me.get_blocking(&key, cap)).await
    }

    async fn put_new(&self, key: &str, bytes: &[u8], _class: ObjectClass) -> Result<PutOutcome> {
        let (me, key, bytes) = (self.clone(), key.to_string(), bytes.to_vec());
        blocking(move || me.put_new_blocking(&key, &bytes)).await
    }

    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        _class: ObjectClass,
    ) -> Result<()> {
        let (me, key, bytes) = (self.clone(), key.to_string(), bytes.to_vec());
        let expected = expected.map(str::to_string);
        blocking(move || me.replace_blocking(&key, &bytes, expected.as_deref())).await
    }

    async fn etag(&self, key: &str) -> Result<Option<String>> {
        let (me, key) = (self.clone(), key.to_string());
        blocking(move || me.etag_blocking(&key)).await
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>> {
        let (me, prefix) = (self.clone(), prefix.to_string());
        let start_after = start_after.map(str::to_string);
        blocking(move || me.list_blocking(&prefix, start_after.as_deref())).await
    }

    async fn modified(&self, key: &str) -> Result<Option<airlock_protocol::time::Timestamp>> {
        let path = self.path_of(key)?;
        let (me, key) = (self.url.clone(), key.to_string());
        blocking(
            move || match fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(t) => Ok(Some(airlock_protocol::time::Timestamp::from_datetime(
                    t.into(),
                ))),
                Err(e) if e.kind() == IoKind::NotFound => Ok(None),
                Err(e) => Err(Error::Store {
                    store: me,
                    op: "stat",
                    key,
                    detail: e.to_string(),
                }),
            },
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let (me, key) = (self.clone(), key.to_string());
        blocking(move || {
            let path = me.path_of(&key)?;
            match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == IoKind::NotFound => Ok(()),
                Err(e) => Err(me.err("delete", &key, e.to_string())),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().to_str().unwrap()).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_1_gb_object_is_refused_by_its_cap_without_being_read() {
        let (dir, s) = store();
        let key = "apps/shop/log/00000000000000000002.json";
        let path = dir.path().join(key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Sparse: a gigabyte that takes no disk and would take a gigabyte of memory to read.
        fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
        let err = s.get(key, Cap::LOG_ENTRY).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Protocol(airlock_protocol::Error::OverCap { cap: 65536, .. })
            ),
            "refused by the log entry's cap, naming it: {err}"
        );
        assert!(err.to_string().contains(key), "the key is named: {err}");
    }

    /// A web server running as another user serves the folder to devices, so objects are
    /// as readable as the umask allows (here 022: everyone may read), never owner-only.
    #[cfg(unix)]
    #[tokio::test]
    async fn objects_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let (d, s) = store();
        s.put_new("blobs/x", b"1", ObjectClass::Immutable)
            .await
            .unwrap();
        s.replace("apps/p.json", b"1", None, ObjectClass::Pointer)
            .await
            .unwrap();
        for key in ["blobs/x", "apps/p.json"] {
            let mode = fs::metadata(d.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            let umask_allows_read = mode & 0o044 != 0 || current_umask() & 0o044 == 0o044;
            assert!(
                umask_allows_read,
                "{key} has mode {mode:o}; others must be able to read it"
            );
        }
    }

    /// The process umask, read without changing it (Linux exposes it in /proc).
    #[cfg(unix)]
    fn current_umask() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    }

    #[tokio::test]
    async fn put_new_never_overwrites() {
        let (_d, s) = store();
        assert_eq!(
            s.put_new("a/b", b"one", ObjectClass::Log).await.unwrap(),
            PutOutcome::Created
        );
        assert_eq!(
            s.put_new("a/b", b"two", ObjectClass::Log).await.unwrap(),
            PutOutcome::AlreadyExists
        );
        assert_eq!(
            s.get("a/b", Cap::new("object", u64::MAX))
                .await
                .unwrap()
                .unwrap()
                .bytes,
            b"one",
            "first write must stay"
        );
    }

    #[tokio::test]
    async fn replace_is_compare_and_swap() {
        let (_d, s) = store();
        s.replace("p", b"v1", None, ObjectClass::Pointer)
            .await
            .unwrap();
        let etag = s
            .get("p", Cap::new("object", u64::MAX))
            .await
            .unwrap()
            .unwrap()
            .etag;
        let stale = s.replace("p", b"x", None, ObjectClass::Pointer).await;
        assert!(
            matches!(stale, Err(Error::Conflict(_))),
            "absent-expected write must conflict"
        );
        s.replace("p", b"v2", Some(&etag), ObjectClass::Pointer)
            .await
            .unwrap();
        let again = s
            .replace("p", b"v3", Some(&etag), ObjectClass::Pointer)
            .await;
        assert!(
            matches!(again, Err(Error::Conflict(_))),
            "an old etag must conflict"
        );
        assert_eq!(
            s.get("p", Cap::new("object", u64::MAX))
                .await
                .unwrap()
                .unwrap()
                .bytes,
            b"v2"
        );
    }

    #[tokio::test]
    async fn list_is_sorted_filtered_and_skips_internal_files() {
        let (_d, s) = store();
        for k in ["log/02", "log/01", "log/03", "other/x"] {
            s.put_new(k, b"", ObjectClass::Log).await.unwrap();
        }
        s.replace("log/ptr", b"", None, ObjectClass::Pointer)
            .await
            .unwrap();
        let all = s.list("log/0", None).await.unwrap();
        assert_eq!(all, ["log/01", "log/02", "log/03"]);
        let after = s.list("log/0", Some("log/01")).await.unwrap();
        assert_eq!(after, ["log/02", "log/03"]);
        assert!(s.list("missing/", None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let (_d, s) = store();
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", ""] {
            assert!(
                s.get(bad, Cap::new("object", u64::MAX)).await.is_err(),
                "key {bad:?} must be refused"
            );
        }
    }
}
