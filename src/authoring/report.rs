//! Rendering a test report: pretty text for people, JSON for tools, JUnit XML for CI systems.

use super::runner::{Report, Status, TestResult};
use std::fmt::Write;

/// The summary line: `N passed, N failed, N skipped, N errors in 0.12s`.
pub fn summary(report: &Report) -> String {
    format!(
        "{} passed, {} failed, {} skipped, {} errors in {:.3}s",
        report.count(Status::Pass),
        report.count(Status::Fail),
        report.count(Status::Skip),
        report.count(Status::Error),
        seconds(report.duration_us)
    )
}

/// Pretty text: one line per test with its verdict, `file:line`, name and duration; with
/// `verbose`, the input document and decision of each failing case.
pub fn pretty(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    let mut bundle = None;
    for result in &report.results {
        if bundle != Some(&result.bundle) {
            bundle = Some(&result.bundle);
            let _ = writeln!(out, "{}:", result.bundle);
        }
        let verdict = match result.status {
            Status::Pass => "PASS ",
            Status::Fail => "FAIL ",
            Status::Skip => "SKIP ",
            Status::Error => "ERROR",
        };
        let _ = writeln!(
            out,
            "  {verdict} {}:{}  {} ({:.1}ms)",
            result.file,
            result.line,
            result.name,
            millis(result.duration_us)
        );
        if let Some(message) = &result.message {
            for line in message.lines() {
                let _ = writeln!(out, "         {line}");
            }
        }
        if verbose && matches!(result.status, Status::Fail | Status::Error) {
            for (label, value) in [("input", &result.input), ("decision", &result.decision)] {
                if let Some(value) = value {
                    let text = serde_json::to_string_pretty(value).unwrap_or_default();
                    let _ = writeln!(out, "         {label}:");
                    for line in text.lines() {
                        let _ = writeln!(out, "           {line}");
                    }
                }
            }
        }
    }
    if let Some(files) = &report.coverage {
        let _ = writeln!(out, "\ncoverage:");
        for file in files {
            let missed = if file.not_covered.is_empty() {
                String::new()
            } else {
                format!("  not covered: {}", ranges(&file.not_covered))
            };
            let _ = writeln!(out, "  {:6.1}%  {}/{}{missed}", file.percent(), file.bundle, file.file);
        }
        if let Some(total) = report.coverage_percent() {
            let _ = writeln!(out, "  {total:6.1}%  total");
        }
    }
    let _ = writeln!(out, "{}", "-".repeat(72));
    let _ = writeln!(out, "{}", summary(report));
    out
}

/// The report as one JSON document.
pub fn json(report: &Report) -> String {
    let summary = serde_json::json!({
        "passed": report.count(Status::Pass),
        "failed": report.count(Status::Fail),
        "skipped": report.count(Status::Skip),
        "errors": report.count(Status::Error),
        "coverage_percent": report.coverage_percent(),
        "duration_us": report.duration_us,
    });
    let document = serde_json::json!({
        "summary": summary,
        "results": report.results,
        "coverage": report.coverage,
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// JUnit XML: one `<testsuite>` per bundle, one `<testcase>` per test or case.
pub fn junit(report: &Report) -> String {
    let mut suites: Vec<(&str, Vec<&TestResult>)> = Vec::new();
    for result in &report.results {
        match suites.iter_mut().find(|(name, _)| *name == result.bundle) {
            Some((_, results)) => results.push(result),
            None => suites.push((&result.bundle, vec![result])),
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sockguard test\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.6}\">",
        report.results.len(),
        report.count(Status::Fail),
        report.count(Status::Error),
        report.count(Status::Skip),
        seconds(report.duration_us)
    );
    for (name, results) in suites {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        let time: u64 = results.iter().map(|r| r.duration_us).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.6}\">",
            escape(name),
            results.len(),
            count(Status::Fail),
            count(Status::Error),
            count(Status::Skip),
            seconds(time)
        );
        for r in results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                escape(&r.file),
                escape(&r.name),
                escape(&r.file),
                r.line,
                seconds(r.duration_us)
            );
            let message = escape(r.message.as_deref().unwrap_or(""));
            match r.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Skip => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
                Status::Fail => {
                    let _ =
                        write!(out, ">\n      <failure message=\"{message}\">{message}</failure>\n    </testcase>\n");
                }
                Status::Error => {
                    let _ = write!(out, ">\n      <error message=\"{message}\">{message}</error>\n    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escape text for XML attributes and content, dropping characters XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if c < ' ' => {}
            c => out.push(c),
        }
    }
    out
}

/// `1-3, 7, 9-10`
fn ranges(lines: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = lines.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&end.saturating_add(1)) {
            end = end.saturating_add(1);
            iter.next();
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    parts.join(", ")
}

#[allow(clippy::cast_precision_loss)]
fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

#[allow(clippy::cast_precision_loss)]
fn millis(us: u64) -> f64 {
    us as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: Status, message: Option<&str>) -> TestResult {
        TestResult {
            bundle: "b".into(),
            kind: "rego",
            name: name.into(),
            file: "p_test.rego".into(),
            line: 3,
            status,
            message: message.map(Into::into),
            duration_us: 1500,
            input: None,
            decision: None,
        }
    }

    fn report() -> Report {
        Report {
            results: vec![
                result("data.p.test_a", Status::Pass, None),
                result("data.p.test_<b>", Status::Fail, Some("undefined & \"x\"")),
                result("data.p.todo_test_c", Status::Skip, None),
            ],
            coverage: None,
            duration_us: 12_000,
        }
    }

    #[test]
    fn pretty_lists_each_test_and_a_summary() {
        let text = pretty(&report(), false);
        assert!(text.contains("  PASS  p_test.rego:3  data.p.test_a (1.5ms)"), "{text}");
        assert!(text.contains("  FAIL  p_test.rego:3  data.p.test_<b>"), "{text}");
        assert!(text.ends_with("1 passed, 1 failed, 1 skipped, 0 errors in 0.012s\n"), "{text}");
    }

    #[test]
    fn junit_is_escaped_and_counts_add_up() {
        let xml = junit(&report());
        assert!(
            xml.contains("<testsuites name=\"sockguard test\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\"")
        );
        assert!(xml.contains("name=\"data.p.test_&lt;b&gt;\""));
        assert!(xml.contains("<failure message=\"undefined &amp; &quot;x&quot;\">"));
        assert!(xml.contains("<skipped/>"));
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }

    #[test]
    fn json_has_a_summary() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["summary"]["failed"], 1);
        assert_eq!(v["results"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn line_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
    }
}
