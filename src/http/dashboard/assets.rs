//! The dashboard's static files, compiled into the binary (no CDN, works offline): htmx
//! (vendored, `assets/htmx.min.js`, 0BSD), the style sheet and the live-update script.
//!
//! Pages link each file as `/assets/<file>?v=<hash of its content>` and the answer may be
//! cached for a year (`immutable`): a new build with changed files changes the links.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

/// Every file: name, content type, bytes.
const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/htmx.min.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/dashboard.css"),
    ),
];

/// The link of each file, with its content hash.
static URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, _, bytes)| {
            let hash = sha2::Sha256::digest(bytes);
            let tag: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
            (*name, format!("/assets/{name}?v={tag}"))
        })
        .collect()
});

/// The versioned link of asset `name`.
pub fn url(name: &str) -> &'static str {
    URLS.iter()
        .find(|(n, _)| *n == name)
        .map_or("/assets/missing", |(_, u)| u.as_str())
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut r = (*bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let hex = hex.trim_start_matches('#');
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex colour")) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn text_colours_meet_wcag_aa_on_their_backgrounds() {
        let css = std::str::from_utf8(FILES[2].2).expect("utf-8 css");
        let var = |name: &str| -> String {
            let at = css.find(&format!("--{name}: #")).expect("variable defined") + name.len() + 4;
            css[at..at + 7].to_owned()
        };
        let pairs = [
            (var("fg"), var("bg")),
            (var("fg"), var("panel")),
            (var("muted"), var("bg")),
            (var("muted"), var("panel")),
            (var("link"), var("bg")),
            (var("link"), var("panel")),
            (var("ok-fg"), var("ok-bg")),
            (var("warn-fg"), var("warn-bg")),
            (var("bad-fg"), var("bad-bg")),
            (var("off-fg"), var("off-bg")),
            // The header's links and the buttons.
            ("#ffffff".into(), "#12263f".into()),
            ("#ffffff".into(), "#2c4f7c".into()),
            ("#ffffff".into(), "#0a4fa8".into()),
            ("#ffffff".into(), "#a11212".into()),
        ];
        for (fg, bg) in pairs {
            let ratio = contrast(&fg, &bg);
            assert!(ratio >= 4.5, "{fg} on {bg}: {ratio:.2} < 4.5");
        }
    }

    #[test]
    fn every_asset_has_a_versioned_link() {
        for (name, _, _) in FILES {
            let link = url(name);
            assert!(link.starts_with(&format!("/assets/{name}?v=")), "{link}");
        }
        assert_eq!(url("nope.js"), "/assets/missing");
    }
}
