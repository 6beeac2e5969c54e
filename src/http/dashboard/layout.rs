//! The page shell every dashboard page shares (head, navigation, who is signed in) and the
//! small pieces pages are made of: status badges, relative times, pagers, error notes.
//!
//! Everything text goes through maud's escaping; nothing a caller or an upstream sent is ever
//! written unescaped. Scripts come only from `/assets` (the CSP forbids inline script); the
//! session's CSRF token rides in `hx-headers` on `<body>`, so every htmx request carries it.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;
use time::OffsetDateTime;

use super::DashSession;
use crate::auth::{Principal, Role};

/// Rows per page in every table.
pub const PAGE_SIZE: usize = 50;

/// The pages in the navigation: path and label.
const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/gateway", "Gateway"),
    ("/actors", "Actors"),
    ("/releases", "Releases"),
    ("/services", "Services"),
    ("/projects", "Projects"),
];

/// Who is looking, for the shell and for hiding what they may not do.
pub struct Viewer<'a> {
    pub principal: &'a Principal,
    pub session: Option<&'a DashSession>,
}

impl Viewer<'_> {
    /// Whether they may do what needs `role` (buttons they may not use are not shown; the
    /// server checks anyway).
    pub fn may(&self, role: Role) -> bool {
        self.principal.may(role)
    }
}

/// A whole page: `title`, the nav entry `active`, and `body`.
pub fn page(title: &str, active: &str, viewer: &Viewer<'_>, body: Markup) -> Response {
    let csrf = viewer.session.map(|s| &*s.csrf).unwrap_or_default();
    let headers = serde_json::json!({ "X-CSRF-Token": csrf }).to_string();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}"#;
                title { "att · " (title) }
                link rel="stylesheet" href=(super::assets::url("dashboard.css"));
                script src=(super::assets::url("htmx.min.js")) defer {}
                script src=(super::assets::url("dashboard.js")) defer {}
            }
            body hx-headers=(headers) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "att" }
                    nav aria-label="Main" {
                        @for (path, label) in NAV {
                            @if path == active {
                                a href=(path) aria-current="page" { (label) }
                            } @else {
                                a href=(path) { (label) }
                            }
                        }
                    }
                    span.who {
                        (viewer.principal.name) " · " (viewer.principal.role.as_str())
                        @if viewer.session.is_some() && viewer.principal.name != "anonymous" {
                            form.inline method="post" action="/logout" hx-post="/logout" {
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                p #live-state .muted role="status" aria-live="polite" { "" }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// An HTML fragment (an htmx swap) with `status`.
pub fn fragment(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A JSON enum's name (`"degraded"`), for labels and CSS classes.
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// A coloured status word; `status` also names its CSS class (`st-healthy`, …).
pub fn badge(status: &str) -> Markup {
    html! { span class={"badge st-" (status)} { (status) } }
}

/// `at` as "12 s ago" / "in 3 min" (the exact time in the tooltip).
pub fn relative(at: OffsetDateTime, now: OffsetDateTime) -> Markup {
    let secs = (now - at).whole_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let amount = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=86_399 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    let text = if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    };
    let exact = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time datetime=(exact) title=(exact) { (text) } }
}

/// A countdown to `at` that `dashboard.js` keeps current ("in 12 s", then "now").
pub fn countdown(at: OffsetDateTime, now: OffsetDateTime) -> Markup {
    let exact = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time data-until=(exact) datetime=(exact) { (relative(at, now)) } }
}

/// A page of `total` rows: which slice `page` (1-based, clamped) covers.
pub fn slice(total: usize, page: usize) -> (usize, std::ops::Range<usize>) {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    (page, start..(start + PAGE_SIZE).min(total))
}

/// Previous/next links for `page` of `total` rows; `link` makes a page's URL.
pub fn pager(total: usize, page: usize, link: impl Fn(usize) -> String) -> Markup {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    html! {
        nav.pager aria-label="Pages" {
            @if page > 1 {
                a href=(link(page - 1)) rel="prev" { "← Previous" }
            }
            span { "page " (page) " of " (pages) " · " (total) " rows" }
            @if page < pages {
                a href=(link(page + 1)) rel="next" { "Next →" }
            }
        }
    }
}

/// A note saying what went wrong (an API error's text).
pub fn error_note(text: &str) -> Markup {
    html! { p.note.st-bad role="alert" { (text) } }
}

/// The message of an API error, as its JSON body says it (`detail`, and `field` first).
pub async fn error_text(e: crate::http::error::ApiError) -> String {
    let response = e.into_response();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let detail = match &v["detail"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "error".to_owned(),
        other => other.to_string(),
    };
    match v["field"].as_str() {
        Some(field) => format!("{field}: {detail}"),
        None => detail,
    }
}

/// Percent-encodes a query value or a path segment (a space is `%20`, never `+`, which a
/// path would keep as a plus).
pub fn q(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_row_once_and_clamp() {
        let cases = [
            (0, 1, 1, 0..0),
            (10, 1, 1, 0..10),
            (50, 2, 1, 0..50),
            (51, 2, 2, 50..51),
            (1000, 7, 7, 300..350),
            (1000, 0, 1, 0..50),
            (1000, 99, 20, 950..1000),
        ];
        for (total, asked, page, range) in cases {
            assert_eq!(
                slice(total, asked),
                (page, range),
                "{total} rows, page {asked}"
            );
        }
    }

    #[test]
    fn names_are_encoded_for_paths_and_queries() {
        assert_eq!(q("a b+c/d?e&f"), "a%20b%2Bc%2Fd%3Fe%26f");
        assert_eq!(q("service:web"), "service%3Aweb");
    }

    #[test]
    fn text_is_escaped() {
        let m = html! { p { ("<script>alert(1)</script>") } };
        assert_eq!(
            m.into_string(),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
    }
}
