//! The report as JUnit XML, one test case per check, for CI systems that collect test results.

use std::fmt::Write as _;

use super::report::{CheckReport, Status};

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A `<testsuites>` document with one suite named after the plugin.
pub fn to_junit(report: &CheckReport) -> String {
    let suite = report.plugin.as_deref().unwrap_or(&report.origin);
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"plaza check\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        report.checks.len(),
        count(Status::Fail),
        count(Status::Skip),
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        escape(suite),
        report.checks.len(),
        count(Status::Fail),
        count(Status::Skip),
        report.duration_ms as f64 / 1000.0
    );
    for c in &report.checks {
        let _ = write!(
            out,
            "    <testcase classname=\"plaza.check\" name=\"{}\" time=\"{:.3}\"",
            c.name,
            c.duration_ms as f64 / 1000.0
        );
        let details = escape(&c.details.join("\n"));
        match c.status {
            Status::Pass => out.push_str("/>\n"),
            Status::Warn => {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>warning: {details}</system-out>\n    </testcase>"
                );
            }
            Status::Skip => {
                let _ = writeln!(out, ">\n      <skipped message=\"{details}\"/>\n    </testcase>");
            }
            Status::Fail => {
                let first = escape(c.details.first().map(String::as_str).unwrap_or(c.title));
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{first}\" type=\"{}\">{details}</failure>\n    </testcase>",
                    c.name
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::CheckResult;

    #[test]
    fn failures_and_escaping() {
        let report = CheckReport {
            origin: "x.wasm".into(),
            plugin: Some("x 0.1.0".into()),
            wit_version: Some("0.1.0".into()),
            checks: vec![
                CheckResult {
                    name: "component",
                    title: "t",
                    status: Status::Pass,
                    details: vec![],
                    duration_ms: 3,
                },
                CheckResult {
                    name: "events",
                    title: "t",
                    status: Status::Fail,
                    details: vec!["/loop <\"a\"> \u{1b}[31m".into()],
                    duration_ms: 1500,
                },
            ],
            passed: false,
            duration_ms: 1503,
        };
        let xml = to_junit(&report);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase classname=\"plaza.check\" name=\"component\" time=\"0.003\"/>"));
        assert!(
            xml.contains("message=\"/loop &lt;&quot;a&quot;&gt; \u{fffd}[31m\""),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
    }
}
