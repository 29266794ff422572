use super::*;
use crate::event::EventKind;

const FULL: &str = r#"
[plugin]
id = "poll"
version = "1.2.0-beta.1"
api = "0.1.0"
authors = ["Ada <ada@example.com>", "Grace"]
description = "Polls with /poll and /vote"
homepage = "https://example.com/poll"

[capabilities]
"messages:send" = { reason = "Posts the poll and its results" }
"storage:kv" = { reason = "Keeps tallies", quota-bytes = 262144 }
"http:fetch" = { reason = "Checks stock at the shop", hosts = ["api.shop.example", "*.cdn.example"] }
"schedule" = { reason = "Closes polls on time", min-interval-ms = 60000 }
"commands" = { reason = "Offers /poll and /vote" }
"messages:read.mentions" = { reason = "Sees votes addressed to it" }

[events]
subscribe = ["message-posted", "command-invoked", "timer-fired"]

[[commands]]
name = "poll"
description = "Start a poll"
usage = "/poll QUESTION OPTION OPTION..."

[[commands]]
name = "vote"
description = "Vote in the open poll"

[config.greeting]
type = "string"
default = "Welcome, {name}!"
description = "Text posted when someone joins"

[config.max-options]
type = "integer"
default = 10
description = "Most options a poll may have"

[config.anonymous]
type = "boolean"
default = false
description = "Hide who voted for what"

[config.channel]
type = "string"
description = "Where results go"

[limits]
memory-mb = 32
cpu-ms = 100

[isolation]
mode = "reuse"
max-events = 500
max-seconds = 30
"#;

const MINIMAL: &str = r#"
[plugin]
id = "hello"
version = "0.1.0"
api = "0.1.0"
authors = ["Ada"]
description = "Says hello"
"#;

fn full() -> Manifest {
    Manifest::from_toml(FULL, "plaza.toml").unwrap()
}

/// The error text for `MINIMAL` with `extra` appended.
fn error_with(extra: &str) -> String {
    Manifest::from_toml(&format!("{MINIMAL}{extra}"), "plaza.toml")
        .unwrap_err()
        .to_string()
}

/// The error text for `MINIMAL` with the line starting `key =` replaced by `line`.
fn error_replacing(key: &str, line: &str) -> String {
    let text = MINIMAL
        .lines()
        .map(|l| if l.starts_with(&format!("{key} =")) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    Manifest::from_toml(&text, "plaza.toml").unwrap_err().to_string()
}

#[test]
fn parses_the_full_example() {
    let m = full();
    assert_eq!(m.origin(), "plaza.toml");
    assert_eq!(m.id().as_str(), "poll");
    assert_eq!(m.version(), &semver::Version::parse("1.2.0-beta.1").unwrap());
    assert_eq!(m.plugin.homepage.as_deref(), Some("https://example.com/poll"));
    assert_eq!(m.commands.len(), 2);
    assert_eq!(m.config.len(), 4);
    assert_eq!(m.limits.memory_mb, Some(32));
    assert_eq!(m.limits.cpu_ms, Some(100));
}

#[test]
fn minimal_has_empty_sections() {
    let m = Manifest::from_toml(MINIMAL, "plaza.toml").unwrap();
    assert!(m.capabilities.is_empty());
    assert!(m.events.subscribe.is_empty());
    assert!(m.commands.is_empty());
    assert!(m.config.is_empty());
    assert_eq!(m.limits, Limits::default());
    assert_eq!(m.plugin.homepage, None);
}

#[test]
fn capability_helpers() {
    let m = full();
    assert_eq!(
        m.requested_capabilities(),
        vec![
            Capability::MessagesReadMentions,
            Capability::MessagesSend,
            Capability::StorageKv,
            Capability::HttpFetch,
            Capability::Schedule,
            Capability::Commands,
        ],
        "catalogue order, whatever the file's order"
    );
    assert_eq!(m.reason_for(Capability::StorageKv), Some("Keeps tallies"));
    assert_eq!(m.reason_for(Capability::MembersModerate), None);
    assert_eq!(m.kv_quota_bytes(), Some(262_144));
    assert_eq!(m.http_hosts(), ["api.shop.example", "*.cdn.example"]);
    assert_eq!(m.schedule_min_interval_ms(), Some(60_000));

    let minimal = Manifest::from_toml(MINIMAL, "plaza.toml").unwrap();
    assert!(minimal.requested_capabilities().is_empty());
    assert_eq!(minimal.kv_quota_bytes(), None);
    assert!(minimal.http_hosts().is_empty());
    assert_eq!(minimal.schedule_min_interval_ms(), None);
}

#[test]
fn subscriptions_include_lifecycle_events() {
    let m = full();
    assert!(m.subscribes_to("message-posted"));
    assert!(m.subscribes_to("command-invoked"));
    assert!(!m.subscribes_to("member-joined"));
    assert!(!m.subscribes_to("no-such-event"));
    let minimal = Manifest::from_toml(MINIMAL, "plaza.toml").unwrap();
    for lifecycle in LIFECYCLE_EVENTS {
        assert!(minimal.subscribes_to(lifecycle), "{lifecycle}");
    }
    assert!(!minimal.subscribes_to("message-posted"));
}

#[test]
fn commands_are_offered_by_name() {
    let m = full();
    assert!(m.offers_command("poll"));
    assert!(m.offers_command("vote"));
    assert!(!m.offers_command("/poll"));
    assert!(!m.offers_command("close"));
}

#[test]
fn config_defaults_are_text() {
    assert_eq!(
        full().config_defaults(),
        vec![
            ("anonymous".to_string(), "false".to_string()),
            ("greeting".to_string(), "Welcome, {name}!".to_string()),
            ("max-options".to_string(), "10".to_string()),
        ]
    );
}

#[test]
fn config_values_are_type_checked() {
    let m = full();
    m.validate_config("greeting", "Hi {name}").unwrap();
    m.validate_config("greeting", "").unwrap();
    m.validate_config("max-options", "12").unwrap();
    m.validate_config("max-options", "-3").unwrap();
    m.validate_config("anonymous", "true").unwrap();
    m.validate_config("anonymous", "false").unwrap();

    assert_eq!(
        m.validate_config("max-options", "ten").unwrap_err().to_string(),
        "plaza.toml: config.max-options: expected an integer (type = \"integer\"), got \"ten\""
    );
    assert_eq!(
        m.validate_config("anonymous", "yes").unwrap_err().to_string(),
        "plaza.toml: config.anonymous: expected `true` or `false` (type = \"boolean\"), got \"yes\""
    );
    let err = m.validate_config("colour", "red").unwrap_err();
    assert!(matches!(err, ManifestError::UnknownConfigKey { .. }));
    assert_eq!(
        err.to_string(),
        "plaza.toml: config.colour: no such config key (declared: anonymous, channel, greeting, max-options)"
    );
    let minimal = Manifest::from_toml(MINIMAL, "plaza.toml").unwrap();
    assert_eq!(
        minimal.validate_config("x", "1").unwrap_err().to_string(),
        "plaza.toml: config.x: no such config key (declared: none)"
    );
}

#[test]
fn to_toml_round_trips() {
    for text in [FULL, MINIMAL] {
        let m = Manifest::from_toml(text, "plaza.toml").unwrap();
        let written = m.to_toml();
        let again = Manifest::from_toml(&written, "plaza.toml").unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(again, m, "{written}");
        assert_eq!(again.to_toml(), written, "canonical output is stable");
    }
}

#[test]
fn to_toml_uses_the_documented_layout() {
    let written = full().to_toml();
    assert!(written.starts_with("[plugin]\nid = \"poll\"\n"), "{written}");
    assert!(
        written
            .contains("\n[capabilities]\n\"messages:read.mentions\" = { reason = \"Sees votes addressed to it\" }\n"),
        "{written}"
    );
    assert!(
        written.contains("\"storage:kv\" = { reason = \"Keeps tallies\", quota-bytes = 262144 }\n"),
        "{written}"
    );
    assert!(written.contains("\n[[commands]]\nname = \"poll\"\n"), "{written}");
    assert!(
        written.contains("\n[config.max-options]\ntype = \"integer\"\ndefault = 10\n"),
        "{written}"
    );
    assert!(
        written.ends_with(
            "\n[limits]\nmemory-mb = 32\ncpu-ms = 100\n\n[isolation]\nmode = \"reuse\"\nmax-events = 500\nmax-seconds = 30\n"
        ),
        "{written}"
    );
    let minimal = Manifest::from_toml(MINIMAL, "plaza.toml").unwrap().to_toml();
    assert!(
        !minimal.contains("[capabilities]") && !minimal.contains("[limits]"),
        "{minimal}"
    );
}

#[test]
fn validate_rechecks_changed_fields() {
    let mut m = full();
    m.validate().unwrap();
    m.limits.cpu_ms = Some(0);
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "plaza.toml: limits.cpu-ms: 0 is out of range: must be 1 to 5000 ms"
    );
}

#[test]
fn event_lists_match_event_kind() {
    // Fails to compile when a variant is added, as a reminder to extend `EVENT_TYPES`.
    fn type_name_of(kind: &EventKind) -> &'static str {
        match kind {
            EventKind::MemberJoined { .. }
            | EventKind::MemberLeft { .. }
            | EventKind::MemberUpdated { .. }
            | EventKind::MessagePosted(_)
            | EventKind::MessageEdited { .. }
            | EventKind::MessageDeleted { .. }
            | EventKind::ReactionAdded(_)
            | EventKind::ReactionRemoved(_)
            | EventKind::MemberMuted { .. }
            | EventKind::MemberBanned { .. }
            | EventKind::CommandInvoked { .. }
            | EventKind::PluginInstalled { .. }
            | EventKind::PluginUninstalled
            | EventKind::ConfigChanged { .. }
            | EventKind::PluginUpgraded { .. }
            | EventKind::TimerFired { .. }
            | EventKind::MessagePinned(_)
            | EventKind::MessageUnpinned(_) => kind.type_name(),
        }
    }
    // Every name parses as an event type, and the install-scoped ones are the lifecycle list.
    for name in EVENT_TYPES {
        let json = serde_json::json!({ "type": name });
        let kind: Result<EventKind, _> = serde_json::from_value(json);
        if let Ok(kind) = kind {
            assert_eq!(type_name_of(&kind), name);
            assert_eq!(kind.is_install_scoped(), LIFECYCLE_EVENTS.contains(&name), "{name}");
        }
    }
    let unit = serde_json::from_value::<EventKind>(serde_json::json!({ "type": "plugin-uninstalled" })).unwrap();
    assert_eq!(type_name_of(&unit), "plugin-uninstalled");
    // Names are unique.
    let mut sorted = EVENT_TYPES.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), EVENT_TYPES.len());
    assert!(LIFECYCLE_EVENTS.iter().all(|e| EVENT_TYPES.contains(e)));
}

#[test]
fn errors_name_file_position_and_field() {
    assert_eq!(
        error_replacing("id", "id = \"Poll\""),
        "plaza.toml:3:6: plugin.id: \"Poll\" is not a valid plugin id: it contains 'P'; a plugin id is 2-64 \
         characters of lowercase letters, digits and '-', starts with a letter, and has no trailing or doubled '-'"
    );
    assert_eq!(
        error_with("\n[capabilities]\n\"http:fetch\" = { reason = \"x\", hosts = [\"ok.example\", \"Bad Host!\"] }\n"),
        "plaza.toml:10:55: capabilities.\"http:fetch\".hosts[1]: \"Bad Host!\" is not a valid host name: it \
         contains 'B'; use a lowercase name like \"api.example.com\", or \"*.example.com\" for its subdomains"
    );
}

#[test]
fn plugin_table_rules() {
    assert!(error_replacing("version", "version = \"1.2\"").starts_with(
        "plaza.toml:4:11: plugin.version: \"1.2\" is not a semver version like \"1.2.0\": unexpected end of input"
    ));
    assert_eq!(
        error_replacing("api", "api = \"0.9.0\""),
        "plaza.toml:5:7: plugin.api: plaza:plugin API version \"0.9.0\" is not supported by this host (supported: \
         0.2.0, 0.1.0)"
    );
    assert!(error_replacing("authors", "authors = []").starts_with("plaza.toml:6:11: plugin.authors: at least one"));
    assert_eq!(
        error_replacing("authors", "authors = [\"Ada\", \" \"]"),
        "plaza.toml:6:19: plugin.authors[1]: must not be empty"
    );
    assert_eq!(
        error_replacing("description", "description = \"\""),
        "plaza.toml:7:15: plugin.description: must not be empty"
    );
    let long = format!("description = \"{}\"", "x".repeat(501));
    assert_eq!(
        error_replacing("description", &long),
        "plaza.toml:7:15: plugin.description: is 501 characters long; at most 500 are allowed"
    );
    let with_homepage = |h: &str| error_with(&format!("homepage = \"{h}\"\n"));
    assert!(with_homepage("example.com").contains("plugin.homepage: \"example.com\" is not an http(s) URL"));
    assert!(with_homepage("https://").contains("plugin.homepage:"));
    assert!(with_homepage("https://a b").contains("plugin.homepage:"));
    assert!(error_replacing("id", "").contains(": plugin.id: required field is missing"));
}

#[test]
fn capability_rules() {
    let cap = |line: &str| error_with(&format!("\n[capabilities]\n{line}\n"));
    assert!(cap("\"messages:write\" = { reason = \"x\" }").starts_with(
        "plaza.toml:10:1: capabilities.\"messages:write\": unknown capability `messages:write` (known: messages:read,"
    ));
    assert!(
        cap("\" storage:kv\" = { reason = \"x\" }").contains("unknown capability ` storage:kv`"),
        "names must match exactly"
    );
    assert_eq!(
        cap("\"storage:kv\" = {}"),
        "plaza.toml:10:16: capabilities.\"storage:kv\".reason: required field is missing"
    );
    assert_eq!(
        cap("\"storage:kv\" = \"Keeps tallies\""),
        "plaza.toml:10:16: capabilities.\"storage:kv\": invalid type: string \"Keeps tallies\", expected a table \
         like { reason = \"why the plugin needs it\" }"
    );
    assert!(
        cap("\"storage:kv\" = { reason = \"  \" }").ends_with("capabilities.\"storage:kv\".reason: must not be empty")
    );
    assert!(cap(&format!("\"storage:kv\" = {{ reason = \"{}\" }}", "r".repeat(301)))
        .ends_with("reason: is 301 characters long; at most 300 are allowed"));
    assert!(cap("\"storage:kv\" = { reason = \"x\", quota-bytes = 0 }")
        .ends_with("quota-bytes: 0 is out of range: must be 1 to 67108864 bytes (64 MiB)"));
    Manifest::from_toml(
        &format!("{MINIMAL}[capabilities]\n\"storage:kv\" = {{ reason = \"x\", quota-bytes = 67108864 }}\n"),
        "plaza.toml",
    )
    .unwrap();
    assert!(cap("\"storage:kv\" = { reason = \"x\", quota-bytes = -1 }")
        .ends_with("invalid value: integer `-1`, expected a non-negative integer"));
    assert_eq!(
        cap("\"messages:send\" = { reason = \"x\", quota-bytes = 5 }"),
        "plaza.toml:10:49: capabilities.\"messages:send\".quota-bytes: `quota-bytes` is only allowed for \
         \"storage:kv\", not for \"messages:send\""
    );
    assert_eq!(
        cap("\"http:fetch\" = { reason = \"x\" }"),
        "plaza.toml:10:16: capabilities.\"http:fetch\".hosts: required for \"http:fetch\": list the hosts the \
         plugin may contact, e.g. hosts = [\"api.example.com\"]"
    );
    assert!(cap("\"http:fetch\" = { reason = \"x\", hosts = [] }").ends_with("hosts: must list at least one host"));
    assert!(
        cap("\"http:fetch\" = { reason = \"x\", hosts = [\"a.example\", \"a.example\"] }")
            .ends_with("hosts[1]: \"a.example\" is listed twice (also at hosts[0])")
    );
    assert!(cap("\"schedule\" = { reason = \"x\", hosts = [\"a.example\"] }")
        .ends_with("capabilities.schedule.hosts: `hosts` is only allowed for \"http:fetch\", not for \"schedule\""));
    assert!(cap("\"schedule\" = { reason = \"x\", min-interval-ms = 999 }")
        .ends_with("capabilities.schedule.min-interval-ms: 999 is too small: must be at least 1000 ms"));
    assert!(cap("\"storage:kv\" = { reason = \"x\", min-interval-ms = 1000 }")
        .ends_with("`min-interval-ms` is only allowed for \"schedule\", not for \"storage:kv\""));
    assert!(cap("\"storage:kv\" = { reason = \"x\", quota = 1 }")
        .starts_with("plaza.toml:10:32: capabilities.\"storage:kv\".quota: unknown field `quota`, expected one of"));
}

#[test]
fn host_names() {
    for good in [
        "api.example.com",
        "*.example.com",
        "localhost",
        "a-b.c0",
        "xn--bcher-kva.example",
    ] {
        check_host_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for (bad, problem) in [
        ("", "it is empty"),
        ("*.", "it is empty"),
        ("API.example.com", "it contains 'A'"),
        ("a b.com", "it contains ' '"),
        ("https://api.example.com", "without scheme or path"),
        ("api.example.com/x", "without scheme or path"),
        ("api.example.com:443", "it contains ':'"),
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("example.com.", "empty label"),
        ("-a.example", "starts or ends with '-'"),
        ("a-.example", "starts or ends with '-'"),
        ("10.0.0.1", "IP addresses are not allowed"),
        ("*.com", "every host under a top-level domain"),
        ("a.*.example", "it contains '*'"),
        ("**.example", "it contains '*'"),
    ] {
        let err = check_host_name(bad).unwrap_err();
        assert!(err.contains(problem), "{bad}: {err}");
    }
    let long_label = format!("{}.example", "a".repeat(64));
    assert!(check_host_name(&long_label).unwrap_err().contains("longer than 63"));
    let long_name = vec!["abcdefghi"; 26].join(".");
    assert!(check_host_name(&long_name).unwrap_err().contains("at most 253"));
}

#[test]
fn event_rules() {
    let events = |list: &str| error_with(&format!("\n[events]\nsubscribe = [{list}]\n"));
    assert!(events("\"message-sent\"").starts_with(
        "plaza.toml:10:14: events.subscribe[0]: unknown event type \"message-sent\" (known: member-joined,"
    ));
    assert_eq!(
        events("\"message-posted\", \"message-posted\""),
        "plaza.toml:10:32: events.subscribe[1]: \"message-posted\" is listed twice (also at subscribe[0])"
    );
    // Lifecycle events may be listed.
    Manifest::from_toml(
        &format!("{MINIMAL}[events]\nsubscribe = [\"plugin-installed\", \"timer-fired\"]\n"),
        "plaza.toml",
    )
    .unwrap();
    assert!(events("1").ends_with("events.subscribe[0]: invalid type: integer `1`, expected a string"));
    assert!(error_with("[events]\nsubscribe = \"message-posted\"\n")
        .ends_with("events.subscribe: invalid type: string \"message-posted\", expected an array"));
}

#[test]
fn command_rules() {
    let commands = "\n[[commands]]\nname = \"poll\"\ndescription = \"Start a poll\"\n";
    assert_eq!(
        error_with(commands),
        "plaza.toml:9:1: commands: slash commands need the \"commands\" capability, which is not requested; add \
         \"commands\" = { reason = \"...\" } under [capabilities]"
    );
    let with_cap = |extra: &str| {
        error_with(&format!(
            "\n[capabilities]\ncommands = {{ reason = \"x\" }}\n{commands}{extra}"
        ))
    };
    assert_eq!(
        with_cap("\n[[commands]]\nname = \"poll\"\ndescription = \"Again\"\n"),
        "plaza.toml:17:8: commands[1].name: command \"poll\" is declared twice (also at commands[0])"
    );
    assert!(with_cap("\n[[commands]]\nname = \"Vote\"\ndescription = \"x\"\n")
        .starts_with("plaza.toml:17:8: commands[1].name: \"Vote\" is not a valid command name: it contains 'V';"));
    assert_eq!(
        with_cap("\n[[commands]]\nname = \"vote\"\n"),
        "plaza.toml:16:1: commands[1].description: required field is missing"
    );
    assert!(with_cap("\n[[commands]]\nname = \"vote\"\ndescription = \"\"\n")
        .ends_with("commands[1].description: must not be empty"));
    assert!(
        with_cap("\n[[commands]]\nname = \"vote\"\ndescription = \"x\"\nusage = \" \"\n")
            .ends_with("commands[1].usage: must not be empty")
    );
}

#[test]
fn config_rules() {
    let config = |body: &str| error_with(&format!("\n[config.greeting]\n{body}\n"));
    assert_eq!(
        config("type = \"string\"\ndefault = 5\ndescription = \"x\""),
        "plaza.toml:11:11: config.greeting.default: 5 is an integer, but the setting's type is \"string\""
    );
    assert!(config("type = \"integer\"\ndefault = \"5\"\ndescription = \"x\"")
        .ends_with("config.greeting.default: \"5\" is a string, but the setting's type is \"integer\""));
    assert!(config("type = \"boolean\"\ndefault = 1\ndescription = \"x\"")
        .ends_with("config.greeting.default: 1 is an integer, but the setting's type is \"boolean\""));
    assert!(config("type = \"float\"\ndescription = \"x\"").starts_with(
        "plaza.toml:10:8: config.greeting.type: unknown variant `float`, expected one of `string`, `integer`, `boolean`"
    ));
    assert!(
        config("type = \"string\"\ndefault = 1.5\ndescription = \"x\"").ends_with(
            "config.greeting.default: invalid type: floating point `1.5`, expected a string, an integer or a boolean"
        )
    );
    assert!(config("type = \"string\"\ndescription = \"\"").ends_with("config.greeting.description: must not be empty"));
    assert!(config("type = \"string\"").ends_with("config.greeting.description: required field is missing"));
    assert!(
        error_with("\n[config.Greeting]\ntype = \"string\"\ndescription = \"x\"\n")
            .starts_with("plaza.toml:9:9: config.Greeting: \"Greeting\" is not a valid config key: it contains 'G';")
    );
}

#[test]
fn limit_rules() {
    assert_eq!(
        error_with("\n[limits]\nmemory-mb = 512\n"),
        "plaza.toml:10:13: limits.memory-mb: 512 is out of range: must be 1 to 256 MiB"
    );
    assert!(error_with("\n[limits]\ncpu-ms = 0\n").ends_with("limits.cpu-ms: 0 is out of range: must be 1 to 5000 ms"));
    assert!(error_with("\n[limits]\ncpu-ms = 5001\n").ends_with("must be 1 to 5000 ms"));
    assert!(error_with("\n[limits]\nfuel = 5\n").contains("limits.fuel: unknown field `fuel`"));
}

#[test]
fn isolation_rules() {
    let reuse = full().isolation.reuse_policy().unwrap();
    assert_eq!((reuse.max_events, reuse.max_age.as_secs()), (500, 30));
    assert_eq!(
        Manifest::from_toml(MINIMAL, "plaza.toml")
            .unwrap()
            .isolation
            .reuse_policy(),
        None
    );
    assert_eq!(
        error_with("\n[isolation]\nmode = \"reuse\"\nmax-events = 0\n"),
        "plaza.toml:11:14: isolation.max-events: 0 is out of range: must be 1 to 100000 events"
    );
    assert!(error_with("\n[isolation]\nmax-seconds = 7200\n").ends_with("must be 1 to 3600 s"));
    assert!(error_with("\n[isolation]\nmode = \"shared\"\n").contains("isolation.mode: unknown variant `shared`"));
}

#[test]
fn toml_errors_keep_positions() {
    let err = Manifest::from_toml("[plugin]\nid = \"poll\nversion = \"1.0.0\"\n", "plaza.toml").unwrap_err();
    assert!(matches!(err, ManifestError::Syntax { line: 2, .. }), "{err:?}");
    assert!(err.to_string().starts_with("plaza.toml:2:"), "{err}");
    let err = Manifest::from_toml("", "empty.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty.toml:1:1: plugin: the required [plugin] table is missing; a manifest starts with [plugin] and the \
         plugin's id, version, api, authors and description"
    );
    let err = error_with("colour = \"red\"\n");
    assert!(
        err.starts_with("plaza.toml:8:1: plugin.colour: unknown field `colour`"),
        "{err}"
    );
    let err = error_with("\n[extra]\nx = 1\n");
    assert!(
        err.starts_with("plaza.toml:9:2: extra: unknown field `extra`, expected one of `plugin`"),
        "{err}"
    );
}
