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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;

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

/// What a session holds.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token or key it was opened with; `None` when att was open.
    pub credential: Option<Arc<str>>,
    /// What the pages send back in [`CSRF_HEADER`].
    pub csrf: Arc<str>,
    opened: Instant,
    seen: Instant,
}

/// The live sessions of this process (they do not survive a restart: log in again).
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    secure: bool,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // No randomness is no session: the id must not be guessable.
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Sessions whose cookies are `Secure` when `secure` (att serves HTTPS).
    pub fn new(secure: bool) -> Self {
        Self {
            by_id: Mutex::default(),
            secure,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `credential`; returns its id and `Set-Cookie` value.
    pub fn open(&self, credential: Option<&str>) -> (String, Session, HeaderValue) {
        let now = Instant::now();
        let id = random_token();
        let session = Session {
            credential: credential.map(Arc::from),
            csrf: Arc::from(random_token()),
            opened: now,
            seen: now,
        };
        let mut map = self.map();
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        drop(map);
        let cookie = self.cookie(&id, None);
        (id, session, cookie)
    }

    /// The live session `id`, marked as used now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.map();
        let s = map.get_mut(id)?;
        if !live(s, now) {
            map.remove(id);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }

    /// Ends session `id`; returns the `Set-Cookie` value that clears the cookie.
    pub fn close(&self, id: &str) -> HeaderValue {
        self.map().remove(id);
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

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.opened) < LIFETIME
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

    #[test]
    fn a_session_is_found_by_its_cookie_until_closed() {
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
        assert!(sessions.close(&id).to_str().unwrap().contains("Max-Age=0"));
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
