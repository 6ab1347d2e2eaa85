//! The audit log: one JSON object per line per decision.
//!
//! Every request that reaches the decision step — allowed, denied, forwarded in warn/audit mode
//! (`would_deny`) or failed (`error`) — produces exactly one line, queued when the response head
//! is known. The fields are stable and described by `schemas/audit-event.schema.json`. Secrets
//! never appear: header values are masked in the input document the client identity comes from,
//! and bodies are not logged.
//!
//! Lines are gathered in memory and written in one call every 10 ms (`sockguard serve` runs the
//! flush; see [`AuditLog::flush`]), or at once when 64 KiB have gathered, and at shutdown. One
//! write per request cost a third of the proxy's throughput; the price is that a process killed
//! outright can lose the last 10 ms of lines.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where audit lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
    Off,
}

impl Destination {
    /// `-` is stdout, `off` disables the log, anything else is a file path (appended to).
    pub fn parse(text: &str) -> Destination {
        match text {
            "-" | "stdout" => Destination::Stdout,
            "off" | "none" => Destination::Off,
            path => Destination::File(PathBuf::from(path)),
        }
    }
}

/// What the decision was, as logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
    WouldDeny,
    Error,
}

/// One audit line.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub time: String,
    pub request_id: &'a str,
    pub client: &'a Value,
    pub action: &'a str,
    pub method: &'a str,
    pub raw_path: &'a str,
    pub path: Option<&'a str>,
    pub decision: Verdict,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub mode: &'a str,
    pub status: u16,
    pub bundle_revision: &'a str,
    pub latency_us: u64,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
}

/// How much may gather before it is written at once.
const BATCH: usize = 64 << 10;

impl Event<'_> {
    /// The event as one JSON line. Written field by field rather than through serde's derive:
    /// the client is already JSON, and this runs once per request (the `Serialize` derive stays
    /// for tools and is checked against this in a test).
    pub fn to_line(&self) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, value: &str) {
            // serde_json escapes a str exactly as the derive does
            let _ = serde_json::to_writer(&mut *out, value);
        }
        fn optional(out: &mut Vec<u8>, value: Option<&str>) {
            match value {
                Some(v) => text(out, v),
                None => out.extend_from_slice(b"null"),
            }
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"time\":");
        text(&mut out, &self.time);
        out.extend_from_slice(b",\"request_id\":");
        text(&mut out, self.request_id);
        out.extend_from_slice(b",\"client\":");
        let _ = serde_json::to_writer(&mut out, self.client);
        out.extend_from_slice(b",\"action\":");
        text(&mut out, self.action);
        out.extend_from_slice(b",\"method\":");
        text(&mut out, self.method);
        out.extend_from_slice(b",\"raw_path\":");
        text(&mut out, self.raw_path);
        out.extend_from_slice(b",\"path\":");
        optional(&mut out, self.path);
        out.extend_from_slice(b",\"decision\":\"");
        out.extend_from_slice(match self.decision {
            Verdict::Allow => b"allow".as_slice(),
            Verdict::Deny => b"deny",
            Verdict::WouldDeny => b"would_deny",
            Verdict::Error => b"error",
        });
        out.extend_from_slice(b"\",\"code\":");
        optional(&mut out, self.code);
        out.extend_from_slice(b",\"message\":");
        optional(&mut out, self.message);
        out.extend_from_slice(b",\"mode\":");
        text(&mut out, self.mode);
        out.extend_from_slice(format!(",\"status\":{},\"bundle_revision\":", self.status).as_bytes());
        text(&mut out, self.bundle_revision);
        out.extend_from_slice(format!(",\"latency_us\":{}", self.latency_us).as_bytes());
        if !self.annotations.is_empty() {
            out.extend_from_slice(b",\"annotations\":");
            let _ = serde_json::to_writer(&mut out, &self.annotations);
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

/// The open audit log.
pub struct AuditLog {
    /// A std Mutex, not a tokio one: a line is appended (or a batch written) with one call and
    /// nothing awaits while the lock is held.
    sink: Option<Mutex<Sink>>,
}

struct Sink {
    writer: Box<dyn Write + Send>,
    pending: Vec<u8>,
}

impl Sink {
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = self.writer.write_all(&self.pending).and_then(|()| self.writer.flush());
        self.pending.clear();
        result
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("enabled", &self.sink.is_some()).finish()
    }
}

impl AuditLog {
    pub fn open(destination: &Destination) -> io::Result<AuditLog> {
        let writer: Option<Box<dyn Write + Send>> = match destination {
            Destination::Stdout => Some(Box::new(io::stdout())),
            Destination::File(path) => Some(Box::new(OpenOptions::new().create(true).append(true).open(path)?)),
            Destination::Off => None,
        };
        Ok(AuditLog { sink: writer.map(|writer| Mutex::new(Sink { writer, pending: Vec::with_capacity(BATCH) })) })
    }

    /// An audit log that writes into `writer` (for tests).
    pub fn to_writer(writer: Box<dyn Write + Send>) -> AuditLog {
        AuditLog { sink: Some(Mutex::new(Sink { writer, pending: Vec::new() })) }
    }

    /// Queue one event. A failing audit sink is reported on stderr; it does not fail requests.
    pub fn record(&self, event: &Event<'_>) {
        let Some(sink) = &self.sink else { return };
        let mut line = event.to_line();
        let written = match sink.lock() {
            Ok(mut sink) => {
                sink.pending.append(&mut line);
                if sink.pending.len() >= BATCH {
                    sink.write_pending()
                } else {
                    Ok(())
                }
            }
            Err(_) => Err(io::Error::other("the audit log lock is poisoned")),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// Write every line gathered so far.
    pub fn flush(&self) {
        let Some(sink) = &self.sink else { return };
        let written = match sink.lock() {
            Ok(mut sink) => sink.write_pending(),
            Err(_) => Err(io::Error::other("the audit log lock is poisoned")),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-12-03T20:51:28.123Z`.
pub fn now_rfc3339() -> String {
    thread_local! {
        /// The text of the current second, formatted once per second per thread.
        static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let full = rfc3339(secs, 0);
            *cached = (secs, full.get(..19).unwrap_or(&full).to_owned());
        }
        format!("{}.{millis:03}Z", cached.1)
    })
}

fn rfc3339(secs: u64, millis: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
#[allow(clippy::arithmetic_side_effects)] // bounded: days comes from a u64 of seconds / 86400
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_796_330_288, 123), "2026-12-03T20:38:08.123Z");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_line_is_what_serde_would_write() {
        let client = serde_json::json!({"transport": "unix", "unix": {"uid": 1}});
        let mut annotations = Map::new();
        annotations.insert("rule".into(), serde_json::json!("r\"1"));
        for (code, path, annotations) in [(Some("x_denied"), Some("/p\u{1}\\"), annotations), (None, None, Map::new())]
        {
            let event = Event {
                time: now_rfc3339(),
                request_id: "0123456789abcdef",
                client: &client,
                action: "container.create",
                method: "POST",
                raw_path: "/v1.41/containers/create?\"",
                path,
                decision: Verdict::WouldDeny,
                code,
                message: Some("a \"quoted\" message\n"),
                mode: "audit",
                status: 201,
                bundle_revision: "r",
                latency_us: 42,
                annotations,
            };
            let mut expected = serde_json::to_vec(&event).unwrap();
            expected.push(b'\n');
            assert_eq!(String::from_utf8(event.to_line()).unwrap(), String::from_utf8(expected).unwrap());
        }
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn writes_one_json_line_per_event() {
        let shared = Shared::default();
        let log = AuditLog::to_writer(Box::new(shared.clone()));
        let client = serde_json::json!({"transport": "unix"});
        for decision in [Verdict::Allow, Verdict::WouldDeny] {
            log.record(&Event {
                time: now_rfc3339(),
                request_id: "r1",
                client: &client,
                action: "container.create",
                method: "POST",
                raw_path: "/v1.41/containers/create",
                path: Some("/containers/create"),
                decision,
                code: Some("write_denied"),
                message: None,
                mode: "enforce",
                status: 201,
                bundle_revision: "default-1",
                latency_us: 12,
                annotations: Map::new(),
            });
        }
        assert!(shared.0.lock().unwrap().is_empty(), "lines gather until a flush");
        log.flush();
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["decision"], "would_deny");
        assert_eq!(lines[0]["action"], "container.create");
    }
}
