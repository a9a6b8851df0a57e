//! The console's web server: the pages of [`super::pages`] over the store, each request reading
//! on its own connection on a blocking thread, and the live alerts as server-sent events.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::access::{Access, Viewer};
use super::footage::{Footage, Status};
use super::ingest::IngestStats;
use super::pages;
use super::store::{self, EventRow, Filter};

pub struct Web {
    pub db: PathBuf,
    pub alerts: broadcast::Sender<EventRow>,
    pub stats: Arc<IngestStats>,
    pub brokers: Vec<String>,
    pub silent_after_s: i64,
    /// Video asked for before and after an event's time, on the event page.
    pub pre_roll_s: u32,
    pub post_roll_s: u32,
    pub footage: Arc<Footage>,
    /// Logins (`--users`); None: everyone who reaches the address sees everything.
    pub access: Option<Arc<Access>>,
}

pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(board))
        .route("/alerts", get(alerts))
        .route("/alerts/stream", get(alert_stream))
        .route("/search", get(search))
        .route("/search.csv", get(search_csv))
        .route("/event/{id}", get(event))
        .route("/event/{id}/footage", get(footage_status).post(footage_request))
        .route("/footage/{id}", get(footage_file))
        .route("/snapshot/{id}", get(snapshot))
        .route("/counts", get(counts))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], pages::CSS) }))
        .with_state(web)
}

const COOKIE: &str = "anttd_session";

fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_string))
}

/// Every page but the login asks who is looking: without a session, to the login.
impl axum::extract::FromRequestParts<Arc<Web>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        web: &Arc<Web>,
    ) -> Result<Self, Self::Rejection> {
        let Some(access) = &web.access else { return Ok(Viewer::anyone()) };
        match session_token(&parts.headers).and_then(|t| access.viewer(&t)) {
            Some(v) => Ok(v),
            None => Err(axum::response::Redirect::to("/login").into_response()),
        }
    }
}

async fn login_form() -> Html<String> {
    Html(pages::login(false))
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(State(web): State<Arc<Web>>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let Some(access) = web.access.clone() else { return axum::response::Redirect::to("/").into_response() };
    let name = f.name.clone();
    let token = tokio::task::spawn_blocking(move || access.login(&f.name, &f.password)).await.ok().flatten();
    match token {
        Some(t) => {
            tracing::info!(user = %name, "logged in");
            let cookie = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
            ([(header::SET_COOKIE, cookie)], axum::response::Redirect::to("/")).into_response()
        }
        None => {
            tracing::warn!(user = %name, "login refused");
            (StatusCode::UNAUTHORIZED, Html(pages::login(true))).into_response()
        }
    }
}

async fn logout(State(web): State<Arc<Web>>, headers: axum::http::HeaderMap) -> Response {
    if let (Some(access), Some(t)) = (&web.access, session_token(&headers)) {
        access.logout(&t);
    }
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, clear)], axum::response::Redirect::to("/login")).into_response()
}

/// A failure shown to the person who asked, the cause in the log.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Html(format!("<!doctype html><title>{}</title><p>{}</p>", self.0, pages::esc(&self.1))))
            .into_response()
    }
}

/// Runs `f` on a reader connection on a blocking thread.
async fn read<T: Send + 'static>(
    web: &Web,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let db = web.db.clone();
    let r = tokio::task::spawn_blocking(move || store::open_reader(&db).and_then(|c| f(&c))).await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("station database: {e}");
            Err(Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the station's database cannot be read: {e}")))
        }
        Err(e) => Err(Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the query failed: {e}"))),
    }
}

fn now() -> String {
    crate::event::rfc3339(SystemTime::now())
}

async fn board(State(web): State<Arc<Web>>, viewer: Viewer) -> Result<Html<String>, Failure> {
    let mut fleet = read(&web, store::fleet).await?;
    fleet.retain(|b| viewer.sees(&b.site));
    let s = &web.stats;
    let station = pages::StationStatus {
        brokers: web.brokers.iter().zip(&s.connected).map(|(b, up)| (b.clone(), up.load(Ordering::Relaxed))).collect(),
        received: s.received.load(Ordering::Relaxed),
        duplicates: s.duplicates.load(Ordering::Relaxed),
        rejected: s.rejected.load(Ordering::Relaxed),
    };
    Ok(Html(pages::board(&fleet, &now(), web.silent_after_s, &station).render(&viewer.name)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlertFilter {
    kind: String,
    site: String,
}

impl AlertFilter {
    fn admits(&self, e: &EventRow) -> bool {
        e.is_alert() && (self.kind.is_empty() || e.kind == self.kind) && (self.site.is_empty() || e.site == self.site)
    }
}

async fn alerts(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Query(a): Query<AlertFilter>,
) -> Result<Html<String>, Failure> {
    let sites = viewer.only().map(<[String]>::to_vec);
    let f = Filter { kind: a.kind.clone(), site: a.site.clone(), alerts: true, sites, ..Default::default() };
    let recent = read(&web, move |c| store::search(c, &f, Some(store::PAGE))).await?;
    Ok(Html(pages::alerts(&recent.events, &a.kind, &a.site).render(&viewer.name)))
}

async fn alert_stream(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Query(a): Query<AlertFilter>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = web.alerts.subscribe();
    let stream = futures_util::stream::unfold((rx, a, viewer), |(mut rx, a, viewer)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if a.admits(&e) && viewer.sees(&e.site) => {
                    let ev = Event::default().event("alert").data(pages::event_row(&e));
                    return Some((Ok(ev), (rx, a, viewer)));
                }
                Ok(_) => {}
                // A slow page missed some: it shows the ones that follow (a reload shows all).
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn search(State(web): State<Arc<Web>>, viewer: Viewer, Query(f): Query<Filter>) -> Result<Html<String>, Failure> {
    let f = match f.clone().normalised() {
        Ok(f) => Filter { sites: viewer.only().map(<[String]>::to_vec), ..f },
        Err(e) => return Ok(Html(pages::search(&f, Err(&e)).render(&viewer.name))),
    };
    let q = f.clone();
    let found = read(&web, move |c| store::search(c, &q, Some(store::PAGE))).await?;
    Ok(Html(pages::search(&f, Ok(&found)).render(&viewer.name)))
}

async fn search_csv(State(web): State<Arc<Web>>, viewer: Viewer, Query(f): Query<Filter>) -> Result<Response, Failure> {
    let f = f.normalised().map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    let f = Filter { sites: viewer.only().map(<[String]>::to_vec), ..f };
    let found = read(&web, move |c| store::search(c, &f, None)).await?;
    let body = pages::csv(&found.events).map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"anttd-events.csv\""),
        ],
        body,
    )
        .into_response())
}

/// An event the viewer may see; None for one of another site, as for one that does not exist.
fn visible(c: &rusqlite::Connection, id: &str, viewer: &Viewer) -> rusqlite::Result<Option<EventRow>> {
    Ok(store::event(c, id)?.filter(|e| viewer.sees(&e.site)))
}

async fn event(State(web): State<Arc<Web>>, viewer: Viewer, Path(id): Path<String>) -> Result<Html<String>, Failure> {
    let key = id.clone();
    let footage = Arc::clone(&web.footage);
    let v = viewer.clone();
    let found = read(&web, move |c| {
        let Some(e) = visible(c, &key, &v)? else { return Ok(None) };
        let status = footage.status(&e, c)?;
        let log = store::footage_log(c, &key)?;
        Ok(Some((e, status, log)))
    })
    .await?;
    match found {
        Some((e, status, log)) => {
            Ok(Html(pages::event(&e, web.pre_roll_s, web.post_roll_s, &status, &log).render(&viewer.name)))
        }
        None => Err(Failure(StatusCode::NOT_FOUND, format!("no event {id} at this station"))),
    }
}

async fn footage_status(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<axum::Json<Status>, Failure> {
    let footage = Arc::clone(&web.footage);
    let key = id.clone();
    let status = read(&web, move |c| match visible(c, &key, &viewer)? {
        Some(e) => footage.status(&e, c).map(Some),
        None => Ok(None),
    })
    .await?;
    status.map(axum::Json).ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no event {id} at this station")))
}

/// Who asked, for the footage log: the user logged in to the station, else the one a reverse
/// proxy in front logged in (its `X-Forwarded-User`; the station then listens on loopback only,
/// behind it), with the address the request came from.
fn asker(viewer: &Viewer, headers: &axum::http::HeaderMap, peer: std::net::SocketAddr) -> String {
    if !viewer.name.is_empty() {
        return format!("{} ({})", viewer.name, peer.ip());
    }
    match headers.get("x-forwarded-user").and_then(|v| v.to_str().ok()).filter(|u| !u.is_empty()) {
        Some(user) => format!("{user} (via {})", peer.ip()),
        None => peer.ip().to_string(),
    }
}

async fn footage_request(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Result<Response, Failure> {
    let key = id.clone();
    let v = viewer.clone();
    let found = read(&web, move |c| {
        let Some(e) = visible(c, &key, &v)? else { return Ok(None) };
        let broker = store::box_broker(c, &e.root)?;
        Ok(Some((e, broker)))
    })
    .await?;
    let Some((e, broker)) = found else {
        return Err(Failure(StatusCode::NOT_FOUND, format!("no event {id} at this station")));
    };
    let (from, to) = pages::footage_range(&e, web.pre_roll_s, web.post_roll_s);
    web.footage
        .request(&e, broker.unwrap_or(0), &from, &to, &asker(&viewer, &headers, peer))
        .map_err(|why| Failure(StatusCode::CONFLICT, why))?;
    Ok(axum::response::Redirect::to(&format!("/event/{}", pages::url(&id))).into_response())
}

async fn footage_file(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let key = id.clone();
    let seen = read(&web, move |c| visible(c, &key, &viewer)).await?.is_some();
    let Some(file) = web.footage.file(&id).filter(|_| seen) else {
        return Err(Failure(StatusCode::NOT_FOUND, format!("no footage of event {id} at this station")));
    };
    let path = file.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {}: {e}", file.display())))?;
    Ok(([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response())
}

async fn snapshot(State(web): State<Arc<Web>>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, Failure> {
    let key = id.clone();
    let jpeg = read(&web, move |c| match visible(c, &key, &viewer)? {
        Some(_) => store::snapshot(c, &key),
        None => Ok(None),
    });
    match jpeg.await? {
        Some(jpeg) => Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response()),
        None => Err(Failure(StatusCode::NOT_FOUND, format!("no snapshot of event {id} at this station"))),
    }
}

#[derive(Deserialize)]
struct CountsQuery {
    root: String,
    camera: String,
    #[serde(default)]
    from: String,
}

async fn counts(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Query(q): Query<CountsQuery>,
) -> Result<Html<String>, Failure> {
    let from = if q.from.is_empty() {
        String::new()
    } else {
        store::parse_time(&q.from).map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("from: {e}")))?
    };
    let (root, camera, v) = (q.root.clone(), q.camera.clone(), viewer.clone());
    let found = read(&web, move |c| {
        if !store::box_site(c, &root)?.is_some_and(|site| v.sees(&site)) {
            return Ok(None);
        }
        Ok(Some((store::count_intervals(c, &root, &camera, &from)?, store::counts(c, &root, &camera, &from)?)))
    })
    .await?;
    let Some((intervals, series)) = found else {
        return Err(Failure(StatusCode::NOT_FOUND, format!("no box {} at this station", q.root)));
    };
    Ok(Html(pages::counts(&q.root, &q.camera, &intervals, &series).render(&viewer.name)))
}
