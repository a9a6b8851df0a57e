//! The console's pages, rendered on the server as plain HTML: no script library, no CDN, nothing
//! fetched from outside the station. The only script is the alerts page's few lines that add
//! rows as the server sends them. Pure: data in, HTML out.

use std::fmt::Write;

use serde_json::Value;

use super::footage::Status;
use super::store::{BoxView, CountSeries, EventRow, Filter, FootageRow, Found};

/// The one stylesheet, served as `/style.css`.
pub const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1c2330;background:#f4f6f9}
header{background:#17324d;color:#fff;padding:8px 16px;display:flex;gap:20px;align-items:baseline}
header b{font-size:16px;margin-right:12px}
header a{color:#cfe3ff;text-decoration:none}header .user{margin-left:auto;color:#cfe3ff}header a.on{color:#fff;font-weight:600}
main{padding:12px 16px}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;min-width:50%}
th,td{border:1px solid #d5dbe3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e9eef4;font-weight:600}
.ok{color:#11723a;font-weight:600}.bad{color:#fff;background:#c0392b;padding:1px 6px;border-radius:3px;font-weight:600}
.warn{color:#fff;background:#d68910;padding:1px 6px;border-radius:3px;font-weight:600}
.muted{color:#6b7685}.num{text-align:right;font-variant-numeric:tabular-nums}
tr.silent td,tr.offline td{background:#fdecea}#fleet td,#alerts td,#results td{white-space:nowrap}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;background:#fff;padding:8px;border:1px solid #d5dbe3}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#4a5566}
.error{background:#fdecea;border:1px solid #c0392b;padding:6px 10px}
img.snap{max-width:720px;border:1px solid #d5dbe3}img.thumb{max-height:60px}
code,pre{background:#eef1f5;padding:2px 4px;white-space:pre-wrap;word-break:break-all}
";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A stored time (`2026-12-04T09:00:01.000Z`) as a person reads it: `2026-12-04 09:00:01`.
fn when(ts: &str) -> String {
    esc(&ts.replacen('T', " ", 1).chars().take(19).collect::<String>())
}

/// "3 min ago" from two stored times.
fn ago(ts: &str, now: &str) -> String {
    let (Some(a), Some(b)) = (seconds(ts), seconds(now)) else { return String::new() };
    let s = (b - a).max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

pub fn seconds(ts: &str) -> Option<i64> {
    crate::event::ts_ms(ts).map(|ms| ms.div_euclid(1000))
}

/// A page before it is wrapped in the console's frame (which names who is logged in).
pub struct Page {
    pub title: String,
    /// The navigation entry to highlight.
    pub active: &'static str,
    /// Extra `<head>` content.
    pub head: &'static str,
    pub body: String,
}

fn page(title: &str, active: &'static str, body: &str, head: &'static str) -> Page {
    Page { title: title.to_string(), active, head, body: body.to_string() }
}

impl Page {
    /// The whole document; `user` (empty without logins) is shown with a way to log out.
    pub fn render(&self, user: &str) -> String {
        let nav: String = [("/", "Board"), ("/alerts", "Alerts"), ("/search", "Search")]
            .iter()
            .map(|(href, name)| {
                format!(r#"<a href="{href}"{}>{name}</a>"#, if *name == self.active { r#" class="on""# } else { "" })
            })
            .collect();
        let who = if user.is_empty() {
            String::new()
        } else {
            format!(r#"<span class="user" id="user">{} · <a href="/logout">log out</a></span>"#, esc(user))
        };
        format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{} · anttd station</title><link rel="stylesheet" href="/style.css">{}</head><body><header><b>anttd station</b>{nav}{who}</header><main>{}</main></body></html>"#,
            esc(&self.title),
            self.head,
            self.body
        )
    }
}

/// The login form; `error` after a failed attempt.
pub fn login(error: bool) -> String {
    let body = format!(
        r#"{}<form class="filters" method="post" action="/login" id="login"><label>name <input name="name" autocomplete="username" autofocus></label><label>password <input name="password" type="password" autocomplete="current-password"></label><button>Log in</button></form>"#,
        if error { r#"<p class="error">Wrong name or password.</p>"# } else { "" }
    );
    Page { title: "Log in".into(), active: "", head: "", body }.render("")
}

/// What the station itself reports under the board.
pub struct StationStatus {
    pub brokers: Vec<(String, bool)>,
    pub received: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// The fleet board: every box and its cameras. A box is **silent** when it says it is online
/// but nothing was heard from it for `silent_after_s`: its link or its daemon is stuck without
/// the broker having noticed.
pub fn board(fleet: &[BoxView], now: &str, silent_after_s: i64, station: &StationStatus) -> Page {
    let mut b = String::new();
    let offline = fleet.iter().filter(|x| !x.online).count();
    let silent = fleet.iter().filter(|x| is_silent(x, now, silent_after_s)).count();
    let _ = write!(
        b,
        r#"<p id="summary">{} {}: <span class="ok">{} online</span>{}{}</p>"#,
        fleet.len(),
        if fleet.len() == 1 { "box" } else { "boxes" },
        fleet.len() - offline - silent,
        if offline > 0 { format!(r#", <span class="bad">{offline} offline</span>"#) } else { String::new() },
        if silent > 0 { format!(r#", <span class="warn">{silent} silent</span>"#) } else { String::new() },
    );
    b.push_str(
        r#"<table id="fleet"><tr><th>site</th><th>box</th><th>state</th><th>last heard</th><th>camera</th><th>camera state</th><th class="num">fps</th><th class="num">inference ms</th><th class="num">restarts</th><th class="num">outbox</th><th class="num">dropped</th><th>last event</th></tr>"#,
    );
    for x in fleet {
        let silent = is_silent(x, now, silent_after_s);
        let (class, state) = if !x.online {
            (
                "offline",
                format!(
                    r#"<span class="bad">offline</span> since {}"#,
                    x.since.as_deref().map(when).unwrap_or_default()
                ),
            )
        } else if silent {
            (
                "silent",
                format!(
                    r#"<span class="warn">silent</span> (online since {})"#,
                    x.since.as_deref().map(when).unwrap_or_default()
                ),
            )
        } else {
            (
                "online",
                format!(r#"<span class="ok">online</span> since {}"#, x.since.as_deref().map(when).unwrap_or_default()),
            )
        };
        let stat = |path: [&str; 2]| {
            x.stats.as_ref().and_then(|s| s[path[0]][path[1]].as_i64()).map(|n| n.to_string()).unwrap_or_default()
        };
        let (outbox, dropped) = (stat(["outbox", "len"]), stat(["outbox", "dropped"]));
        let last = x
            .last_event
            .as_ref()
            .map(|e| {
                format!(
                    r#"<a href="/event/{}">{} {}</a> <span class="muted">{}</span>"#,
                    url(&e.event_id),
                    esc(&e.kind),
                    esc(&e.camera),
                    when(&e.start_ts)
                )
            })
            .unwrap_or_default();
        let heard = x.last_heard.as_deref().map(|t| ago(t, now)).unwrap_or_else(|| "never".into());
        let rows = x.cameras.len().max(1);
        let _ = write!(
            b,
            r#"<tr class="{class}" data-box="{}"><td rowspan="{rows}">{}</td><td rowspan="{rows}">{}</td><td rowspan="{rows}" class="state">{state}</td><td rowspan="{rows}">{heard}</td>"#,
            esc(&x.root),
            esc(&x.site),
            esc(&x.device)
        );
        let mut first = true;
        for c in &x.cameras {
            if !first {
                let _ = write!(b, r#"<tr class="{class}">"#);
            }
            let cam_state = match c.state.as_deref() {
                Some("online") => r#"<span class="ok">online</span>"#.to_string(),
                Some(s) => format!(r#"<span class="bad">{}</span> {}"#, esc(s), esc(c.reason.as_deref().unwrap_or(""))),
                None => String::new(),
            };
            let counts = format!(
                r#" <a class="muted" href="/counts?root={}&amp;camera={}">counts</a>"#,
                url(&x.root),
                url(&c.camera)
            );
            let _ = write!(
                b,
                r#"<td>{}{counts}</td><td>{cam_state}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>"#,
                esc(&c.camera),
                c.fps.map(|v| format!("{v:.1}")).unwrap_or_default(),
                c.inference_ms.map(|v| format!("{v:.1}")).unwrap_or_default(),
                c.restarts.map(|v| v.to_string()).unwrap_or_default(),
            );
            if first {
                let _ = write!(
                    b,
                    r#"<td class="num" rowspan="{rows}">{outbox}</td><td class="num" rowspan="{rows}">{dropped}</td><td rowspan="{rows}">{last}</td>"#
                );
                first = false;
            }
            b.push_str("</tr>");
        }
        if x.cameras.is_empty() {
            let _ = write!(
                b,
                r#"<td colspan="5" class="muted">no camera reported yet</td><td class="num">{outbox}</td><td class="num">{dropped}</td><td>{last}</td></tr>"#
            );
        }
    }
    b.push_str("</table>");
    let brokers: Vec<String> = station
        .brokers
        .iter()
        .map(|(a, up)| {
            format!(
                "{} {}",
                esc(a),
                if *up { r#"<span class="ok">connected</span>"# } else { r#"<span class="bad">not connected</span>"# }
            )
        })
        .collect();
    let _ = write!(
        b,
        r#"<p class="muted" id="station">Station: {}; {} messages received, {} duplicates dropped, {} unreadable. Silent means online but not heard for {} s. This page refreshes every 10 s.</p>"#,
        brokers.join(", "),
        station.received,
        station.duplicates,
        station.rejected,
        silent_after_s
    );
    page("Board", "Board", &b, r#"<meta http-equiv="refresh" content="10">"#)
}

fn is_silent(x: &BoxView, now: &str, after_s: i64) -> bool {
    x.online
        && match (x.last_heard.as_deref().and_then(seconds), seconds(now)) {
            (Some(heard), Some(now)) => now - heard > after_s,
            _ => true,
        }
}

/// The field an event is best summed up by, per kind.
fn summary(e: &EventRow) -> String {
    let f = &e.fields;
    let num = |k: &str| f.get(k).and_then(Value::as_f64);
    let mut parts = Vec::new();
    if let Some(l) = &e.label {
        parts.push(l.clone());
    }
    match e.kind.as_str() {
        "speeding" => {
            if let (Some(v), Some(l)) = (num("max_kmh").or(num("speed_kmh")), num("limit_kmh")) {
                parts.push(format!("{v:.0} km/h in {l:.0}"));
            }
        }
        "racing" => {
            if let Some(n) = f.get("group_size").and_then(Value::as_u64) {
                parts.push(format!("{n} riders"));
            }
            if let Some(v) = num("max_kmh") {
                parts.push(format!("up to {v:.0} km/h"));
            }
        }
        "crowd" => {
            if let Some(n) = f.get("count_max").or(f.get("count")).and_then(Value::as_u64) {
                parts.push(format!("up to {n} people"));
            }
        }
        "line_cross" => {
            if let (Some(l), Some(d)) =
                (f.get("line").and_then(Value::as_str), f.get("direction").and_then(Value::as_str))
            {
                parts.push(format!("{l} {d}"));
            }
        }
        "collision_suspect" => {
            if let Some(l) = f.get("labels").and_then(Value::as_array) {
                parts.push(l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" and "));
            }
        }
        _ => {}
    }
    esc(&parts.join(", "))
}

/// One row of the alerts and search tables; the alerts page's live rows are made here too.
pub fn event_row(e: &EventRow) -> String {
    let state = match (&e.end_ts, e.kind.as_str()) {
        (_, "line_cross") => "",
        (Some(_), _) => "ended",
        (None, _) => "open",
    };
    let thumb = if e.has_snapshot {
        format!(r#"<img class="thumb" src="/snapshot/{}" alt="snapshot">"#, url(&e.event_id))
    } else {
        String::new()
    };
    format!(
        r#"<tr class="event" data-kind="{kind}" data-site="{site}"><td><a href="/event/{id}">{ts}</a></td><td>{site}</td><td>{dev}</td><td>{cam}</td><td>{kind}</td><td>{rule}</td><td>{summary}</td><td>{state}</td><td>{thumb}</td></tr>"#,
        id = url(&e.event_id),
        ts = when(&e.start_ts),
        site = esc(&e.site),
        dev = esc(&e.device),
        cam = esc(&e.camera),
        kind = esc(&e.kind),
        rule = esc(e.rule.as_deref().unwrap_or("")),
        summary = summary(e),
    )
}

const EVENT_HEAD: &str = "<tr><th>time (UTC)</th><th>site</th><th>box</th><th>camera</th><th>kind</th><th>rule</th><th>what</th><th>state</th><th>snapshot</th></tr>";

/// The kinds a box sends (docs/mqtt.md), for the filters.
const KINDS: [&str; 9] = [
    "object",
    "line_cross",
    "crowd",
    "loitering",
    "stopped_vehicle",
    "speeding",
    "racing",
    "collision_suspect",
    "wrong_way",
];

fn kind_select(selected: &str, with_all: &str) -> String {
    let mut s = format!(r#"<select name="kind"><option value="">{with_all}</option>"#);
    for k in KINDS {
        let _ = write!(s, r#"<option{}>{k}</option>"#, if k == selected { " selected" } else { "" });
    }
    s.push_str("</select>");
    s
}

/// Live alerts: the newest rule events, and new ones added as they arrive (server-sent events).
pub fn alerts(recent: &[EventRow], kind: &str, site: &str) -> Page {
    let rows: String = recent.iter().map(event_row).collect();
    let body = format!(
        r#"<form class="filters" method="get"><label>kind {}</label><label>site <input name="site" value="{}"></label><button>Filter</button></form>
<p class="muted">New alerts appear at the top as the boxes send them. <span id="live">connecting…</span></p>
<table id="alerts">{EVENT_HEAD}{rows}</table>
<script>
const s = new EventSource('/alerts/stream' + location.search);
const live = document.getElementById('live');
s.onopen = () => live.textContent = 'live';
s.onerror = () => live.textContent = 'reconnecting…';
s.addEventListener('alert', m => document.querySelector('#alerts tbody tr').insertAdjacentHTML('afterend', m.data));
</script>"#,
        kind_select(kind, "every rule"),
        esc(site)
    );
    page("Alerts", "Alerts", &body, "")
}

/// The query string of `f` with `page` replaced (for the paging links and the CSV export).
pub fn query(f: &Filter, page: Option<usize>) -> String {
    let mut q = Vec::new();
    for (k, v) in [
        ("from", &f.from),
        ("to", &f.to),
        ("site", &f.site),
        ("box", &f.device),
        ("camera", &f.camera),
        ("kind", &f.kind),
        ("rule", &f.rule),
        ("label", &f.label),
    ] {
        if !v.is_empty() {
            q.push(format!("{k}={}", url(v)));
        }
    }
    if f.alerts {
        q.push("alerts=true".into());
    }
    if let Some(p) = page {
        q.push(format!("page={p}"));
    }
    q.join("&")
}

/// Search: the form, one page of results, paging, and the CSV export of every result.
pub fn search(f: &Filter, found: Result<&Found, &str>) -> Page {
    let input = |name: &str, label: &str, v: &str, ph: &str| {
        format!(r#"<label>{label} <input name="{name}" value="{}" placeholder="{ph}"></label>"#, esc(v))
    };
    let mut body = format!(
        r#"<form class="filters" method="get" id="search">{}{}{}{}{}<label>kind {}</label>{}{}<label><span>rule events only</span><input type="checkbox" name="alerts" value="true"{}></label><button>Search</button></form>"#,
        input("from", "from (UTC)", &f.from, "2026-11-28 21:00"),
        input("to", "to (UTC)", &f.to, "2026-11-28 21:30"),
        input("site", "site", &f.site, ""),
        input("box", "box", &f.device, ""),
        input("camera", "camera", &f.camera, ""),
        kind_select(&f.kind, "any"),
        input("rule", "rule", &f.rule, ""),
        input("label", "label", &f.label, "motorcycle"),
        if f.alerts { " checked" } else { "" },
    );
    match found {
        Err(e) => {
            let _ = write!(body, r#"<p class="error">{}</p>"#, esc(e));
        }
        Ok(found) => {
            let first = f.page * super::store::PAGE;
            let _ = write!(
                body,
                r#"<p id="found">{} <a href="/search.csv?{}">Export every result as CSV</a></p>"#,
                if found.events.is_empty() {
                    "No event matches.".to_string()
                } else {
                    format!("Events {} to {}, newest first.", first + 1, first + found.events.len())
                },
                esc(&query(f, None))
            );
            let rows: String = found.events.iter().map(event_row).collect();
            let _ = write!(body, r#"<table id="results">{EVENT_HEAD}{rows}</table><p>"#);
            if f.page > 0 {
                let _ = write!(body, r#"<a href="/search?{}">newer</a> "#, esc(&query(f, Some(f.page - 1))));
            }
            if found.more {
                let _ = write!(body, r#"<a id="older" href="/search?{}">older</a>"#, esc(&query(f, Some(f.page + 1))));
            }
            body.push_str("</p>");
        }
    }
    page("Search", "Search", &body, "")
}

/// The CSV header and one line per event, for a case file.
pub fn csv(events: &[EventRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "start_utc",
        "end_utc",
        "site",
        "box",
        "camera",
        "kind",
        "rule",
        "label",
        "event_id",
        "snapshot_on_box",
        "clip_on_box",
        "clip_sha256",
        "fields",
    ])?;
    for e in events {
        let f = &e.fields;
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        w.write_record([
            e.start_ts.clone(),
            e.end_ts.clone().unwrap_or_default(),
            e.site.clone(),
            e.device.clone(),
            e.camera.clone(),
            e.kind.clone(),
            e.rule.clone().unwrap_or_default(),
            e.label.clone().unwrap_or_default(),
            e.event_id.clone(),
            s(&f["snapshot"]),
            s(&f["clip"]["file"]),
            s(&f["clip"]["sha256"]),
            f.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The time range of an event's footage: from `pre_roll_s` before its start to `post_roll_s`
/// after its end (its start while it is open).
pub fn footage_range(e: &EventRow, pre_roll_s: u32, post_roll_s: u32) -> (String, String) {
    let from = shifted(&e.start_ts, -(pre_roll_s as i64));
    let to = shifted(e.end_ts.as_deref().unwrap_or(&e.start_ts), post_roll_s as i64);
    (from, to)
}

/// One event: its snapshot, every field, its clip, and its footage: a button that asks the
/// box for it, its progress, then the video; or, without keys, the `anttd fetch` command.
pub fn event(e: &EventRow, pre_roll_s: u32, post_roll_s: u32, footage: &Status, log: &[FootageRow]) -> Page {
    let mut body = format!(
        r#"<h2>{} at {} / {} / {}</h2><p>{} UTC{}</p>"#,
        esc(&e.kind),
        esc(&e.site),
        esc(&e.device),
        esc(&e.camera),
        when(&e.start_ts),
        e.end_ts
            .as_deref()
            .filter(|_| e.kind != "line_cross")
            .map(|t| format!(" to {} UTC", when(t)))
            .unwrap_or_else(|| " (open)".into())
    );
    if e.has_snapshot {
        let _ = write!(
            body,
            r#"<img class="snap" id="snapshot" src="/snapshot/{}" alt="snapshot of the event">"#,
            url(&e.event_id)
        );
    } else {
        body.push_str(r#"<p class="muted">No snapshot of this event reached the station. A box publishes pictures only with <code>[evidence] publish_snapshots = true</code>, and then only each camera's newest, at most one per <code>snapshot_min_interval_s</code>; every event's snapshot stays on the box (its <code>snapshot</code> field below).</p>"#);
    }
    let clip = &e.fields["clip"];
    body.push_str("<h3>Footage</h3>");
    if let Some(file) = clip["file"].as_str() {
        let _ = write!(
            body,
            r#"<p id="clip">The box cut a clip of this event: <code>{}</code>, {} s, {} bytes, SHA-256 <code>{}</code>.</p>"#,
            esc(file),
            clip["duration_s"],
            clip["bytes"],
            esc(clip["sha256"].as_str().unwrap_or(""))
        );
    } else if e.end_ts.is_some() {
        body.push_str(r#"<p id="clip" class="muted">The box made no clip of this event.</p>"#);
    } else {
        body.push_str(r#"<p id="clip" class="muted">The event is still open: its clip comes with its end.</p>"#);
    }
    let (from, to) = footage_range(e, pre_roll_s, post_roll_s);
    let id = url(&e.event_id);
    let ask = |label: &str| {
        format!(
            r#"<form method="post" action="/event/{id}/footage"><button id="get-footage">{label}</button> <span class="muted">{} to {} UTC, {pre_roll_s} s before the event to {post_roll_s} s after, from the box's ring, checked against the box's signature and SHA-256.</span></form>"#,
            when(&from),
            when(&to)
        )
    };
    body.push_str(r#"<div id="footage">"#);
    match footage {
        Status::Unavailable { why } => {
            let _ = write!(
                body,
                r#"<p class="muted">{}. From a terminal with the station's key:</p><pre id="fetch">anttd fetch --host BROKER --key station.key --box-key BOX_PUBLIC_KEY \
  --root {} --camera {} \
  --from {} --to {} -o {}.mp4</pre>"#,
                esc(why),
                esc(&e.root),
                esc(&e.camera),
                esc(&from),
                esc(&to),
                esc(&e.event_id)
            );
        }
        Status::None => body.push_str(&ask("Get the footage")),
        Status::Running { received, total } => {
            let _ = write!(
                body,
                r#"<p id="progress">Asking the box: {}</p><script>
(async function poll() {{
  const s = await (await fetch(location.pathname + '/footage')).json();
  if (s.state !== 'running') return location.reload();
  document.getElementById('progress').textContent = 'Asking the box: ' + (s.total ? s.received + ' of ' + s.total + ' bytes' : 'waiting for its answer');
  setTimeout(poll, 500);
}})();
</script>"#,
                if *total > 0 { format!("{received} of {total} bytes") } else { "waiting for its answer".into() }
            );
        }
        Status::Done { bytes, sha256 } => {
            let _ = write!(
                body,
                r#"<video id="video" controls preload="metadata" width="720" src="/footage/{id}"></video><p><a id="download" href="/footage/{id}" download="{id}.mp4">Download the MP4</a> ({bytes} bytes, SHA-256 <code>{}</code>, as the box signed it).</p>"#,
                esc(sha256)
            );
        }
        Status::Failed { error } => {
            let _ = write!(body, r#"<p class="error" id="footage-error">The last request failed: {}</p>"#, esc(error));
            body.push_str(&ask("Ask again"));
        }
    }
    body.push_str("</div>");
    if !log.is_empty() {
        body.push_str(r#"<h3>Requests for this footage</h3><table id="footage-log"><tr><th>asked at (UTC)</th><th>by</th><th>result</th></tr>"#);
        for r in log {
            let result = match r.state.as_str() {
                "done" => format!("received, {} bytes", r.bytes.unwrap_or(0)),
                "failed" => format!("failed: {}", r.detail.as_deref().unwrap_or("")),
                other => other.to_string(),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(&r.asked_at),
                esc(&r.asked_by),
                esc(&result)
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h3>Every field</h3>");
    body.push_str(r#"<table id="fields"><tr><th>field</th><th>value</th></tr>"#);
    if let Some(obj) = e.fields.as_object() {
        for (k, v) in obj {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(body, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&shown));
        }
    }
    body.push_str("</table>");
    page(&format!("{} {}", e.kind, e.start_ts), "", &body, "")
}

/// `ts` moved by `s` seconds (the stored form), or `ts` itself if it cannot be read.
fn shifted(ts: &str, s: i64) -> String {
    match crate::event::ts_ms(ts).and_then(|ms| u64::try_from(ms + s * 1000).ok()) {
        Some(ms) => crate::event::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        None => ts.to_string(),
    }
}

/// Crossings over time, one line per line and direction, drawn as SVG on the server.
pub fn counts(root: &str, camera: &str, intervals: &[String], series: &[CountSeries]) -> Page {
    let mut body = format!(r#"<h2>Crossings at {} / {}</h2>"#, esc(root), esc(camera));
    if intervals.is_empty() {
        body.push_str(r#"<p class="muted">No counts yet: counts come from cameras with lines, once per <code>counts_interval_s</code>.</p>"#);
        return page("Counts", "", &body, "");
    }
    body.push_str(&chart(intervals, series));
    body.push_str("<table id=\"counts\"><tr><th>interval from (UTC)</th>");
    for s in series {
        let _ = write!(body, "<th>{} {}</th>", esc(&s.line), esc(&s.direction));
    }
    body.push_str("</tr>");
    for at in intervals.iter().rev().take(200) {
        let _ = write!(body, "<tr><td>{}</td>", when(at));
        for s in series {
            let n = s.points.iter().find(|(t, _)| t == at).map(|(_, n)| *n).unwrap_or(0);
            let _ = write!(body, r#"<td class="num">{n}</td>"#);
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    page("Counts", "", &body, "")
}

const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

fn chart(intervals: &[String], series: &[CountSeries]) -> String {
    let (w, h, left, bottom) = (720.0, 240.0, 40.0, 24.0);
    let max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).max().unwrap_or(0).max(1) as f64;
    let n = intervals.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / n;
    let y = |v: f64| 10.0 + (h - bottom - 10.0) * (1.0 - v / max);
    let mut svg = format!(
        r#"<svg id="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" style="background:#fff;border:1px solid #d5dbe3">"#
    );
    let _ = write!(
        svg,
        r##"<text x="4" y="{:.0}" font-size="11">{max:.0}</text><text x="4" y="{:.0}" font-size="11">0</text>"##,
        y(max) + 4.0,
        y(0.0) + 4.0
    );
    let _ =
        write!(svg, r##"<line x1="{left}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#999"/>"##, y(0.0), w - 10.0, y(0.0));
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = intervals
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let v = s.points.iter().find(|(t, _)| t == at).map(|(_, n)| *n).unwrap_or(0) as f64;
                format!("{:.1},{:.1}", x(i), y(v))
            })
            .collect();
        let colour = COLOURS[k % COLOURS.len()];
        let _ =
            write!(svg, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, points.join(" "));
        let _ = write!(
            svg,
            r#"<text x="{:.0}" y="{:.0}" font-size="11" fill="{colour}">{} {}</text>"#,
            left + 8.0 + 150.0 * k as f64,
            h - 6.0,
            esc(&s.line),
            esc(&s.direction)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, fields: Value) -> EventRow {
        EventRow {
            event_id: "01a2-x".into(),
            root: "antt/w/b".into(),
            site: "w".into(),
            device: "b".into(),
            camera: "road".into(),
            kind: kind.into(),
            rule: Some("r<1>".into()),
            label: Some("car".into()),
            start_ts: "2026-12-04T09:00:01.000Z".into(),
            end_ts: None,
            fields,
            has_snapshot: false,
        }
    }

    #[test]
    fn text_from_a_box_is_escaped() {
        assert_eq!(esc(r#"<script>"a"&'b'"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;");
        let row = event_row(&ev("speeding", serde_json::json!({})));
        assert!(row.contains("r&lt;1&gt;") && !row.contains("r<1>"), "{row}");
    }

    #[test]
    fn a_query_round_trips_through_the_url() {
        let f = Filter {
            from: "2026-11-28T21:00:00.000Z".into(),
            camera: "gate 2".into(),
            alerts: true,
            ..Default::default()
        };
        assert_eq!(query(&f, Some(2)), "from=2026-11-28T21%3A00%3A00.000Z&camera=gate%202&alerts=true&page=2");
    }

    #[test]
    fn the_event_page_gives_the_fetch_command_with_the_rolls() {
        let mut e = ev("speeding", serde_json::json!({"max_kmh": 97.5}));
        e.end_ts = Some("2026-12-04T09:00:04.000Z".into());
        let why = Status::Unavailable { why: "footage requests are off".into() };
        let html = event(&e, 5, 10, &why, &[]).render("");
        assert!(html.contains("--from 2026-12-04T08:59:56.000Z --to 2026-12-04T09:00:14.000Z"), "{html}");
        assert!(html.contains("--root antt/w/b --camera road"), "{html}");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let e = ev("speeding", serde_json::json!({"a": "x,y"}));
        let text = String::from_utf8(csv(&[e]).expect("csv")).expect("utf-8");
        let mut lines = text.lines();
        assert!(lines.next().expect("header").starts_with("start_utc,end_utc,site,box,camera,kind"));
        assert_eq!(
            lines.next().expect("row"),
            r#"2026-12-04T09:00:01.000Z,,w,b,road,speeding,r<1>,car,01a2-x,,,,"{""a"":""x,y""}""#
        );
    }

    #[test]
    fn a_box_online_but_not_heard_is_silent() {
        let b = BoxView {
            root: "antt/w/b".into(),
            site: "w".into(),
            device: "b".into(),
            online: true,
            since: Some("2026-12-04T08:00:00.000Z".into()),
            last_heard: Some("2026-12-04T09:00:00.000Z".into()),
            stats_at: None,
            stats: None,
            last_event: None,
            cameras: vec![],
        };
        assert!(!is_silent(&b, "2026-12-04T09:00:59.000Z", 60));
        assert!(is_silent(&b, "2026-12-04T09:01:01.000Z", 60));
        let offline = BoxView { online: false, ..b };
        assert!(!is_silent(&offline, "2026-12-04T10:00:00.000Z", 60), "offline is shown as offline, not silent");
    }
}
