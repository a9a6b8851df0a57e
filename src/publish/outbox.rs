//! The on-disk outbox: every event is written here before it is published, and leaves only
//! when the broker has acknowledged it (QoS 1 PUBACK).
//!
//! SQLite in WAL mode with `synchronous = FULL`: a push is on disk (the WAL is fsync'ed) before
//! `push` returns, so an event survives a kill -9 and a power cut. Rows are numbered by an
//! AUTOINCREMENT `seq`, which never goes back (not even when the table empties), so the order of
//! insertion, and with it the order per camera, is the order of `seq`.
//!
//! Which rows are in flight is deliberately not stored: after a reconnect or a restart every row
//! still here is sent again (same `id`), which is what at-least-once delivery needs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

/// The schema this code reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// A message kept until the broker acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The message's unique id (the event's `id`); the same on every delivery.
    pub id: String,
    pub camera: String,
    /// Topic below the device root, e.g. `cam1/events`.
    pub subtopic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

/// A record as stored, with its place in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub record: Record,
}

/// Why the outbox could not be opened. Callers branch on `Corrupt` (move the file aside and
/// start fresh); everything else stops the daemon with the path in the message.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(
        "outbox {path}: not a readable SQLite database ({source}); move it aside (with its -wal and -shm files) and start again with a new, empty outbox"
    )]
    Corrupt { path: PathBuf, source: rusqlite::Error },
    #[error("outbox {path}: written by a newer anttd (schema version {found}, this one knows {SCHEMA_VERSION})")]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("outbox {path}: {what}: {source}")]
    Sql { path: PathBuf, what: &'static str, source: rusqlite::Error },
    #[error("outbox {path}: cannot create its folder: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

/// SQLite's `synchronous` setting. The daemon uses `Full`; `Normal` is here to measure against
/// (in WAL mode it survives a crash of the process but may lose the last commits on power loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

struct Inner {
    conn: Connection,
    len: u64,
    dropped: u64,
}

/// The outbox. Shared between the analytics threads (push) and the publisher (read, ack).
pub struct Outbox {
    path: PathBuf,
    max_events: u64,
    inner: Mutex<Inner>,
    pushed: tokio::sync::Notify,
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}

impl Outbox {
    /// Open (or create) the outbox at `path`, keeping at most `max_events` rows.
    pub fn open(path: &Path, max_events: u64) -> Result<Self, OutboxError> {
        Self::open_with(path, max_events, Durability::Full)
    }

    pub fn open_with(path: &Path, max_events: u64, durability: Durability) -> Result<Self, OutboxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::Dir { path: path.to_path_buf(), source })?;
        }
        let p = path.to_path_buf();
        let sql = |what: &'static str| {
            let p = p.clone();
            move |source: rusqlite::Error| {
                if is_corrupt(&source) {
                    OutboxError::Corrupt { path: p, source }
                } else {
                    OutboxError::Sql { path: p, what, source }
                }
            }
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql("cannot open"))?;
        // Another process (a second anttd on the same data_dir) may hold the lock briefly.
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql("cannot set busy timeout"))?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sql("cannot switch to WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "outbox: WAL mode not available; durability is kept, speed is not");
        }
        // FULL: a commit is fsync'ed before it returns (see docs/operations.md for the numbers).
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(sql("cannot set synchronous"))?;
        let check: String =
            conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(sql("integrity check failed"))?;
        if check != "ok" {
            return Err(OutboxError::Corrupt {
                path: p,
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(check),
                ),
            });
        }
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql("cannot read schema version"))?;
        match version {
            0 => {
                conn.execute_batch(
                    "BEGIN;
                     CREATE TABLE IF NOT EXISTS outbox (
                         seq INTEGER PRIMARY KEY AUTOINCREMENT,
                         id TEXT NOT NULL,
                         camera TEXT NOT NULL,
                         subtopic TEXT NOT NULL,
                         payload BLOB NOT NULL,
                         qos INTEGER NOT NULL,
                         retain INTEGER NOT NULL
                     );
                     CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                     INSERT OR IGNORE INTO meta (key, value) VALUES ('dropped', 0);
                     PRAGMA user_version = 1;
                     COMMIT;",
                )
                .map_err(sql("cannot create the schema"))?;
            }
            SCHEMA_VERSION => {}
            found => return Err(OutboxError::NewerSchema { path: p, found }),
        }
        let len: i64 =
            conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0)).map_err(sql("cannot count rows"))?;
        let dropped: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'dropped'", [], |r| r.get(0))
            .optional()
            .map_err(sql("cannot read the dropped count"))?
            .unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            max_events: max_events.max(1),
            inner: Mutex::new(Inner { conn, len: len as u64, dropped: dropped as u64 }),
            pushed: tokio::sync::Notify::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn max_events(&self) -> u64 {
        self.max_events
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, what: &'static str) -> impl FnOnce(rusqlite::Error) -> OutboxError + '_ {
        move |source| OutboxError::Sql { path: self.path.clone(), what, source }
    }

    /// Store `rec`; on disk when this returns. When the outbox is full the oldest rows make room
    /// (counted in `dropped`). Returns how many were dropped for this one.
    pub fn push(&self, rec: &Record) -> Result<u64, OutboxError> {
        let mut g = self.lock();
        let over = (g.len + 1).saturating_sub(self.max_events);
        let tx = g.conn.transaction().map_err(self.err("cannot begin"))?;
        let mut removed = 0u64;
        if over > 0 {
            removed = tx
                .execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?1)",
                    params![over as i64],
                )
                .map_err(self.err("cannot drop the oldest rows"))? as u64;
            tx.execute("UPDATE meta SET value = value + ?1 WHERE key = 'dropped'", params![removed as i64])
                .map_err(self.err("cannot count dropped rows"))?;
        }
        tx.execute(
            "INSERT INTO outbox (id, camera, subtopic, payload, qos, retain) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![rec.id, rec.camera, rec.subtopic, rec.payload, rec.qos, rec.retain],
        )
        .map_err(self.err("cannot insert"))?;
        tx.commit().map_err(self.err("cannot commit"))?;
        g.len = g.len + 1 - removed;
        g.dropped += removed;
        drop(g);
        if removed > 0 {
            tracing::warn!(path = %self.path.display(), removed, max_events = self.max_events, "outbox full: dropped the oldest events");
        }
        self.pushed.notify_one();
        Ok(removed)
    }

    /// Up to `limit` rows after `after` (a `seq`; 0 for the start), oldest first.
    pub fn next_batch(&self, after: i64, limit: usize) -> Result<Vec<Stored>, OutboxError> {
        let g = self.lock();
        let mut st = g
            .conn
            .prepare_cached(
                "SELECT seq, id, camera, subtopic, payload, qos, retain FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.err("cannot prepare read"))?;
        let rows = st
            .query_map(params![after, limit as i64], |r| {
                Ok(Stored {
                    seq: r.get(0)?,
                    record: Record {
                        id: r.get(1)?,
                        camera: r.get(2)?,
                        subtopic: r.get(3)?,
                        payload: r.get(4)?,
                        qos: r.get(5)?,
                        retain: r.get(6)?,
                    },
                })
            })
            .map_err(self.err("cannot read"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("cannot read a row"))
    }

    /// The broker acknowledged these rows: remove them (one transaction). Rows already gone
    /// (dropped while in flight) are ignored. Returns how many were removed.
    pub fn ack(&self, seqs: &[i64]) -> Result<u64, OutboxError> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let mut g = self.lock();
        let tx = g.conn.transaction().map_err(self.err("cannot begin"))?;
        let mut removed = 0u64;
        {
            let mut st =
                tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1").map_err(self.err("cannot prepare delete"))?;
            for s in seqs {
                removed += st.execute(params![s]).map_err(self.err("cannot delete"))? as u64;
            }
        }
        tx.commit().map_err(self.err("cannot commit"))?;
        g.len = g.len.saturating_sub(removed);
        Ok(removed)
    }

    /// Rows waiting for an acknowledgement.
    pub fn len(&self) -> u64 {
        self.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows dropped to keep within `max_events`, over the outbox file's life.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Resolves after a push (or at once, if one happened since the last wait).
    pub async fn pushed(&self) {
        self.pushed.notified().await
    }
}

/// Move a corrupt outbox (and its -wal and -shm files) aside as `<path>.corrupt-<unix time>`.
/// Returns the new name of the main file.
pub fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let aside = PathBuf::from(format!("{}.corrupt-{secs}", path.display()));
    std::fs::rename(path, &aside)?;
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{ext}", aside.display()))?;
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(camera: &str, n: u32) -> Record {
        Record {
            id: format!("{camera}-{n}"),
            camera: camera.into(),
            subtopic: format!("{camera}/events"),
            payload: format!("{{\"n\":{n}}}").into_bytes(),
            qos: 1,
            retain: false,
        }
    }

    fn ids(rows: &[Stored]) -> Vec<String> {
        rows.iter().map(|r| r.record.id.clone()).collect()
    }

    #[test]
    fn order_is_insertion_order_per_camera() {
        let dir = tempfile::tempdir().expect("dir");
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 100).expect("open");
        for n in 0..5 {
            ob.push(&rec("a", n)).expect("push");
            ob.push(&rec("b", n)).expect("push");
        }
        let all = ob.next_batch(0, 100).expect("read");
        assert_eq!(all.len(), 10);
        for cam in ["a", "b"] {
            let got: Vec<String> = all.iter().filter(|r| r.record.camera == cam).map(|r| r.record.id.clone()).collect();
            let want: Vec<String> = (0..5).map(|n| format!("{cam}-{n}")).collect();
            assert_eq!(got, want);
        }
        assert_eq!(all[3].record, rec("b", 1), "everything round-trips");
        // Paging with the cursor continues where the last batch ended.
        let first = ob.next_batch(0, 4).expect("read");
        let rest = ob.next_batch(first[3].seq, 100).expect("read");
        assert_eq!([ids(&first), ids(&rest)].concat(), ids(&all));
    }

    #[test]
    fn ack_removes_and_seq_never_goes_back() {
        let dir = tempfile::tempdir().expect("dir");
        let ob = Outbox::open(&dir.path().join("o.sqlite"), 100).expect("open");
        ob.push(&rec("a", 0)).expect("push");
        ob.push(&rec("a", 1)).expect("push");
        let rows = ob.next_batch(0, 10).expect("read");
        assert_eq!(ob.ack(&[rows[0].seq, rows[1].seq, 999]).expect("ack"), 2);
        assert_eq!(ob.len(), 0);
        assert!(ob.next_batch(0, 10).expect("read").is_empty());
        // A publisher whose cursor is at the last row it sent must still see the next push.
        ob.push(&rec("a", 2)).expect("push");
        assert_eq!(ids(&ob.next_batch(rows[1].seq, 10).expect("read")), ["a-2"]);
    }

    #[test]
    fn bound_drops_the_oldest_and_counts() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("o.sqlite");
        let ob = Outbox::open(&path, 3).expect("open");
        let mut dropped = 0;
        for n in 0..5 {
            dropped += ob.push(&rec("a", n)).expect("push");
        }
        assert_eq!(dropped, 2);
        assert_eq!((ob.len(), ob.dropped()), (3, 2));
        assert_eq!(ids(&ob.next_batch(0, 10).expect("read")), ["a-2", "a-3", "a-4"]);
        drop(ob);
        // The count is kept in the file, and so are the rows not yet acknowledged.
        let ob = Outbox::open(&path, 3).expect("reopen");
        assert_eq!((ob.len(), ob.dropped()), (3, 2));
        let rows = ob.next_batch(0, 10).expect("read");
        ob.ack(&[rows[0].seq]).expect("ack");
        drop(ob);
        let ob = Outbox::open(&path, 3).expect("reopen");
        assert_eq!(ids(&ob.next_batch(0, 10).expect("read")), ["a-3", "a-4"]);
    }

    #[test]
    fn concurrent_pushes_all_land_in_order_per_thread() {
        let dir = tempfile::tempdir().expect("dir");
        let ob = std::sync::Arc::new(Outbox::open(&dir.path().join("o.sqlite"), 10_000).expect("open"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let ob = std::sync::Arc::clone(&ob);
                std::thread::spawn(move || {
                    for n in 0..50 {
                        ob.push(&rec(&format!("c{t}"), n)).expect("push");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let all = ob.next_batch(0, 1000).expect("read");
        assert_eq!(all.len(), 200);
        assert_eq!(ob.len(), 200);
        for t in 0..4 {
            let cam = format!("c{t}");
            let got: Vec<String> = all.iter().filter(|r| r.record.camera == cam).map(|r| r.record.id.clone()).collect();
            assert_eq!(got, (0..50).map(|n| format!("{cam}-{n}")).collect::<Vec<_>>());
        }
    }

    #[test]
    fn corrupt_file_is_named_and_can_be_moved_aside() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("o.sqlite");
        std::fs::write(&path, vec![0x5a; 8192]).expect("write garbage");
        let e = Outbox::open(&path, 10).err().expect("garbage is refused");
        assert!(matches!(e, OutboxError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let aside = move_aside(&path).expect("move aside");
        assert!(aside.exists() && !path.exists());
        let ob = Outbox::open(&path, 10).expect("fresh outbox");
        assert_eq!(ob.len(), 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("o.sqlite");
        drop(Outbox::open(&path, 10).expect("open"));
        let c = Connection::open(&path).expect("raw open");
        c.pragma_update(None, "user_version", 7).expect("bump");
        drop(c);
        let e = Outbox::open(&path, 10).err().expect("refused");
        assert!(matches!(e, OutboxError::NewerSchema { found: 7, .. }), "{e:?}");
    }
}
