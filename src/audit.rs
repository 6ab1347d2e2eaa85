//! The audit log: one JSON object per line per decision.
//!
//! Every request that reaches the decision step — allowed, denied, forwarded in warn/audit mode
//! (`would_deny`) or failed (`error`) — produces exactly one line, written when the response head
//! is known. The fields are stable and described by `schemas/audit-event.schema.json`. Secrets
//! never appear: header values are masked in the input document the client identity comes from,
//! and bodies are not logged.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::OpenOptions;
use std::io::{self, LineWriter, Write};
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
    pub client: Value,
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

/// The open audit log.
pub struct AuditLog {
    /// A std Mutex, not a tokio one: a line is written with one call and nothing awaits while
    /// the lock is held.
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("enabled", &self.sink.is_some()).finish()
    }
}

impl AuditLog {
    pub fn open(destination: &Destination) -> io::Result<AuditLog> {
        let sink: Option<Box<dyn Write + Send>> = match destination {
            Destination::Stdout => Some(Box::new(LineWriter::new(io::stdout()))),
            Destination::File(path) => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                Some(Box::new(LineWriter::new(file)))
            }
            Destination::Off => None,
        };
        Ok(AuditLog { sink: sink.map(Mutex::new) })
    }

    /// An audit log that writes into `sink` (for tests).
    pub fn to_writer(sink: Box<dyn Write + Send>) -> AuditLog {
        AuditLog { sink: Some(Mutex::new(sink)) }
    }

    /// Write one event. A failing audit sink is reported on stderr; it does not fail requests.
    pub fn record(&self, event: &Event<'_>) {
        let Some(sink) = &self.sink else { return };
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise an audit event");
                return;
            }
        };
        line.push(b'\n');
        let written = match sink.lock() {
            Ok(mut w) => w.write_all(&line),
            Err(_) => Err(io::Error::other("the audit log lock is poisoned")),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-12-03T20:51:28.123Z`.
pub fn now_rfc3339() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
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
    fn writes_one_json_line_per_event() {
        let shared = Shared::default();
        let log = AuditLog::to_writer(Box::new(shared.clone()));
        for decision in [Verdict::Allow, Verdict::WouldDeny] {
            log.record(&Event {
                time: now_rfc3339(),
                request_id: "r1",
                client: serde_json::json!({"transport": "unix"}),
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
        let text = String::from_utf8(shared.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["decision"], "would_deny");
        assert_eq!(lines[0]["action"], "container.create");
    }
}
