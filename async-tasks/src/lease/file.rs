//! [`FileLeases`]: leases shared by the processes of one host, as files in a directory.
//!
//! Invariants:
//! - every read and write of a lease's file happens while holding the OS's exclusive lock
//!   on the lease's lock file, which is never replaced or removed, so that each operation
//!   is atomic across threads and processes;
//! - a lease file is only ever replaced whole (written to a temporary file, flushed to
//!   disk, renamed over it), so that a process killed at any point leaves the old file or
//!   the new one, never a mix;
//! - a lease file keeps its last fence after its term is released or expires, and is
//!   never removed, so fences only grow.

mod record;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use self::record::{Record, escape};
use super::store::LeaseStore;
use super::term::Term;
use crate::runner::BoxError;

/// Leases shared by the processes of one host: a directory of lease files.
///
/// For a deploy that overlaps the old binary and the new one on a host, for a few
/// replicas on a laptop, for a host's cron-like jobs: every process that opens a
/// `FileLeases` on the same directory sees the same leases, with the semantics of
/// [`LeaseStore`] (fences grow across terms, releases and expiries). Nothing to install;
/// it does not reach other hosts (a network file system's locks are not to be trusted
/// with this).
///
/// Each lease `name` has two files in the directory: `NAME.lease`, a few lines of text
/// that say who holds it, until when, and its last fence (`cat` it), and `NAME.lock`, an
/// empty file whose exclusive OS lock ([`File::lock`]) each operation holds while it reads
/// and writes the first. `NAME` is the name with every byte but `[A-Za-z0-9._-]` escaped
/// as `%XX`, so every name has files of its own, inside the directory. Both stay after
/// the lease is released: removing them while processes use the lease, or editing them,
/// voids its guarantees (removing `NAME.lease` starts its fences over).
///
/// A lease file is replaced whole (written aside, flushed to disk, then renamed over the
/// old one), so a process killed at any moment, even with `kill -9` in the middle of a
/// write, leaves a lease file that says what it said before or after, and its OS lock is
/// released by its death.
///
/// # The clock
///
/// Expiries are read from the host's wall clock ([`SystemTime`]) and stored as
/// milliseconds since the Unix epoch, rounded up from the `ttl`: every process of the
/// host shares that clock, so they agree on when a term expires. A step of the wall clock
/// (set by hand, or by NTP correcting a large error) moves every expiry with it: stepped
/// forward, terms expire early, and a replica may take a lease while its holder still
/// believes it holds it (the holder learns it at its next renew); stepped back, a dead
/// holder's term lasts longer. Slewing, as NTP normally corrects, is harmless.
///
/// # Panics
///
/// Operations run the file system calls on tokio's blocking threads
/// ([`tokio::task::spawn_blocking`]): their futures panic when polled outside a tokio
/// runtime.
///
/// # Cancel safety
///
/// Each operation runs to completion on a blocking thread, even if its future is dropped:
/// it either never started, or took effect in full. A dropped
/// [`try_acquire`](LeaseStore::try_acquire) may thus have taken the lease for a term no
/// one saw; it expires after its `ttl`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::lease::{FileLeases, LeaseStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), async_tasks::BoxError> {
/// # let dir = std::env::temp_dir().join(format!("async-tasks-doc-{}", std::process::id()));
/// // Every process that opens the same directory shares its leases.
/// let leases = FileLeases::new(&dir)?;
/// let ttl = Duration::from_secs(15);
///
/// let term = leases.try_acquire("nightly-report", "web-1", ttl).await?.expect("free");
/// assert_eq!(leases.try_acquire("nightly-report", "web-2", ttl).await?, None);
/// assert!(leases.renew(&term, ttl).await?);
/// leases.release(&term).await?;
///
/// let next = leases.try_acquire("nightly-report", "web-2", ttl).await?.expect("released");
/// assert!(next.fence() > term.fence());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FileLeases {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// Milliseconds since the Unix epoch: the wall clock, or a test's.
    now_ms: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// The files of one lease.
struct Files {
    /// `NAME.lock`: the OS lock taken around each operation.
    lock: PathBuf,
    /// `NAME.lease`: the lease's state.
    lease: PathBuf,
    /// `NAME.lease.tmp`: the next state, until it is renamed over `lease`.
    temp: PathBuf,
}

impl FileLeases {
    /// The leases kept in `dir`, which is created (with its parents) if it does not exist.
    ///
    /// Blocking: call it when the program starts, or in
    /// [`spawn_blocking`](tokio::task::spawn_blocking).
    ///
    /// # Errors
    ///
    /// `dir` could not be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::lease::FileLeases;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let run = std::env::temp_dir().join(format!("async-tasks-doc-new-{}", std::process::id()));
    /// let leases = FileLeases::new(run.join("leases"))?;
    /// assert!(leases.dir().is_dir());
    /// # std::fs::remove_dir_all(&run)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<FileLeases> {
        FileLeases::with_clock(dir.into(), Box::new(wall_clock_ms))
    }

    /// The leases kept in `dir`, with expiries read from `now_ms` (milliseconds since the
    /// Unix epoch) instead of the wall clock: the seam for tests of expiry.
    pub(crate) fn with_clock(
        dir: PathBuf,
        now_ms: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> io::Result<FileLeases> {
        fs::create_dir_all(&dir)?;
        Ok(FileLeases {
            inner: Arc::new(Inner { dir, now_ms }),
        })
    }

    /// The directory that holds the lease files.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("async-tasks-doc-dir-{}", std::process::id()));
    /// let leases = async_tasks::lease::FileLeases::new(&dir)?;
    /// assert_eq!(leases.dir(), dir);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `op` on a blocking thread, with this store's state.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> Result<T, BoxError> {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || op(&inner)).await {
            Ok(result) => result.map_err(BoxError::from),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(format!("the lease file operation did not run: {err}").into()),
        }
    }
}

#[async_trait::async_trait]
impl LeaseStore for FileLeases {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.blocking(move |inner| {
            inner.update(&name, |record, now_ms| {
                if record.is_held(now_ms) {
                    return Ok(None);
                }
                record.fence = record.fence.checked_add(1).ok_or_else(|| {
                    io::Error::other(format!("lease {name:?}: no fence left to give"))
                })?;
                record.held = Some((holder.clone(), now_ms.saturating_add(millis(ttl))));
                Ok(Some(Term::new(
                    name.as_str(),
                    holder.as_str(),
                    record.fence,
                )))
            })
        })
        .await
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        let term = term.clone();
        self.blocking(move |inner| {
            inner.update(term.name(), |record, now_ms| {
                if !record.is_held_by(term.holder(), term.fence(), now_ms) {
                    return Ok(false);
                }
                record.held = Some((term.holder().to_owned(), now_ms.saturating_add(millis(ttl))));
                Ok(true)
            })
        })
        .await
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        let term = term.clone();
        self.blocking(move |inner| {
            inner.update(term.name(), |record, _now_ms| {
                // Expired or not, no later term holds it: freeing it changes nothing for
                // anyone else.
                if record.is_term(term.holder(), term.fence()) {
                    record.held = None;
                }
                Ok(())
            })
        })
        .await
    }
}

impl Inner {
    /// Under the lease's OS lock: reads its file (a new record if there is none), lets
    /// `op` change it, and writes it back if it changed.
    fn update<T>(
        &self,
        name: &str,
        op: impl FnOnce(&mut Record, u64) -> io::Result<T>,
    ) -> io::Result<T> {
        let files = self.files(name);
        let _lock = Locked::open(&files.lock)?;
        let old = read(&files.lease, name)?;
        let mut record = old.clone().unwrap_or_else(|| Record::new(name));
        // The clock is read under the lock, so that no operation judges expiry by a time
        // from before the one that held the lock ahead of it.
        let result = op(&mut record, (self.now_ms)())?;
        if old.as_ref() != Some(&record) {
            self.write(&files, &record)?;
        }
        Ok(result)
    }

    fn files(&self, name: &str) -> Files {
        let stem = escape(name);
        Files {
            lock: self.dir.join(format!("{stem}.lock")),
            lease: self.dir.join(format!("{stem}.lease")),
            temp: self.dir.join(format!("{stem}.lease.tmp")),
        }
    }

    /// Replaces the lease file with `record`, whole: written aside, flushed, renamed over
    /// it, and the rename flushed too (so that a fence given out survives a power loss).
    fn write(&self, files: &Files, record: &Record) -> io::Result<()> {
        let context = |err: io::Error| with_path(err, "writing", &files.lease);
        // The OS lock is held: no one else writes the temporary file; one a killed
        // process left behind is truncated here.
        let mut temp = File::create(&files.temp).map_err(context)?;
        temp.write_all(record.to_text().as_bytes())
            .map_err(context)?;
        temp.sync_all().map_err(context)?;
        drop(temp);
        fs::rename(&files.temp, &files.lease).map_err(context)?;
        sync_dir(&self.dir).map_err(context)
    }
}

/// A lease's lock file, locked; unlocked when dropped.
struct Locked(File);

impl Locked {
    /// Opens (creating it if need be) and locks `path`, waiting for whoever holds it.
    fn open(path: &Path) -> io::Result<Locked> {
        let context = |err: io::Error| with_path(err, "locking", path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(context)?;
        loop {
            match file.lock() {
                Ok(()) => return Ok(Locked(file)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(context(err)),
            }
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // Closing the file would release the lock too; an error here leaves it to that.
        let _ = self.0.unlock();
    }
}

/// The record in the lease file at `path`, if there is one, checked to be `name`'s.
fn read(path: &Path, name: &str) -> io::Result<Option<Record>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(with_path(err, "reading", path)),
    };
    let invalid = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("lease file {}: {why}", path.display()),
        )
    };
    let record = Record::parse(&text).map_err(invalid)?;
    if record.name != name {
        return Err(invalid(format!(
            "it holds the lease {:?}, not {name:?} (does the file system ignore case?)",
            record.name
        )));
    }
    Ok(Some(record))
}

/// `err`, saying what was being done to which file; its kind is kept.
fn with_path(err: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {}: {err}", path.display()))
}

/// Flushes a directory's entries (a rename in it) to disk, where a directory can be opened.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes a directory's entries (a rename in it) to disk, where a directory can be opened.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The wall clock, in milliseconds since the Unix epoch (0 before it).
fn wall_clock_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// `ttl` in whole milliseconds, rounded up: a term never expires before its `ttl` has
/// passed, which its holder counts on to stop in time.
fn millis(ttl: Duration) -> u64 {
    let whole = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(whole).unwrap_or(u64::MAX)
}

impl fmt::Debug for FileLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLeases")
            .field("dir", &self.inner.dir)
            .finish()
    }
}
