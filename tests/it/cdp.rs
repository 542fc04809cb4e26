//! A small Chrome DevTools Protocol (CDP) client, enough for the browser tests to use headless
//! Chromium as a person would: start it, open a page, navigate, press keys, read the page
//! with JavaScript and take screenshots.
//!
//! One WebSocket to the browser carries everything. A page is reached through a flattened
//! session (`Target.attachToTarget` with `flatten: true`), so its commands and events carry a
//! `sessionId`. Replies are matched to commands by `id`; events that arrive while a reply is
//! awaited are kept until something waits for them. Every wait ends after [`WAIT`], so a
//! stuck browser fails the test instead of hanging it, and the failure shows the end of
//! Chromium's own log.

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Where Debian's package installs Chromium; `scripts/install-test-deps` puts it there.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The longest any one wait on the browser may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often [`Page::wait_until`] asks the page again.
const POLL: Duration = Duration::from_millis(50);

/// How many of Chromium's last stderr lines are kept for failure messages.
const LOG_LINES: usize = 30;

/// Events kept unclaimed at most; older ones are dropped first.
const MAX_EVENTS: usize = 1000;

/// Flags for a quiet, headless, throwaway browser that talks to nothing but the tests.
/// `--no-sandbox` because tests run as root, where Chromium refuses its sandbox, and
/// `--disable-dev-shm-usage` because containers often have a tiny `/dev/shm`.
const FLAGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
];

/// A headless Chromium process and its DevTools connection; the process is killed on drop
/// (its helper processes exit with it).
pub struct Chromium {
    connection: Connection,
    log: Log,
    _process: Child,
    _profile: TempDir,
}

/// One page (tab) of the browser, driven through its own session.
pub struct Page<'a> {
    browser: &'a mut Chromium,
    /// The flattened session id every command and event of this page carries.
    session: String,
    /// The main frame, whose loads are the page's loads.
    frame: String,
}

/// A key that is pressed rather than typed as text.
#[derive(Clone, Copy, Debug)]
pub enum Key {
    /// Moves focus to the next field.
    Tab,
    /// Submits the form the focused field is in.
    Enter,
}

/// Why a DevTools command or wait failed.
#[derive(Debug)]
enum CdpError {
    /// The browser answered the command with an error.
    Protocol { method: String, message: String },
    /// Nothing that was awaited arrived within [`WAIT`].
    Timeout(String),
    /// The WebSocket failed or closed: Chromium exited or crashed.
    Closed(String),
}

/// The DevTools WebSocket: commands out, replies and events in.
struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: VecDeque<Value>,
}

/// The last lines Chromium wrote to stderr.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<VecDeque<String>>>);

impl Chromium {
    /// Starts headless Chromium with a fresh profile, the usual [`FLAGS`] and `args`.
    ///
    /// Panics when Chromium is not installed, saying how to install it: a browser test that
    /// cannot run must fail, never pass.
    pub async fn launch(args: &[String]) -> Chromium {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/install-test-deps (scripts/test runs it \
             before cargo test) to install Debian's chromium for the browser tests"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut process = Command::new(CHROMIUM)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {CHROMIUM}: {error}"));

        let log = Log::default();
        let stderr = process.stderr.take().unwrap();
        let url = devtools_url(stderr, log.clone()).await;
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url))
            .await
            .unwrap_or_else(|_| panic!("connecting to {url} timed out{}", log.tail()))
            .unwrap_or_else(|error| panic!("connecting to {url}: {error}{}", log.tail()));
        let connection = Connection {
            socket,
            next_id: 1,
            events: VecDeque::new(),
        };
        Chromium {
            connection,
            log,
            _process: process,
            _profile: profile,
        }
    }

    /// Opens a new blank page and attaches to it, with page events and lifecycle events on.
    pub async fn open_page(&mut self) -> Page<'_> {
        let blank = json!({ "url": "about:blank" });
        let target = self.call(None, "Target.createTarget", blank).await;
        let attach = json!({ "targetId": target["targetId"], "flatten": true });
        let attached = self.call(None, "Target.attachToTarget", attach).await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();

        let on = Some(session.as_str());
        self.call(on, "Page.enable", json!({})).await;
        let lifecycle = json!({ "enabled": true });
        self.call(on, "Page.setLifecycleEventsEnabled", lifecycle)
            .await;
        let tree = self.call(on, "Page.getFrameTree", json!({})).await;
        let frame = tree["frameTree"]["frame"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        Page {
            browser: self,
            session,
            frame,
        }
    }

    /// Sends a command (to a page when `session` is given) and returns its result, failing
    /// the test with Chromium's log if it does not succeed.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.connection.call(session, method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{error}{}", self.log.tail()),
        }
    }
}

impl Page<'_> {
    /// Sends a command to this page and returns its result; fails the test on an error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// Opens `url` and waits until its page (after any redirects) has loaded.
    pub async fn navigate(&mut self, url: &str) {
        let reply = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = reply["errorText"].as_str() {
            panic!("navigating to {url}: {error}");
        }
        let loader = reply["loaderId"].as_str().unwrap().to_owned();
        self.wait_for_load(|id| id == loader).await;
    }

    /// Waits until the next page has loaded: call it after an action (a key press, a click)
    /// that should lead to another page.
    pub async fn wait_for_next_load(&mut self) {
        self.wait_for_load(|_| true).await;
    }

    /// Waits for the main frame's `load` lifecycle event of a navigation `wanted` accepts.
    async fn wait_for_load(&mut self, wanted: impl Fn(&str) -> bool) {
        let frame = self.frame.clone();
        let is_load = |params: &Value| {
            params["name"] == "load"
                && params["frameId"] == frame.as_str()
                && params["loaderId"].as_str().is_some_and(&wanted)
        };
        let connection = &mut self.browser.connection;
        let event = connection
            .wait_for_event(&self.session, "Page.lifecycleEvent", is_load)
            .await;
        if let Err(error) = event {
            panic!(
                "waiting for a page load: {error}{}",
                self.browser.log.tail()
            );
        }
    }

    /// The value of a JavaScript expression (a promise is awaited), or the exception text.
    pub async fn try_evaluate(&mut self, expression: &str) -> Result<Value, String> {
        let params = json!({
            "expression": expression,
            "returnByValue": true,
            "awaitPromise": true,
        });
        let connection = &mut self.browser.connection;
        let reply = match connection
            .call(Some(&self.session), "Runtime.evaluate", params)
            .await
        {
            Ok(reply) => reply,
            Err(error @ CdpError::Protocol { .. }) => return Err(error.to_string()),
            Err(error) => panic!("{error}{}", self.browser.log.tail()),
        };
        if let Some(details) = reply.get("exceptionDetails") {
            let text = &details["exception"]["description"];
            return Err(text.as_str().unwrap_or("exception").to_owned());
        }
        Ok(reply["result"]["value"].clone())
    }

    /// The value of a JavaScript expression; fails the test if it throws.
    pub async fn evaluate(&mut self, expression: &str) -> Value {
        self.try_evaluate(expression)
            .await
            .unwrap_or_else(|error| panic!("evaluating {expression}: {error}"))
    }

    /// Asks the page `expression` until it is `true`, failing the test after [`WAIT`] with
    /// `what` and the last answer.
    pub async fn wait_until(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.try_evaluate(expression).await;
            if answer == Ok(Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {what} ({expression}); last answer: {answer:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` into the focused element one key at a time, as a keyboard would.
    pub async fn type_text(&mut self, text: &str) {
        for character in text.chars() {
            let key = character.to_string();
            let down = json!({ "type": "keyDown", "key": key, "text": key });
            self.call("Input.dispatchKeyEvent", down).await;
            let up = json!({ "type": "keyUp", "key": key });
            self.call("Input.dispatchKeyEvent", up).await;
        }
    }

    /// Presses and releases `key`.
    pub async fn press(&mut self, key: Key) {
        // Windows virtual key codes are what Chromium uses to act on a key (focus, submit).
        let (name, code, text) = match key {
            Key::Tab => ("Tab", 9, None),
            Key::Enter => ("Enter", 13, Some("\r")),
        };
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": name,
            "code": name,
            "windowsVirtualKeyCode": code,
        });
        if let Some(text) = text {
            down["text"] = text.into();
        }
        self.call("Input.dispatchKeyEvent", down).await;
        let up =
            json!({ "type": "keyUp", "key": name, "code": name, "windowsVirtualKeyCode": code });
        self.call("Input.dispatchKeyEvent", up).await;
    }

    /// Makes the page `width` by `height` CSS pixels at one device pixel per CSS pixel.
    pub async fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) {
        let metrics = json!({
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": mobile,
        });
        self.call("Emulation.setDeviceMetricsOverride", metrics)
            .await;
    }

    /// A PNG screenshot of the visible part of the page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let reply = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let data = reply["data"].as_str().unwrap_or_default();
        STANDARD
            .decode(data)
            .unwrap_or_else(|error| panic!("screenshot is not base64: {error}"))
    }
}

impl Connection {
    /// Sends `method` with `params` and returns the result of the reply with the same id.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, CdpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = session.into();
        }
        let sent = self.socket.send(Message::text(command.to_string())).await;
        sent.map_err(|error| CdpError::Closed(format!("sending {method}: {error}")))?;

        let deadline = Instant::now() + WAIT;
        loop {
            let mut message = self.receive(deadline, method).await?;
            if message["id"] != id {
                self.keep_event(message);
                continue;
            }
            if let Some(error) = message.get("error") {
                let message = error["message"].as_str().unwrap_or("error").to_owned();
                let method = method.to_owned();
                return Err(CdpError::Protocol { method, message });
            }
            return Ok(message["result"].take());
        }
    }

    /// Waits for an event `method` of `session` whose params `matches` accepts and returns
    /// its params. Events are a queue: this consumes every kept event up to the one taken,
    /// so a later wait never sees anything older than what an earlier one returned.
    async fn wait_for_event(
        &mut self,
        session: &str,
        method: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, CdpError> {
        let wanted = |event: &Value| {
            event["method"] == method && event["sessionId"] == session && matches(&event["params"])
        };
        if let Some(at) = self.events.iter().position(wanted) {
            let mut event = self.events.drain(..=at).next_back().unwrap();
            return Ok(event["params"].take());
        }
        self.events.clear();
        let deadline = Instant::now() + WAIT;
        loop {
            let mut message = self.receive(deadline, method).await?;
            if wanted(&message) {
                return Ok(message["params"].take());
            }
        }
    }

    /// The next message from the browser, before `deadline`; `awaited` names what for.
    async fn receive(&mut self, deadline: Instant, awaited: &str) -> Result<Value, CdpError> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            let next = next.map_err(|_| CdpError::Timeout(awaited.to_owned()))?;
            let closed = |why: String| CdpError::Closed(format!("awaiting {awaited}: {why}"));
            let message = match next {
                None => return Err(closed("connection closed".to_owned())),
                Some(Err(error)) => return Err(closed(error.to_string())),
                Some(Ok(message)) => message,
            };
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str())
                    .map_err(|error| closed(format!("not JSON: {error}")));
            }
        }
    }

    /// Keeps an event for a later wait; replies to nothing awaited are dropped.
    fn keep_event(&mut self, message: Value) {
        if message.get("method").is_none() {
            return;
        }
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(message);
    }
}

impl fmt::Display for CdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdpError::Protocol { method, message } => write!(f, "{method} failed: {message}"),
            CdpError::Timeout(awaited) => write!(f, "no answer to {awaited} within {WAIT:?}"),
            CdpError::Closed(why) => write!(f, "DevTools connection lost: {why}"),
        }
    }
}

impl Log {
    /// Remembers `line`, forgetting the oldest beyond [`LOG_LINES`].
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, as the end of a failure message.
    fn tail(&self) -> String {
        let lines = self.0.lock().unwrap();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        format!(
            "\n--- last lines of Chromium's stderr ---\n{}",
            lines.join("\n")
        )
    }
}

/// Reads Chromium's stderr until it prints its DevTools WebSocket URL, and keeps reading (so
/// Chromium never blocks on a full pipe) into `log`.
async fn devtools_url(stderr: ChildStderr, log: Log) -> String {
    let (found, url) = oneshot::channel();
    let reader_log = log.clone();
    tokio::spawn(async move {
        let mut found = Some(found);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("DevTools listening on ")
                && let Some(found) = found.take()
            {
                let _ = found.send(url.trim().to_owned());
            }
            reader_log.push(line);
        }
    });
    match tokio::time::timeout(WAIT, url).await {
        Ok(Ok(url)) => url,
        Ok(Err(_)) => panic!("Chromium exited before listening{}", log.tail()),
        Err(_) => panic!("Chromium did not listen within {WAIT:?}{}", log.tail()),
    }
}
