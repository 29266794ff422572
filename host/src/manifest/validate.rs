//! The manifest rules that types alone do not express: ranges, formats, and consistency between
//! fields.

use std::collections::HashMap;

use super::error::{path, FieldPath, ManifestError};
use super::{ConfigSpec, Manifest, EVENT_TYPES};
use crate::capability::Capability;
use crate::wit::SUPPORTED_VERSIONS;

/// Longest `[plugin] description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest capability `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 300;
/// Longest command `description`, in characters.
pub const MAX_COMMAND_DESCRIPTION_CHARS: usize = 200;
/// Largest `quota-bytes` for `storage:kv`: 64 MiB.
pub const MAX_KV_QUOTA_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest `min-interval-ms` for `schedule`.
pub const MIN_SCHEDULE_INTERVAL_MS: u64 = 1000;
/// Allowed `[limits] memory-mb`.
pub const MEMORY_MB_RANGE: (u64, u64) = (1, 256);
/// Allowed `[limits] cpu-ms`.
pub const CPU_MS_RANGE: (u64, u64) = (1, 5000);
/// `[isolation] max-events`.
pub const REUSE_EVENTS_RANGE: (u64, u64) = (1, 100_000);
/// `[isolation] max-seconds`.
pub const REUSE_SECONDS_RANGE: (u64, u64) = (1, 3_600);

/// One broken rule: the field and what is wrong with it.
#[derive(Debug)]
pub(super) struct Violation {
    pub(super) field: FieldPath,
    pub(super) message: String,
}

impl Violation {
    pub(super) fn into_error(self, origin: &str, position: Option<(usize, usize)>) -> ManifestError {
        ManifestError::Invalid {
            origin: origin.to_string(),
            field: self.field,
            position,
            message: self.message,
        }
    }
}

type Check = Result<(), Violation>;

fn fail(field: FieldPath, message: impl Into<String>) -> Check {
    Err(Violation {
        field,
        message: message.into(),
    })
}

/// Text that must not be blank and has a length limit.
fn text(field: FieldPath, value: &str, max_chars: Option<usize>) -> Check {
    if value.trim().is_empty() {
        return fail(field, "must not be empty");
    }
    let chars = value.chars().count();
    match max_chars {
        Some(max) if chars > max => fail(field, format!("is {chars} characters long; at most {max} are allowed")),
        _ => Ok(()),
    }
}

fn range(field: FieldPath, value: Option<u64>, (min, max): (u64, u64), unit: &str) -> Check {
    match value {
        Some(v) if v < min || v > max => fail(field, format!("{v} is out of range: must be {min} to {max}{unit}")),
        _ => Ok(()),
    }
}

impl Manifest {
    /// Checks the rules in document order and reports the first broken one.
    pub(super) fn check(&self) -> Check {
        self.check_plugin()?;
        for (cap, request) in &self.capabilities {
            self.check_capability(*cap, request)?;
        }
        self.check_events()?;
        self.check_commands()?;
        for (key, spec) in &self.config {
            check_config(&path(["config", key.as_str()]), spec)?;
        }
        range(
            path(["limits", "memory-mb"]),
            self.limits.memory_mb,
            MEMORY_MB_RANGE,
            " MiB",
        )?;
        range(path(["limits", "cpu-ms"]), self.limits.cpu_ms, CPU_MS_RANGE, " ms")?;
        let isolation = &self.isolation;
        range(
            path(["isolation", "max-events"]),
            isolation.max_events,
            REUSE_EVENTS_RANGE,
            " events",
        )?;
        range(
            path(["isolation", "max-seconds"]),
            isolation.max_seconds,
            REUSE_SECONDS_RANGE,
            " s",
        )
    }

    fn check_plugin(&self) -> Check {
        let plugin = &self.plugin;
        if !SUPPORTED_VERSIONS.contains(&plugin.api.as_str()) {
            return fail(
                path(["plugin", "api"]),
                format!(
                    "plaza:plugin API version {:?} is not supported by this host (supported: {})",
                    plugin.api,
                    SUPPORTED_VERSIONS.join(", ")
                ),
            );
        }
        if plugin.authors.is_empty() {
            return fail(
                path(["plugin", "authors"]),
                "at least one author is required, e.g. authors = [\"Ada <ada@example.com>\"]",
            );
        }
        for (i, author) in plugin.authors.iter().enumerate() {
            text(path(["plugin", "authors"]).index(i), author, None)?;
        }
        text(
            path(["plugin", "description"]),
            &plugin.description,
            Some(MAX_DESCRIPTION_CHARS),
        )?;
        if let Some(homepage) = &plugin.homepage {
            let scheme_ok = ["https://", "http://"]
                .iter()
                .any(|s| homepage.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
            if !scheme_ok || homepage.contains(char::is_whitespace) {
                return fail(
                    path(["plugin", "homepage"]),
                    format!("{homepage:?} is not an http(s) URL like \"https://example.com\""),
                );
            }
        }
        Ok(())
    }

    fn check_capability(&self, cap: Capability, request: &super::CapabilityRequest) -> Check {
        let at = path(["capabilities", cap.name()]);
        text(at.key("reason"), &request.reason, Some(MAX_REASON_CHARS))?;
        let only_for = |field: &str, owner: Capability| {
            fail(
                at.key(field),
                format!("`{field}` is only allowed for \"{owner}\", not for \"{cap}\""),
            )
        };

        if let Some(quota) = request.quota_bytes {
            if cap != Capability::StorageKv {
                return only_for("quota-bytes", Capability::StorageKv);
            }
            range(
                at.key("quota-bytes"),
                Some(quota),
                (1, MAX_KV_QUOTA_BYTES),
                " bytes (64 MiB)",
            )?;
        }

        match (&request.hosts, cap) {
            (None, Capability::HttpFetch) => {
                return fail(
                    at.key("hosts"),
                    "required for \"http:fetch\": list the hosts the plugin may contact, \
                     e.g. hosts = [\"api.example.com\"]",
                )
            }
            (Some(_), c) if c != Capability::HttpFetch => return only_for("hosts", Capability::HttpFetch),
            (Some(hosts), _) => {
                if hosts.is_empty() {
                    return fail(at.key("hosts"), "must list at least one host");
                }
                let mut seen = HashMap::new();
                for (i, host) in hosts.iter().enumerate() {
                    let field = at.key("hosts").index(i);
                    if let Err(problem) = check_host_name(host) {
                        return fail(field, format!("{host:?} is not a valid host name: {problem}"));
                    }
                    if let Some(first) = seen.insert(host.as_str(), i) {
                        return fail(field, format!("{host:?} is listed twice (also at hosts[{first}])"));
                    }
                }
            }
            (None, _) => {}
        }

        if let Some(interval) = request.min_interval_ms {
            if cap != Capability::Schedule {
                return only_for("min-interval-ms", Capability::Schedule);
            }
            if interval < MIN_SCHEDULE_INTERVAL_MS {
                return fail(
                    at.key("min-interval-ms"),
                    format!("{interval} is too small: must be at least {MIN_SCHEDULE_INTERVAL_MS} ms"),
                );
            }
        }
        Ok(())
    }

    fn check_events(&self) -> Check {
        let mut seen = HashMap::new();
        for (i, event) in self.events.subscribe.iter().enumerate() {
            let field = path(["events", "subscribe"]).index(i);
            if !EVENT_TYPES.contains(&event.as_str()) {
                return fail(
                    field,
                    format!("unknown event type {event:?} (known: {})", EVENT_TYPES.join(", ")),
                );
            }
            if !crate::wit::knows_event(&self.plugin.api, event) {
                return fail(
                    field,
                    format!(
                        "{event:?} arrived in plaza:plugin@{}; this plugin is built against {} (rebuild it with a newer SDK and set api = \"{}\")",
                        crate::wit::event_since(event),
                        self.plugin.api,
                        crate::wit::latest::VERSION
                    ),
                );
            }
            if let Some(first) = seen.insert(event.as_str(), i) {
                return fail(field, format!("{event:?} is listed twice (also at subscribe[{first}])"));
            }
        }
        Ok(())
    }

    fn check_commands(&self) -> Check {
        if !self.commands.is_empty() && !self.capabilities.contains_key(&Capability::Commands) {
            return fail(
                path(["commands"]),
                "slash commands need the \"commands\" capability, which is not requested; add \
                 \"commands\" = { reason = \"...\" } under [capabilities]",
            );
        }
        let mut seen = HashMap::new();
        for (i, command) in self.commands.iter().enumerate() {
            let at = path(["commands"]).index(i);
            if let Some(first) = seen.insert(command.name.as_str(), i) {
                return fail(
                    at.key("name"),
                    format!(
                        "command {:?} is declared twice (also at commands[{first}])",
                        command.name.as_str()
                    ),
                );
            }
            text(
                at.key("description"),
                &command.description,
                Some(MAX_COMMAND_DESCRIPTION_CHARS),
            )?;
            if let Some(usage) = &command.usage {
                text(at.key("usage"), usage, None)?;
            }
        }
        Ok(())
    }
}

fn check_config(at: &FieldPath, spec: &ConfigSpec) -> Check {
    if let Some(default) = &spec.default {
        if default.kind() != spec.kind {
            return fail(
                at.key("default"),
                format!(
                    "{default} is {}, but the setting's type is \"{}\"",
                    default.kind().described(),
                    spec.kind
                ),
            );
        }
    }
    text(at.key("description"), &spec.description, None)
}

/// Checks one `http:fetch` host: a lowercase DNS name (labels of `a-z`, `0-9` and `-`, not
/// starting or ending with `-`, 1-63 characters each, 253 in all), optionally prefixed with `*.`
/// (which then needs at least two more labels). IP addresses are not host names. The error says
/// what is wrong.
pub fn check_host_name(host: &str) -> Result<(), String> {
    const FORM: &str = "use a lowercase name like \"api.example.com\", or \"*.example.com\" for its subdomains";
    let problem = |what: String| Err(format!("{what}; {FORM}"));
    if host.contains("://") || host.contains('/') {
        return problem("give the host name only, without scheme or path".into());
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    if name.is_empty() {
        return problem("it is empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return problem(format!("it contains {c:?}"));
    }
    if name.len() > 253 {
        return problem(format!("it is {} characters long (at most 253)", name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return problem("it has an empty label (\"..\" or a leading or trailing '.')".into());
        }
        if label.len() > 63 {
            return problem(format!("label {label:?} is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return problem(format!("label {label:?} starts or ends with '-'"));
        }
    }
    if labels.last().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return problem("IP addresses are not allowed".into());
    }
    if wildcard && labels.len() < 2 {
        return problem(format!("\"*.{name}\" would match every host under a top-level domain"));
    }
    Ok(())
}
