//! A small W3C WebDriver client (plain JSON over HTTP, with reqwest) driving a real headless
//! Chromium through `chromedriver`: start a session, navigate, find, click, type, run a
//! script, take a screenshot. Enough for the dashboard's browser tests, without a WebDriver
//! crate's dependency tree.
//!
//! [`Browser::start`] answers `None` (and the test prints why and passes) when `chromedriver`
//! is not installed; CI installs it (`.ci/run`). The driver runs in its own process group
//! with a fresh profile directory, and the whole group is killed when the [`Browser`] drops,
//! so no Chromium outlives a test, even a failed one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// A Chromium session behind a `chromedriver` of its own.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// A headless Chromium with a `width`×`height` window, or `None` (printed) when
    /// `chromedriver` is missing.
    pub async fn start(test: &str, width: u32, height: u32) -> Option<Self> {
        let Some(driver_bin) = find_on_path("chromedriver") else {
            println!(
                "{test}: skipped: chromedriver not found (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = super::free_port();
        let mut cmd = Command::new(driver_bin);
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            http,
            session: String::new(),
            driver,
            _profile: profile,
        };
        // The driver is up when it answers /status.
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser
            .http
            .get(format!("{base}/status"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let mut options = json!({ "args": args });
        // A desktop window is at least 500 px wide: narrower is a phone, emulated.
        if width < 500 {
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 1.0, "mobile": true, "touch": false }});
        }
        if let Some(chromium) = find_on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options } } });
        let r: Value = browser
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"));
        browser.session = format!("{base}/session/{id}");
        Some(browser)
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_cmd(method.clone(), path, body).await {
            Ok(v) => v,
            Err((err, message)) => panic!("{method} {path}: {err}: {message}"),
        }
    }

    /// A command, or WebDriver's error name and message.
    async fn try_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (String, Value)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .json()
            .await
            .expect("WebDriver JSON");
        if let Some(err) = r["value"]["error"].as_str() {
            return Err((err.to_owned(), r["value"]["message"].clone()));
        }
        Ok(r["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Opens `url` (waits for the load).
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The first element matching `css` (fails the test when none does).
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element `{css}`: {v}"))
            .to_owned()
    }

    /// Clicks the element matching `css`. A live region refreshed between finding the
    /// element and clicking it (the dashboard fetches its regions again when its event stream
    /// opens) leaves a stale reference: the element is found again, a few times at most.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let id = self.find(css).await;
            match self
                .try_cmd(
                    reqwest::Method::POST,
                    &format!("/element/{id}/click"),
                    Some(json!({})),
                )
                .await
            {
                Ok(_) => return,
                Err((err, _)) if err == "stale element reference" => continue,
                Err((err, message)) => panic!("click `{css}`: {err}: {message}"),
            }
        }
        panic!("click `{css}`: the element was replaced five times in a row");
    }

    /// Types `text` into the element matching `css` (keys, as a person would).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// Accepts the open `confirm()` dialog (an action's confirmation).
    pub async fn accept_dialog(&self) {
        self.post("/alert/accept", json!({})).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// The text of the first element matching `css`, if any.
    pub async fn text(&self, css: &str) -> Option<String> {
        let v = self
            .exec(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                json!([css]),
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    /// Waits (up to `limit`) until the element matching `css` has text for which `ok` holds.
    pub async fn wait_text(&self, css: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = self.text(css).await
                && ok(t.trim())
            {
                return t.trim().to_owned();
            }
            if Instant::now() >= deadline {
                let page = self
                    .exec(
                        "return location.href + ' :: ' + document.documentElement.outerHTML.slice(0, 1500);",
                        json!([]),
                    )
                    .await;
                panic!(
                    "timed out waiting on `{css}`; it says {:?}; the page: {page}",
                    self.text(css).await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses Tab (as a keyboard user moving focus) and returns the focused element's
    /// `tagName.className` and text.
    pub async fn tab(&self) -> String {
        let key = |t: &str| json!({"type": t, "value": "\u{E004}"});
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [key("keyDown"), key("keyUp")]}]}),
        )
        .await;
        self.exec(
            "const e = document.activeElement; return e.tagName.toLowerCase() + '.' + e.className + ' ' + e.textContent.trim();",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// How much wider the page is than the window (0: no horizontal scrolling).
    pub async fn overflow_x(&self) -> i64 {
        self.exec(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            json!([]),
        )
        .await
        .as_i64()
        .unwrap_or(i64::MAX)
    }

    /// Saves a PNG of the window as `<target>/dashboard-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("valid base64");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("dashboard-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's group holds Chromium and its helpers.
        let pgid = i32::try_from(self.driver.id()).expect("pid fits");
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
