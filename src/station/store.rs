//! The station's store: everything the boxes sent, in one SQLite file in WAL mode, so the web
//! pages read while ingest writes.
//!
//! - **Events** are one row per `event_id`: `start`, `update` and `end` are merged into it (the
//!   later message's fields win; an `end` that arrives before its `start` is kept and completed).
//! - **Duplicates are dropped by `id`**: every message id is remembered for [`SEEN_DAYS`] days,
//!   and a message whose id is known changes nothing (docs/mqtt.md, "Rules for a consumer").
//! - **Boxes and cameras** keep their latest state, with every change in `status_history`;
//!   `stats` keeps the newest health report of each box and each camera's fps and inference.
//! - **Counts** are one row per interval, line, label and direction.
//! - **Snapshots**: the JPEG a box publishes after `snapshot/info` is stored under that event.
//!
//! Pure of network: [`Store::ingest`] takes a parsed topic and a payload; the queries take any
//! connection to the file ([`open_reader`]), so each web request reads on its own.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::topic::{Topic, What};

/// Message ids are remembered this long: far longer than any broker keeps a message for a
/// station that is away.
pub const SEEN_DAYS: i64 = 30;

/// Rows of a search page.
pub const PAGE: usize = 50;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS boxes(
    root TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    online INTEGER NOT NULL DEFAULT 0,
    since TEXT,
    last_heard TEXT,
    stats_at TEXT,
    stats TEXT,
    last_event_id TEXT,
    -- Which of the station's brokers the box's status came through: footage is asked there.
    broker INTEGER
);
CREATE TABLE IF NOT EXISTS cameras(
    root TEXT NOT NULL,
    camera TEXT NOT NULL,
    state TEXT,
    reason TEXT,
    since TEXT,
    fps REAL,
    inference_ms REAL,
    restarts INTEGER,
    PRIMARY KEY(root, camera)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS status_history(
    root TEXT NOT NULL,
    camera TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS status_history_by_box ON status_history(root, ts);
CREATE TABLE IF NOT EXISTS seen(
    id TEXT PRIMARY KEY,
    received TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_age ON seen(received);
CREATE TABLE IF NOT EXISTS events(
    event_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule TEXT,
    label TEXT,
    start_ts TEXT NOT NULL,
    end_ts TEXT,
    received TEXT NOT NULL,
    fields TEXT NOT NULL
);
-- One index per way a search narrows, each ending in the time the results are sorted by
-- (benches/station.rs measures them).
CREATE INDEX IF NOT EXISTS events_by_time ON events(start_ts);
CREATE INDEX IF NOT EXISTS events_by_site ON events(site, start_ts);
CREATE INDEX IF NOT EXISTS events_by_box ON events(site, device, start_ts);
CREATE INDEX IF NOT EXISTS events_by_camera ON events(site, device, camera, start_ts);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, start_ts);
CREATE INDEX IF NOT EXISTS events_by_rule ON events(rule, start_ts);
CREATE INDEX IF NOT EXISTS events_by_label ON events(label, start_ts);
CREATE TABLE IF NOT EXISTS counts(
    root TEXT NOT NULL,
    camera TEXT NOT NULL,
    from_ts TEXT NOT NULL,
    to_ts TEXT NOT NULL,
    line TEXT NOT NULL,
    label TEXT NOT NULL,
    direction TEXT NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS counts_by_camera ON counts(root, camera, from_ts);
CREATE TABLE IF NOT EXISTS footage(
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    root TEXT NOT NULL,
    camera TEXT NOT NULL,
    from_ts TEXT NOT NULL,
    to_ts TEXT NOT NULL,
    asked_by TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT,
    bytes INTEGER,
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS footage_by_event ON footage(event_id);
CREATE TABLE IF NOT EXISTS snapshots(
    event_id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    camera TEXT NOT NULL,
    jpeg BLOB NOT NULL,
    received TEXT NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The payload is not what docs/mqtt.md says this topic carries: the message is dropped.
    #[error("{0}")]
    Bad(String),
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// What one message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// Its `id` was stored before: nothing changed.
    Duplicate,
    /// An event message, merged into its event's row; `start` for the message that opened it.
    Event { event_id: String, start: bool },
    /// A status, stats, counts or snapshot message.
    Stored,
    /// A snapshot without the `snapshot/info` that names its event: not kept.
    Unmatched,
}

/// The writer: one per data directory.
pub struct Store {
    conn: Connection,
    /// `snapshot/info` of each camera, waiting for its picture.
    pending_snapshot: HashMap<(String, String), String>,
}

/// Opens (creating) the store's database at `path`, WAL mode.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // With WAL, NORMAL loses no committed transaction when the process dies; only a power cut
    // can take the last ones back (they are acknowledged to the broker after the commit).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// A connection that writes besides the [`Store`] (the footage log): SQLite takes turns.
pub fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    connect(path)
}

/// A connection for queries; many may read while the [`Store`] writes.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, StoreError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| StoreError::Bad(format!("no string field `{key}`")))
}

fn json(payload: &[u8]) -> Result<Value, StoreError> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| StoreError::Bad(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(StoreError::Bad("not a JSON object".into()));
    }
    Ok(v)
}

impl Store {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = connect(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn, pending_snapshot: HashMap::new() })
    }

    /// Runs `f` in one transaction, committed when it returns Ok and rolled back otherwise:
    /// ingest commits many messages at once.
    pub fn batch<T>(&mut self, f: impl FnOnce(&mut Batch<'_>) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let tx = self.conn.transaction()?;
        let mut b = Batch { tx: &tx, pending_snapshot: &mut self.pending_snapshot };
        let out = f(&mut b)?;
        tx.commit()?;
        Ok(out)
    }

    /// Forgets message ids older than [`SEEN_DAYS`] before `now` (RFC 3339), and lets SQLite
    /// refresh what it knows of the indexes (the query planner picks by it).
    pub fn prune_seen(&self, now: &str) -> rusqlite::Result<usize> {
        self.conn.execute_batch("PRAGMA optimize")?;
        self.conn.execute(
            "DELETE FROM seen WHERE received < strftime('%Y-%m-%dT%H:%M:%fZ', ?1, ?2)",
            params![now, format!("-{SEEN_DAYS} days")],
        )
    }

    /// One message in a transaction of its own: the unit tests' way in (the writer batches).
    #[cfg(test)]
    pub fn ingest(
        &mut self,
        topic: &Topic,
        payload: &[u8],
        retained: bool,
        received: &str,
    ) -> Result<Ingested, StoreError> {
        let mut outcome = None;
        self.batch(|b| match b.ingest(topic, payload, retained, received) {
            Err(StoreError::Db(e)) => Err(e),
            other => {
                outcome = Some(other);
                Ok(())
            }
        })?;
        outcome.unwrap_or_else(|| Err(StoreError::Bad("nothing stored".into())))
    }
}

/// Messages stored in one transaction.
pub struct Batch<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    pending_snapshot: &'a mut HashMap<(String, String), String>,
}

impl Batch<'_> {
    /// Stores one message. `retained`: the broker's copy of an old message, sent because the
    /// station subscribed; it says nothing about when the box was last heard.
    pub fn ingest(
        &mut self,
        topic: &Topic,
        payload: &[u8],
        retained: bool,
        received: &str,
    ) -> Result<Ingested, StoreError> {
        // Every message makes its box known.
        self.tx.execute(
            "INSERT INTO boxes(root, site, device) VALUES(?1, ?2, ?3) ON CONFLICT(root) DO NOTHING",
            params![topic.root, topic.site, topic.device],
        )?;
        if !retained {
            self.tx.execute("UPDATE boxes SET last_heard = ?2 WHERE root = ?1", params![topic.root, received])?;
        }
        match &topic.what {
            What::BoxStatus => self.box_status(topic, payload, received),
            What::Stats => self.stats(topic, payload, received),
            What::CameraStatus(camera) => self.camera_status(topic, camera, payload),
            What::Events(camera) => self.event(topic, camera, payload, received),
            What::Counts(camera) => self.counts(topic, camera, payload, received),
            What::SnapshotInfo(camera) => {
                let v = json(payload)?;
                let event_id = text(&v, "event_id")?.to_string();
                self.pending_snapshot.insert((topic.root.clone(), camera.clone()), event_id);
                Ok(Ingested::Stored)
            }
            What::Snapshot(camera) => {
                // An empty retained payload clears the topic; nothing to keep.
                if payload.is_empty() {
                    return Ok(Ingested::Stored);
                }
                let Some(event_id) = self.pending_snapshot.remove(&(topic.root.clone(), camera.clone())) else {
                    return Ok(Ingested::Unmatched);
                };
                self.tx.execute(
                    "INSERT OR REPLACE INTO snapshots(event_id, root, camera, jpeg, received) VALUES(?1, ?2, ?3, ?4, ?5)",
                    params![event_id, topic.root, camera, payload, received],
                )?;
                Ok(Ingested::Stored)
            }
        }
    }

    /// Notes which of the station's brokers `root` is reached through.
    pub fn set_broker(&self, root: &str, broker: usize) -> rusqlite::Result<()> {
        self.tx.execute("UPDATE boxes SET broker = ?2 WHERE root = ?1", params![root, broker as i64]).map(drop)
    }

    /// True when `id` is new (and now remembered).
    fn first_time(&self, id: &str, received: &str) -> rusqlite::Result<bool> {
        Ok(self.tx.execute("INSERT OR IGNORE INTO seen(id, received) VALUES(?1, ?2)", params![id, received])? == 1)
    }

    fn box_status(&self, topic: &Topic, payload: &[u8], received: &str) -> Result<Ingested, StoreError> {
        let online = match payload {
            b"online" => true,
            b"offline" => false,
            // Cleared by an empty retained message: the box is gone from the broker.
            b"" => return Ok(Ingested::Stored),
            _ => {
                return Err(StoreError::Bad(format!(
                    "status is neither online nor offline: {:?}",
                    String::from_utf8_lossy(payload)
                )));
            }
        };
        let state = if online { "online" } else { "offline" };
        // The row exists (every message makes its box known); a repeat of the state is no change.
        let (was_online, since): (bool, Option<String>) =
            self.tx.query_row("SELECT online, since FROM boxes WHERE root = ?1", params![topic.root], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let since_changes = was_online != online || since.is_none();
        if since_changes {
            self.tx.execute(
                "UPDATE boxes SET online = ?2, since = ?3 WHERE root = ?1",
                params![topic.root, online, received],
            )?;
            self.tx.execute(
                "INSERT INTO status_history(root, camera, state, reason, ts) VALUES(?1, '', ?2, NULL, ?3)",
                params![topic.root, state, received],
            )?;
        }
        Ok(Ingested::Stored)
    }

    fn camera_status(&self, topic: &Topic, camera: &str, payload: &[u8]) -> Result<Ingested, StoreError> {
        if payload.is_empty() {
            // A removed camera's retained state, cleared.
            self.tx.execute("DELETE FROM cameras WHERE root = ?1 AND camera = ?2", params![topic.root, camera])?;
            return Ok(Ingested::Stored);
        }
        let v = json(payload)?;
        let state = text(&v, "state")?;
        let ts = text(&v, "ts")?;
        let reason = v.get("reason").and_then(Value::as_str);
        let restarts = v.get("restarts").and_then(Value::as_i64);
        let before: Option<String> = self
            .tx
            .query_row("SELECT since FROM cameras WHERE root = ?1 AND camera = ?2", params![topic.root, camera], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        // The same state again (sent on every reconnection) is not a change.
        if before.as_deref() == Some(ts) {
            return Ok(Ingested::Stored);
        }
        self.tx.execute(
            "INSERT INTO cameras(root, camera, state, reason, since, restarts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(root, camera) DO UPDATE SET state = ?3, reason = ?4, since = ?5, restarts = coalesce(?6, restarts)",
            params![topic.root, camera, state, reason, ts, restarts],
        )?;
        self.tx.execute(
            "INSERT INTO status_history(root, camera, state, reason, ts) VALUES(?1, ?2, ?3, ?4, ?5)",
            params![topic.root, camera, state, reason, ts],
        )?;
        Ok(Ingested::Stored)
    }

    fn stats(&self, topic: &Topic, payload: &[u8], received: &str) -> Result<Ingested, StoreError> {
        let v = json(payload)?;
        self.tx.execute(
            "UPDATE boxes SET stats = ?2, stats_at = ?3 WHERE root = ?1",
            params![topic.root, serde_json::to_string(&v).unwrap_or_default(), received],
        )?;
        for c in v.get("cameras").and_then(Value::as_array).into_iter().flatten() {
            let Some(camera) = c.get("camera").and_then(Value::as_str) else { continue };
            self.tx.execute(
                "INSERT INTO cameras(root, camera, fps, inference_ms, restarts) VALUES(?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(root, camera) DO UPDATE SET fps = ?3, inference_ms = ?4, restarts = coalesce(?5, restarts)",
                params![
                    topic.root,
                    camera,
                    c.get("fps").and_then(Value::as_f64),
                    c.get("inference_ms").and_then(Value::as_f64),
                    c.get("restarts").and_then(Value::as_i64)
                ],
            )?;
        }
        Ok(Ingested::Stored)
    }

    fn event(&self, topic: &Topic, camera: &str, payload: &[u8], received: &str) -> Result<Ingested, StoreError> {
        let v = json(payload)?;
        let id = text(&v, "id")?;
        let event_id = text(&v, "event_id")?;
        let kind = text(&v, "kind")?;
        let ty = text(&v, "type")?;
        let ts = text(&v, "ts")?;
        if !self.first_time(id, received)? {
            return Ok(Ingested::Duplicate);
        }
        let rule = v.get("rule").and_then(Value::as_str);
        let label = v.get("label").and_then(Value::as_str);
        // A moment (a line crossing) has no end: it ends where it starts.
        let end = (ty == "end" || kind == "line_cross").then_some(ts);
        let before: Option<(String, String, Option<String>)> = self
            .tx
            .query_row("SELECT fields, start_ts, end_ts FROM events WHERE event_id = ?1", params![event_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let (fields, start_ts, end_ts) = match before {
            None => {
                // An `end` before its `start` (a start lost to a full outbox, or delivered later)
                // starts the row at the object's first sighting.
                let start = if ty == "start" { ts } else { v.get("first_seen").and_then(Value::as_str).unwrap_or(ts) };
                (v.clone(), start.to_string(), end.map(str::to_string))
            }
            Some((old, old_start, old_end)) => {
                let old: Value = serde_json::from_str(&old).unwrap_or_else(|_| Value::Object(Default::default()));
                // The later message's fields win: a start that arrives late only fills in.
                let merged = if ty == "start" { merged(&v, &old) } else { merged(&old, &v) };
                let start = if ty == "start" { ts.to_string() } else { old_start };
                (merged, start, end.map(str::to_string).or(old_end))
            }
        };
        let fields = serde_json::to_string(&fields).unwrap_or_default();
        self.tx.execute(
            "INSERT INTO events(event_id, root, site, device, camera, kind, rule, label, start_ts, end_ts, received, fields)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(event_id) DO UPDATE SET start_ts = ?9, end_ts = ?10, fields = ?12,
                 rule = coalesce(events.rule, ?7), label = coalesce(events.label, ?8)",
            params![event_id, topic.root, topic.site, topic.device, camera, kind, rule, label, start_ts, end_ts, received, fields],
        )?;
        if ty == "start" {
            self.tx.execute("UPDATE boxes SET last_event_id = ?2 WHERE root = ?1", params![topic.root, event_id])?;
        }
        Ok(Ingested::Event { event_id: event_id.to_string(), start: ty == "start" })
    }

    fn counts(&self, topic: &Topic, camera: &str, payload: &[u8], received: &str) -> Result<Ingested, StoreError> {
        let v = json(payload)?;
        let id = text(&v, "id")?;
        let from = text(&v, "from")?;
        let to = text(&v, "to")?;
        let rows =
            v.get("counts").and_then(Value::as_array).ok_or_else(|| StoreError::Bad("no array `counts`".into()))?;
        // Every entry is read before anything is stored: a bad one refuses the whole message.
        let rows = rows
            .iter()
            .map(|c| {
                match (
                    c.get("line").and_then(Value::as_str),
                    c.get("label").and_then(Value::as_str),
                    c.get("direction").and_then(Value::as_str),
                    c.get("count").and_then(Value::as_i64),
                ) {
                    (Some(line), Some(label), Some(direction), Some(count)) => Ok((line, label, direction, count)),
                    _ => Err(StoreError::Bad(format!("a `counts` entry lacks line, label, direction or count: {c}"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !self.first_time(id, received)? {
            return Ok(Ingested::Duplicate);
        }
        for (line, label, direction, count) in rows {
            self.tx.execute(
                "INSERT INTO counts(root, camera, from_ts, to_ts, line, label, direction, count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![topic.root, camera, from, to, line, label, direction, count],
            )?;
        }
        Ok(Ingested::Stored)
    }
}

/// `over`'s fields on top of `base`'s. A `count` (a crowd's, which changes with each `update`)
/// also keeps its highest value as `count_max`: the end's count is the one it ended with.
fn merged(base: &Value, over: &Value) -> Value {
    let mut out = base.as_object().cloned().unwrap_or_default();
    for (k, v) in over.as_object().into_iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    let counts = [base.get("count_max"), base.get("count"), over.get("count")];
    if let Some(max) = counts.iter().flatten().filter_map(|c| c.as_u64()).max() {
        out.insert("count_max".into(), max.into());
    }
    Value::Object(out)
}

/// One event, its messages merged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRow {
    pub event_id: String,
    pub root: String,
    pub site: String,
    pub device: String,
    pub camera: String,
    pub kind: String,
    pub rule: Option<String>,
    pub label: Option<String>,
    pub start_ts: String,
    pub end_ts: Option<String>,
    /// The merged payload: every field of its messages, the latest value of each.
    pub fields: Value,
    pub has_snapshot: bool,
}

impl EventRow {
    /// An event of a rule (what a duty officer is alerted to), not an object or a crossing.
    pub fn is_alert(&self) -> bool {
        !matches!(self.kind.as_str(), "object" | "line_cross")
    }
}

const EVENT_COLUMNS: &str =
    "e.event_id, e.root, e.site, e.device, e.camera, e.kind, e.rule, e.label, e.start_ts, e.end_ts, e.fields,
     EXISTS(SELECT 1 FROM snapshots s WHERE s.event_id = e.event_id)";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    let fields: String = r.get(10)?;
    Ok(EventRow {
        event_id: r.get(0)?,
        root: r.get(1)?,
        site: r.get(2)?,
        device: r.get(3)?,
        camera: r.get(4)?,
        kind: r.get(5)?,
        rule: r.get(6)?,
        label: r.get(7)?,
        start_ts: r.get(8)?,
        end_ts: r.get(9)?,
        fields: serde_json::from_str(&fields).unwrap_or(Value::Null),
        has_snapshot: r.get(11)?,
    })
}

pub fn event(conn: &Connection, event_id: &str) -> rusqlite::Result<Option<EventRow>> {
    conn.query_row(&format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.event_id = ?1"), params![event_id], event_row)
        .optional()
}

pub fn snapshot(conn: &Connection, event_id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT jpeg FROM snapshots WHERE event_id = ?1", params![event_id], |r| r.get(0)).optional()
}

/// A search: every field optional; times are RFC 3339 in UTC as [`parse_time`] makes them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Filter {
    pub from: String,
    pub to: String,
    pub site: String,
    #[serde(rename = "box")]
    pub device: String,
    pub camera: String,
    pub kind: String,
    pub rule: String,
    pub label: String,
    /// Only rule events (no objects, no crossings).
    pub alerts: bool,
    pub page: usize,
    /// The sites the person searching may see (None: all); set by the station, never read from
    /// the query.
    #[serde(skip)]
    pub sites: Option<Vec<String>>,
}

impl Filter {
    /// Checks and normalises the times, naming the field that is wrong.
    pub fn normalised(mut self) -> Result<Self, String> {
        for (name, v) in [("from", &mut self.from), ("to", &mut self.to)] {
            if !v.trim().is_empty() {
                *v = parse_time(v).map_err(|e| format!("{name}: {e}"))?;
            } else {
                v.clear();
            }
        }
        Ok(self)
    }
}

/// One page of results, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub events: Vec<EventRow>,
    /// More results follow on the next page.
    pub more: bool,
}

/// Events matching `f`, newest first, `limit` from `f.page * limit` on (`limit` None: all, for
/// an export).
pub fn search(conn: &Connection, f: &Filter, limit: Option<usize>) -> rusqlite::Result<Found> {
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE 1");
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
    // With a box named, its index narrows most (a hundredth of a district's events, or less):
    // the other terms are marked (`+`) as filters only, so SQLite's planner, whose statistics
    // are sampled, does not walk a week of every box's motorcycles instead.
    let weak = if f.device.is_empty() { "" } else { "+" };
    let (kind, rule, label) = (format!("{weak}e.kind = ?"), format!("{weak}e.rule = ?"), format!("{weak}e.label = ?"));
    let conds: [(&str, &String); 8] = [
        ("e.start_ts >= ?", &f.from),
        ("e.start_ts < ?", &f.to),
        ("e.site = ?", &f.site),
        ("e.device = ?", &f.device),
        ("e.camera = ?", &f.camera),
        (&kind, &f.kind),
        (&rule, &f.rule),
        (&label, &f.label),
    ];
    for (cond, value) in conds {
        if !value.is_empty() {
            sql.push_str(" AND ");
            sql.push_str(cond);
            args.push(value);
        }
    }
    if f.alerts {
        sql.push_str(" AND e.kind NOT IN ('object', 'line_cross')");
    }
    match &f.sites {
        None => {}
        Some(sites) if sites.is_empty() => sql.push_str(" AND 0"),
        Some(sites) => {
            sql.push_str(&format!(" AND e.site IN ({})", vec!["?"; sites.len()].join(", ")));
            args.extend(sites.iter().map(|s| s as &dyn rusqlite::ToSql));
        }
    }
    sql.push_str(" ORDER BY e.start_ts DESC, e.event_id DESC");
    let (limit_n, offset) = match limit {
        Some(n) => ((n + 1) as i64, (f.page * n) as i64),
        None => (-1, 0),
    };
    sql.push_str(&format!(" LIMIT {limit_n} OFFSET {offset}"));
    let mut stmt = conn.prepare(&sql)?;
    let mut events = stmt.query_map(args.as_slice(), event_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    let more = limit.is_some_and(|n| events.len() > n);
    if let Some(n) = limit {
        events.truncate(n);
    }
    Ok(Found { events, more })
}

/// Reads a time typed by a person or a form: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` (with `T` or a
/// space) taken as UTC. Gives the stored form, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn parse_time(s: &str) -> Result<String, String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    let t = time::OffsetDateTime::parse(s, &Rfc3339).or_else(|_| {
        let local = s.replacen(' ', "T", 1);
        let with_secs = if local.len() == 16 { format!("{local}:00") } else { local };
        time::PrimitiveDateTime::parse(
            &with_secs,
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .map(time::PrimitiveDateTime::assume_utc)
    });
    let t = t.map_err(|_| format!("not a time: {s:?} (write 2026-11-28 21:00, UTC, or RFC 3339)"))?;
    Ok(crate::event::rfc3339(t.into()))
}

/// One camera on the board.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub camera: String,
    pub state: Option<String>,
    pub reason: Option<String>,
    pub since: Option<String>,
    pub fps: Option<f64>,
    pub inference_ms: Option<f64>,
    pub restarts: Option<i64>,
}

/// One box on the board.
#[derive(Debug, Clone, Serialize)]
pub struct BoxView {
    pub root: String,
    pub site: String,
    pub device: String,
    pub online: bool,
    pub since: Option<String>,
    pub last_heard: Option<String>,
    pub stats_at: Option<String>,
    pub stats: Option<Value>,
    pub last_event: Option<EventRow>,
    pub cameras: Vec<CameraView>,
}

/// Every box, by site and device, with its cameras and its newest event.
pub fn fleet(conn: &Connection) -> rusqlite::Result<Vec<BoxView>> {
    let mut boxes = conn
        .prepare(
            "SELECT root, site, device, online, since, last_heard, stats_at, stats, last_event_id FROM boxes ORDER BY site, device",
        )?
        .query_map([], |r| {
            let stats: Option<String> = r.get(7)?;
            Ok((
                BoxView {
                    root: r.get(0)?,
                    site: r.get(1)?,
                    device: r.get(2)?,
                    online: r.get(3)?,
                    since: r.get(4)?,
                    last_heard: r.get(5)?,
                    stats_at: r.get(6)?,
                    stats: stats.and_then(|s| serde_json::from_str(&s).ok()),
                    last_event: None,
                    cameras: Vec::new(),
                },
                r.get::<_, Option<String>>(8)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut cams = conn.prepare(
        "SELECT camera, state, reason, since, fps, inference_ms, restarts FROM cameras WHERE root = ?1 ORDER BY camera",
    )?;
    let mut out = Vec::with_capacity(boxes.len());
    for (mut b, last) in boxes.drain(..) {
        b.cameras = cams
            .query_map(params![b.root], |r| {
                Ok(CameraView {
                    camera: r.get(0)?,
                    state: r.get(1)?,
                    reason: r.get(2)?,
                    since: r.get(3)?,
                    fps: r.get(4)?,
                    inference_ms: r.get(5)?,
                    restarts: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some(id) = last {
            b.last_event = event(conn, &id)?;
        }
        out.push(b);
    }
    Ok(out)
}

/// The site of a box, by its topic root.
pub fn box_site(conn: &Connection, root: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT site FROM boxes WHERE root = ?1", params![root], |r| r.get(0)).optional()
}

/// The broker a box was last heard through.
pub fn box_broker(conn: &Connection, root: &str) -> rusqlite::Result<Option<usize>> {
    let b: Option<Option<i64>> =
        conn.query_row("SELECT broker FROM boxes WHERE root = ?1", params![root], |r| r.get(0)).optional()?;
    Ok(b.flatten().map(|b| b as usize))
}

/// One footage request in the log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FootageRow {
    pub asked_by: String,
    pub asked_at: String,
    /// `asked`, `done` or `failed`.
    pub state: String,
    pub detail: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
}

/// Logs a request as asked; its row id, for [`footage_ended`].
#[allow(clippy::too_many_arguments)]
pub fn footage_asked(
    conn: &Connection,
    event_id: &str,
    root: &str,
    camera: &str,
    from: &str,
    to: &str,
    asked_by: &str,
    at: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO footage(event_id, root, camera, from_ts, to_ts, asked_by, asked_at, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'asked')",
        params![event_id, root, camera, from, to, asked_by, at],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn footage_ended(
    conn: &Connection,
    row: i64,
    state: &str,
    detail: Option<&str>,
    bytes: Option<u64>,
    sha256: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE footage SET state = ?2, detail = ?3, bytes = ?4, sha256 = ?5 WHERE id = ?1",
        params![row, state, detail, bytes.map(|b| b as i64), sha256],
    )
    .map(drop)
}

/// Every request for an event's footage, newest first.
pub fn footage_log(conn: &Connection, event_id: &str) -> rusqlite::Result<Vec<FootageRow>> {
    conn.prepare(
        "SELECT asked_by, asked_at, state, detail, bytes, sha256 FROM footage WHERE event_id = ?1 ORDER BY id DESC",
    )?
    .query_map(params![event_id], |r| {
        Ok(FootageRow {
            asked_by: r.get(0)?,
            asked_at: r.get(1)?,
            state: r.get(2)?,
            detail: r.get(3)?,
            bytes: r.get::<_, Option<i64>>(4)?.map(|b| b as u64),
            sha256: r.get(5)?,
        })
    })?
    .collect()
}

pub fn footage_latest(conn: &Connection, event_id: &str) -> rusqlite::Result<Option<FootageRow>> {
    Ok(footage_log(conn, event_id)?.into_iter().next())
}

/// Crossings per interval of one line and direction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CountSeries {
    pub line: String,
    pub direction: String,
    /// (interval start, crossings of every label).
    pub points: Vec<(String, i64)>,
}

/// The counts of one camera, from `from` on, one series per line and direction.
pub fn counts(conn: &Connection, root: &str, camera: &str, from: &str) -> rusqlite::Result<Vec<CountSeries>> {
    let mut stmt = conn.prepare(
        "SELECT line, direction, from_ts, sum(count) FROM counts WHERE root = ?1 AND camera = ?2 AND from_ts >= ?3
         GROUP BY line, direction, from_ts ORDER BY line, direction, from_ts",
    )?;
    let rows = stmt.query_map(params![root, camera, from], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    let mut out: Vec<CountSeries> = Vec::new();
    for row in rows {
        let (line, direction, at, n) = row?;
        match out.last_mut() {
            Some(s) if s.line == line && s.direction == direction => s.points.push((at, n)),
            _ => out.push(CountSeries { line, direction, points: vec![(at, n)] }),
        }
    }
    Ok(out)
}

/// The intervals a camera's counts cover, oldest first: (from, to). The chart needs them to
/// draw a zero where nobody crossed.
pub fn count_intervals(conn: &Connection, root: &str, camera: &str, from: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT DISTINCT from_ts FROM counts WHERE root = ?1 AND camera = ?2 AND from_ts >= ?3 ORDER BY from_ts",
    )?
    .query_map(params![root, camera, from], |r| r.get(0))?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::topic::parse;

    const NOW: &str = "2026-12-04T10:00:00.000Z";

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = Store::open(&dir.path().join("station.db")).expect("open");
        (dir, s)
    }

    fn put(s: &mut Store, topic: &str, payload: &str) -> Result<Ingested, StoreError> {
        let t = parse("antt", topic).expect("a kept topic");
        s.ingest(&t, payload.as_bytes(), false, NOW)
    }

    fn reader(dir: &tempfile::TempDir) -> Connection {
        open_reader(&dir.path().join("station.db")).expect("reader")
    }

    const START: &str = r#"{"id":"e1","event_id":"e1","type":"start","camera":"road","ts":"2026-12-04T09:00:01.000Z","kind":"speeding","rule":"fast","label":"car","track_id":3,"speed_kmh":91.0}"#;
    const END: &str = r#"{"id":"e2","event_id":"e1","type":"end","camera":"road","ts":"2026-12-04T09:00:04.000Z","kind":"speeding","rule":"fast","label":"car","track_id":3,"max_kmh":97.5}"#;

    #[test]
    fn start_and_end_merge_into_one_event() {
        let (dir, mut s) = store();
        assert_eq!(
            put(&mut s, "antt/w/b/road/events", START).expect("start"),
            Ingested::Event { event_id: "e1".into(), start: true }
        );
        assert_eq!(
            put(&mut s, "antt/w/b/road/events", END).expect("end"),
            Ingested::Event { event_id: "e1".into(), start: false }
        );
        let e = event(&reader(&dir), "e1").expect("query").expect("stored");
        assert_eq!(
            (e.start_ts.as_str(), e.end_ts.as_deref()),
            ("2026-12-04T09:00:01.000Z", Some("2026-12-04T09:00:04.000Z"))
        );
        assert_eq!((e.site.as_str(), e.device.as_str(), e.camera.as_str()), ("w", "b", "road"));
        assert_eq!(e.fields["speed_kmh"], 91.0, "the start's fields stay");
        assert_eq!(e.fields["max_kmh"], 97.5, "the end's fields are added");
        assert_eq!(e.fields["type"], "end");
        assert!(e.is_alert());
    }

    #[test]
    fn a_crowd_keeps_its_largest_count() {
        let (dir, mut s) = store();
        let msg = |id: &str, ty: &str, n: u32| {
            format!(
                r#"{{"id":"{id}","event_id":"c","type":"{ty}","camera":"road","ts":"2026-12-04T09:00:0{n}.000Z","kind":"crowd","rule":"g","count":{n}}}"#
            )
        };
        for (id, ty, n) in [("1", "start", 4), ("2", "update", 6), ("3", "update", 5), ("4", "end", 2)] {
            put(&mut s, "antt/w/b/road/events", &msg(id, ty, n)).expect("crowd");
        }
        let e = event(&reader(&dir), "c").expect("query").expect("stored");
        assert_eq!((e.fields["count"].as_u64(), e.fields["count_max"].as_u64()), (Some(2), Some(6)));
    }

    #[test]
    fn an_end_before_its_start_is_completed_by_the_start() {
        let (dir, mut s) = store();
        put(&mut s, "antt/w/b/road/events", END).expect("end");
        put(&mut s, "antt/w/b/road/events", START).expect("start");
        let e = event(&reader(&dir), "e1").expect("query").expect("stored");
        assert_eq!(e.start_ts, "2026-12-04T09:00:01.000Z");
        assert_eq!(e.end_ts.as_deref(), Some("2026-12-04T09:00:04.000Z"));
        assert_eq!(e.fields["type"], "end", "the end's fields win");
        assert_eq!(e.fields["speed_kmh"], 91.0);
    }

    #[test]
    fn a_message_delivered_twice_is_stored_once() {
        let (dir, mut s) = store();
        put(&mut s, "antt/w/b/road/events", START).expect("start");
        assert_eq!(put(&mut s, "antt/w/b/road/events", START).expect("again"), Ingested::Duplicate);
        let msg = r#"{"id":"c1","camera":"road","kind":"counts","from":"2026-12-04T09:00:00.000Z","to":"2026-12-04T09:01:00.000Z","interval_s":60.0,"counts":[{"line":"l","label":"car","direction":"north","count":4}]}"#;
        put(&mut s, "antt/w/b/road/counts", msg).expect("counts");
        assert_eq!(put(&mut s, "antt/w/b/road/counts", msg).expect("again"), Ingested::Duplicate);
        let c = reader(&dir);
        assert_eq!(search(&c, &Filter::default(), None).expect("search").events.len(), 1);
        let series = counts(&c, "antt/w/b", "road", "").expect("counts");
        let one = CountSeries {
            line: "l".into(),
            direction: "north".into(),
            points: vec![("2026-12-04T09:00:00.000Z".into(), 4)],
        };
        assert_eq!(series, vec![one]);
    }

    #[test]
    fn bad_payloads_are_refused_with_the_reason_and_change_nothing() {
        let (dir, mut s) = store();
        let err = put(&mut s, "antt/w/b/road/events", "{not json").expect_err("refused");
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = put(&mut s, "antt/w/b/road/events", r#"{"id":"x","type":"start"}"#).expect_err("refused");
        assert!(err.to_string().contains("event_id"), "{err}");
        let err = put(&mut s, "antt/w/b/status", "maybe").expect_err("refused");
        assert!(err.to_string().contains("neither online nor offline"), "{err}");
        assert!(search(&reader(&dir), &Filter::default(), None).expect("search").events.is_empty());
    }

    #[test]
    fn a_counts_message_with_a_bad_entry_stores_none_of_it_and_can_come_again_mended() {
        let (dir, mut s) = store();
        let bad = r#"{"id":"c1","camera":"road","kind":"counts","from":"a","to":"b","counts":[{"line":"l","label":"car","direction":"n","count":4},{"line":"l"}]}"#;
        put(&mut s, "antt/w/b/road/counts", bad).expect_err("refused");
        assert!(counts(&reader(&dir), "antt/w/b", "road", "").expect("counts").is_empty());
        let good = r#"{"id":"c1","camera":"road","kind":"counts","from":"a","to":"b","counts":[{"line":"l","label":"car","direction":"n","count":4}]}"#;
        assert_eq!(
            put(&mut s, "antt/w/b/road/counts", good).expect("stored"),
            Ingested::Stored,
            "its id was not taken"
        );
    }

    #[test]
    fn the_board_shows_each_box_with_its_cameras_state_and_health() {
        let (dir, mut s) = store();
        put(&mut s, "antt/w/b/status", "online").expect("status");
        put(
            &mut s,
            "antt/w/b/road/status",
            r#"{"state":"online","reason":null,"ts":"2026-12-04T09:00:00.000Z","restarts":0}"#,
        )
        .expect("camera");
        put(&mut s, "antt/w/b/stats", r#"{"ts":"x","outbox":{"len":2,"dropped":0},"cameras":[{"camera":"road","fps":4.9,"inference_ms":61.5,"restarts":1}]}"#)
            .expect("stats");
        put(&mut s, "antt/w/b/road/events", START).expect("event");
        let f = fleet(&reader(&dir)).expect("fleet");
        assert_eq!(f.len(), 1);
        let b = &f[0];
        assert!(b.online);
        assert_eq!(b.since.as_deref(), Some(NOW));
        assert_eq!(b.stats.as_ref().map(|s| s["outbox"]["len"].clone()), Some(2.into()));
        assert_eq!(b.last_event.as_ref().map(|e| e.event_id.as_str()), Some("e1"));
        assert_eq!(b.cameras.len(), 1);
        let c = &b.cameras[0];
        assert_eq!(
            (c.state.as_deref(), c.fps, c.inference_ms, c.restarts),
            (Some("online"), Some(4.9), Some(61.5), Some(1))
        );
    }

    #[test]
    fn online_since_is_the_time_the_state_changed_not_each_repeat() {
        let (dir, mut s) = store();
        let t = parse("antt", "antt/w/b/status").expect("topic");
        s.ingest(&t, b"online", false, "2026-12-04T08:00:00.000Z").expect("online");
        s.ingest(&t, b"online", false, "2026-12-04T09:00:00.000Z").expect("online again");
        assert_eq!(fleet(&reader(&dir)).expect("fleet")[0].since.as_deref(), Some("2026-12-04T08:00:00.000Z"));
        s.ingest(&t, b"offline", false, "2026-12-04T09:30:00.000Z").expect("offline");
        let b = &fleet(&reader(&dir)).expect("fleet")[0];
        assert!(!b.online);
        assert_eq!(b.since.as_deref(), Some("2026-12-04T09:30:00.000Z"));
    }

    #[test]
    fn a_retained_message_does_not_make_a_dead_box_look_heard() {
        let (dir, mut s) = store();
        let t = parse("antt", "antt/w/b/status").expect("topic");
        s.ingest(&t, b"online", true, NOW).expect("retained");
        assert_eq!(fleet(&reader(&dir)).expect("fleet")[0].last_heard, None);
    }

    #[test]
    fn a_snapshot_is_stored_under_the_event_its_info_names() {
        let (dir, mut s) = store();
        put(&mut s, "antt/w/b/road/events", START).expect("event");
        assert_eq!(put(&mut s, "antt/w/b/road/snapshot", "JPEG?").expect("unmatched"), Ingested::Unmatched);
        put(
            &mut s,
            "antt/w/b/road/snapshot/info",
            r#"{"camera":"road","event_id":"e1","ts":"x","file":"f","bytes":5}"#,
        )
        .expect("info");
        put(&mut s, "antt/w/b/road/snapshot", "JPEG!").expect("snapshot");
        let c = reader(&dir);
        assert_eq!(snapshot(&c, "e1").expect("query").as_deref(), Some(&b"JPEG!"[..]));
        assert!(event(&c, "e1").expect("query").expect("event").has_snapshot);
    }

    #[test]
    fn search_filters_pages_and_sorts_newest_first() {
        let (dir, mut s) = store();
        for i in 0..7 {
            let cam = if i % 2 == 0 { "road" } else { "gate" };
            let kind = if i < 5 { "object" } else { "racing" };
            let payload = format!(
                r#"{{"id":"m{i}","event_id":"m{i}","type":"start","camera":"{cam}","ts":"2026-12-04T09:0{i}:00.000Z","kind":"{kind}","label":"motorcycle"}}"#
            );
            put(&mut s, &format!("antt/w/b/{cam}/events"), &payload).expect("event");
        }
        let c = reader(&dir);
        let ids = |f: Filter, limit| -> (Vec<String>, bool) {
            let found = search(&c, &f, limit).expect("search");
            (found.events.into_iter().map(|e| e.event_id).collect(), found.more)
        };
        assert_eq!(ids(Filter { camera: "road".into(), ..Default::default() }, None).0, ["m6", "m4", "m2", "m0"]);
        assert_eq!(ids(Filter { alerts: true, ..Default::default() }, None).0, ["m6", "m5"]);
        let window = Filter {
            from: "2026-12-04T09:02:00.000Z".into(),
            to: "2026-12-04T09:04:00.000Z".into(),
            ..Default::default()
        };
        assert_eq!(ids(window, None).0, ["m3", "m2"], "from inclusive, to exclusive");
        assert_eq!(
            ids(Filter { page: 0, ..Default::default() }, Some(3)),
            (vec!["m6".into(), "m5".into(), "m4".into()], true)
        );
        assert_eq!(ids(Filter { page: 2, ..Default::default() }, Some(3)), (vec!["m0".into()], false));
        assert_eq!(ids(Filter { site: "elsewhere".into(), ..Default::default() }, None).0, Vec::<String>::new());
        let seen_by = |sites: &[&str]| Filter {
            sites: Some(sites.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(ids(seen_by(&["w", "x"]), None).0.len(), 7, "a viewer of the site sees its events");
        assert_eq!(ids(seen_by(&["x"]), None).0, Vec::<String>::new(), "and of another site none");
        assert_eq!(ids(seen_by(&[]), None).0, Vec::<String>::new(), "nor with no site at all");
    }

    #[test]
    fn times_typed_in_a_form_are_read_as_utc() {
        assert_eq!(parse_time("2026-11-28 21:00").as_deref(), Ok("2026-11-28T21:00:00.000Z"));
        assert_eq!(parse_time("2026-11-28T21:30:05").as_deref(), Ok("2026-11-28T21:30:05.000Z"));
        assert_eq!(parse_time("2026-11-28T21:00:00+07:00").as_deref(), Ok("2026-11-28T14:00:00.000Z"));
        let err = Filter { to: "yesterday".into(), ..Default::default() }.normalised().expect_err("refused");
        assert!(err.starts_with("to: not a time"), "{err}");
    }

    #[test]
    fn old_message_ids_are_forgotten() {
        let (_dir, mut s) = store();
        let t = parse("antt", "antt/w/b/road/events").expect("topic");
        s.ingest(&t, START.as_bytes(), false, "2026-10-01T00:00:00.000Z").expect("old");
        assert_eq!(s.prune_seen(NOW).expect("prune"), 1);
        assert_eq!(s.prune_seen(NOW).expect("prune"), 0);
    }
}
