//! Dashboard sessions: a browser presents its token once (`/login`) and then a cookie.
//!
//! A session is a random 32-byte id (the cookie `att_session`: `HttpOnly`, `SameSite=Strict`,
//! `Path=/`, `Secure` when att serves HTTPS) that maps to the credential it was opened with and
//! a CSRF token. The credential is kept, not the principal it named: every request
//! re-authenticates it ([`crate::auth::Auth::authenticate`]), so a revoked or expired key ends
//! its sessions at once, and the role is always the key's current one. Without a token on
//! loopback (att is open) a session holds no credential and is opened on the first page.
//!
//! The cookie is honoured only on the dashboard's own paths ([`super::is_dashboard_path`]):
//! `/api` and `/mcp` stay bearer-only, so no ambient credential reaches them. A
//! state-changing request carried by a session must also carry the session's CSRF token in
//! `X-CSRF-Token` (the pages set it on every htmx request); [`decide`] is the whole rule, a
//! pure function table-tested below.
//!
//! Bounds: at most [`MAX_SESSIONS`] (the least recently used goes first), each ends after
//! [`IDLE`] without a request and [`LIFETIME`] after it was opened.
//!
//! Sessions opened by a login survive a restart of att: they are written to the store
//! ([`SessionStore`], a port both engines implement) and read back when att starts
//! ([`Sessions::restore`]). The store keeps the SHA-256 of each session id, never the id (a
//! copy of the database lets nobody present a session), the credential sealed like every
//! secret at rest, the CSRF token, and when the session was opened and last used (written
//! at most every [`TOUCH`], not on every request). A session ended, evicted or expired is
//! deleted there too; expired rows go when att starts and at each login. Anonymous sessions
//! (att open on loopback) are not stored: they hold nothing, and a page opens a new one.
//!
//! Across the atts of a cluster (one PostgreSQL database) the store is the shared record: a
//! cookie this att does not hold is read from it, and a logout anywhere ends the session
//! everywhere ([`read_through`], which also says how unknown cookies are bounded).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use att_runtime::store::StoreError;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

mod read_through;

/// The cookie's name.
pub const COOKIE: &str = "att_session";
/// The header a state-changing dashboard request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 1024;
/// A session unused for this long ends.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after it was opened, however busy.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How stale the stored "last used" of a session may get before a request writes it again.
pub const TOUCH: Duration = Duration::from_secs(5 * 60);

/// What a session holds.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token or key it was opened with; `None` when att was open.
    pub credential: Option<Arc<str>>,
    /// What the pages send back in [`CSRF_HEADER`].
    pub csrf: Arc<str>,
    opened: OffsetDateTime,
    seen: OffsetDateTime,
    /// When `seen` was last written to the store (`None`: not stored).
    stored_seen: Option<OffsetDateTime>,
}

/// A session as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// SHA-256 of the session id (the cookie's value).
    pub id_hash: [u8; 32],
    /// The credential it was opened with (sealed at rest by the store).
    pub credential: Option<String>,
    /// Its CSRF token.
    pub csrf: String,
    /// When it was opened.
    pub opened_at: OffsetDateTime,
    /// When it was last used (to [`TOUCH`]).
    pub seen_at: OffsetDateTime,
}

/// Where dashboard sessions are kept across restarts.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts `session`, or replaces the one with its id hash.
    async fn save_session(&self, session: &StoredSession) -> Result<(), StoreError>;
    /// Records that the session was used at `seen_at`.
    async fn touch_session(
        &self,
        id_hash: &[u8; 32],
        seen_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Forgets a session.
    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Deletes the sessions opened before `opened_before` or unused since `seen_before`.
    async fn prune_sessions(
        &self,
        opened_before: OffsetDateTime,
        seen_before: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// The `limit` most recently used sessions.
    async fn list_sessions(&self, limit: u32) -> Result<Vec<StoredSession>, StoreError>;
    /// The session with this id hash, if stored.
    async fn find_session(&self, id_hash: &[u8; 32]) -> Result<Option<StoredSession>, StoreError>;
    /// The id hashes of the `limit` most recently used sessions (nothing unsealed).
    async fn session_hashes(&self, limit: u32) -> Result<Vec<[u8; 32]>, StoreError>;
}

/// The live sessions of this att, and the store that keeps them across restarts.
#[derive(Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
    secure: bool,
    store: Option<Arc<dyn SessionStore>>,
    /// Cookies looked up in the store and not found there ([`read_through`]).
    misses: Mutex<read_through::Misses>,
    /// Store look-ups of unknown cookies in flight at most ([`read_through`]).
    lookups: read_through::Lookups,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .field("stored", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // No randomness is no session: the id must not be guessable.
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keys a session by.
pub fn id_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Runs a store write in the background (requests do not wait for it); a failure is logged.
fn in_background(
    what: &'static str,
    write: impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            if let Err(e) = write.await {
                tracing::warn!(error = %e, "dashboard sessions: could not {what}");
            }
        });
    }
}

impl Sessions {
    /// Sessions whose cookies are `Secure` when `secure` (att serves HTTPS), kept only in
    /// memory.
    pub fn new(secure: bool) -> Self {
        Self {
            secure,
            ..Self::default()
        }
    }

    /// These sessions, kept in `store` too.
    pub fn stored_in(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_hash.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the stored sessions back (after a restart), dropping the expired ones; answers
    /// how many are live.
    pub async fn restore(&self) -> Result<usize, StoreError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let now = OffsetDateTime::now_utc();
        store.prune_sessions(now - LIFETIME, now - IDLE).await?;
        let stored = store.list_sessions(MAX_SESSIONS as u32).await?;
        let mut map = self.map();
        for s in stored {
            let session = Session {
                credential: s.credential.as_deref().map(Arc::from),
                csrf: Arc::from(s.csrf.as_str()),
                opened: s.opened_at,
                seen: s.seen_at,
                stored_seen: Some(s.seen_at),
            };
            if live(&session, now) {
                map.insert(s.id_hash, session);
            }
        }
        Ok(map.len())
    }

    /// Opens a session for `credential`; returns its id and `Set-Cookie` value. A session
    /// with a credential is stored (awaited: the login's answer follows the write).
    pub async fn open_stored(&self, credential: &str) -> (String, Session, HeaderValue) {
        let (id, mut session, cookie) = self.open(Some(credential));
        if let Some(store) = &self.store {
            let now = session.opened;
            let record = StoredSession {
                id_hash: id_hash(&id),
                credential: Some(credential.to_owned()),
                csrf: session.csrf.to_string(),
                opened_at: now,
                seen_at: now,
            };
            match store.save_session(&record).await {
                Ok(()) => {
                    session.stored_seen = Some(now);
                    if let Some(s) = self.map().get_mut(&record.id_hash) {
                        s.stored_seen = Some(now);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "dashboard sessions: could not store one"),
            }
            let store = store.clone();
            in_background("prune expired sessions", async move {
                store
                    .prune_sessions(now - LIFETIME, now - IDLE)
                    .await
                    .map(|_| ())
            });
        }
        (id, session, cookie)
    }

    /// Opens a session for `credential` in memory; returns its id and `Set-Cookie` value.
    pub fn open(&self, credential: Option<&str>) -> (String, Session, HeaderValue) {
        let now = OffsetDateTime::now_utc();
        let id = random_token();
        let session = Session {
            credential: credential.map(Arc::from),
            csrf: Arc::from(random_token()),
            opened: now,
            seen: now,
            stored_seen: None,
        };
        self.admit(id_hash(&id), session.clone(), now);
        let cookie = self.cookie(&id, None);
        (id, session, cookie)
    }

    /// Keeps `session` in memory under `hash`, within [`MAX_SESSIONS`]: the expired leave
    /// memory, then the least recently used goes (and is deleted from the store).
    fn admit(&self, hash: [u8; 32], session: Session, now: OffsetDateTime) {
        let mut gone = Vec::new();
        let mut map = self.map();
        // An expired copy leaves memory only: another att may have used the session since
        // (the store's `seen` is the cluster's; expired rows are pruned by it).
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && !map.contains_key(&hash)
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k)
            && let Some(s) = map.remove(&oldest)
            && s.stored_seen.is_some()
        {
            gone.push(oldest);
        }
        map.insert(hash, session);
        drop(map);
        self.forget_stored(gone);
    }

    fn forget_stored(&self, hashes: Vec<[u8; 32]>) {
        let Some(store) = &self.store else { return };
        for h in hashes {
            let store = store.clone();
            in_background("delete an ended session", async move {
                store.delete_session(&h).await
            });
        }
    }

    /// The live session `id`, marked as used now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = OffsetDateTime::now_utc();
        let hash = id_hash(id);
        let mut map = self.map();
        let s = map.get_mut(&hash)?;
        if !live(s, now) {
            // Memory only (see `open`); a session used elsewhere since is read back.
            map.remove(&hash);
            return None;
        }
        s.seen = now;
        let stale = s.stored_seen.is_some_and(|at| now - at >= TOUCH);
        if stale {
            s.stored_seen = Some(now);
        }
        let found = s.clone();
        drop(map);
        if stale && let Some(store) = self.store.clone() {
            in_background("record a session's use", async move {
                store.touch_session(&hash, now).await
            });
        }
        Some(found)
    }

    /// Ends session `id`; returns the `Set-Cookie` value that clears the cookie.
    pub async fn close(&self, id: &str) -> HeaderValue {
        let hash = id_hash(id);
        let removed = self.map().remove(&hash);
        if let (Some(store), Some(s)) = (&self.store, removed)
            && s.stored_seen.is_some()
            && let Err(e) = store.delete_session(&hash).await
        {
            tracing::warn!(error = %e, "dashboard sessions: could not delete an ended one");
        }
        self.cookie("", Some(0))
    }

    fn cookie(&self, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut text = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
        if let Some(age) = max_age {
            text.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        HeaderValue::from_str(&text).expect("a base64url id is a valid header value")
    }
}

fn live(s: &Session, now: OffsetDateTime) -> bool {
    now - s.seen < IDLE && now - s.opened < LIFETIME
}

/// The session id in a request's `Cookie` headers.
pub fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// How a dashboard request is let in (or not): the outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Authenticate the bearer credential, as for the API.
    Bearer,
    /// Authenticate the session's credential.
    Session,
    /// att is open and this read has no session: open one (anonymous) and let it through.
    OpenAnonymous,
    /// Show the login form (a page read without a usable session).
    Login,
    /// A state-changing request carried by a session without its CSRF token: 403.
    CsrfRefused,
    /// No credential for a state-changing request: 401.
    Unauthenticated,
}

/// The access rule of a dashboard request: `bearer` whether it has an `Authorization`
/// header, `session` the CSRF token of its live session, `csrf` the token it sent, `open`
/// whether att accepts anonymous callers.
pub fn decide(
    method: &Method,
    bearer: bool,
    session: Option<&str>,
    csrf: Option<&str>,
    open: bool,
) -> Access {
    let reads = matches!(*method, Method::GET | Method::HEAD);
    if bearer {
        return Access::Bearer;
    }
    match session {
        Some(expected) => {
            let sent = csrf.unwrap_or_default();
            if reads || crate::auth::keys::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
                Access::Session
            } else {
                Access::CsrfRefused
            }
        }
        None if reads && open => Access::OpenAnonymous,
        None if reads => Access::Login,
        None => Access::Unauthenticated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_requests_are_let_in_by_the_table() {
        let (get, post) = (Method::GET, Method::POST);
        let cases = [
            // method, bearer, session csrf, sent csrf, open => access
            (&get, true, None, None, false, Access::Bearer),
            (&post, true, Some("t"), None, false, Access::Bearer),
            (&get, false, Some("t"), None, false, Access::Session),
            (&post, false, Some("t"), Some("t"), false, Access::Session),
            (
                &post,
                false,
                Some("t"),
                Some("x"),
                false,
                Access::CsrfRefused,
            ),
            (&post, false, Some("t"), None, true, Access::CsrfRefused),
            (
                &post,
                false,
                Some("t"),
                Some(""),
                false,
                Access::CsrfRefused,
            ),
            (&get, false, None, None, true, Access::OpenAnonymous),
            (&get, false, None, None, false, Access::Login),
            (&post, false, None, None, true, Access::Unauthenticated),
            (
                &post,
                false,
                None,
                Some("t"),
                false,
                Access::Unauthenticated,
            ),
        ];
        for (method, bearer, session, csrf, open, expected) in cases {
            assert_eq!(
                decide(method, bearer, session, csrf, open),
                expected,
                "{method} bearer={bearer} session={session:?} csrf={csrf:?} open={open}"
            );
        }
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_until_closed() {
        let sessions = Sessions::new(false);
        let (id, session, cookie) = sessions.open(Some("secret"));
        let text = cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Path=/") && !text.contains("secret"));
        let mut headers = HeaderMap::new();
        let pair = format!("other=1; {COOKIE}={id}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        let found = sessions.get(cookie_id(&headers).unwrap()).unwrap();
        assert_eq!(found.csrf, session.csrf);
        assert_eq!(found.credential.as_deref(), Some("secret"));
        assert!(
            sessions
                .close(&id)
                .await
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn sessions_are_bounded_and_the_least_recent_goes_first() {
        let sessions = Sessions::new(true);
        let (first, _, cookie) = sessions.open(None);
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        let (second, _, _) = sessions.open(None);
        for _ in 2..MAX_SESSIONS {
            sessions.open(None);
        }
        // Touch the first: the second is now the least recently used.
        assert!(sessions.get(&first).is_some());
        sessions.open(None);
        assert!(sessions.get(&first).is_some());
        assert!(sessions.get(&second).is_none());
        assert_eq!(sessions.map().len(), MAX_SESSIONS);
    }
}
