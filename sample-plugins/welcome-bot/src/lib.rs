//! # welcome-bot
//!
//! Greets every member who joins the community (bots excepted) in a configured channel, with a
//! greeting template admins can change from the install's configuration or with `/welcome`.
//! See the README for capabilities, commands and KV keys.

pub mod template;

use plaza_sdk::prelude::*;

use template::{render, unknown_placeholders, validate, Vars, DEFAULT_COMMUNITY_NAME, DEFAULT_GREETING};

/// KV key of the greeting template (absent: [`DEFAULT_GREETING`]).
pub const KEY_GREETING: &str = "greeting";
/// KV key of the channel greetings are posted in (absent: no greeting is posted).
pub const KEY_CHANNEL: &str = "channel";
/// KV key of the community name used for `{community}` (absent: [`DEFAULT_COMMUNITY_NAME`]).
pub const KEY_COMMUNITY_NAME: &str = "community-name";
/// KV key of the number of (non-bot) members who joined since install.
pub const KEY_JOINS: &str = "joins";

/// Config keys this plugin reads, each copied to the KV key of the same name.
pub const CONFIG_KEYS: [&str; 3] = [KEY_GREETING, KEY_CHANNEL, KEY_COMMUNITY_NAME];

/// Roles allowed to change the greeting with `/welcome set|here|reset`.
pub const CONFIGURING_ROLES: [&str; 3] = ["owner", "admin", "moderator"];

const USAGE: &str = "Usage: /welcome show | /welcome set TEXT... | /welcome here | /welcome reset\n\
     TEXT may use {name}, {community} and {count}.";

/// The plugin.
pub struct WelcomeBot;

impl Plugin for WelcomeBot {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "welcome-bot",
            env!("CARGO_PKG_VERSION"),
            "Greets every new member in a configured channel with a customisable message \
             ({name}, {community}, {count} placeholders) and counts joins.",
        )
        .with_command(
            "welcome",
            "Show or change the greeting for new members",
            "/welcome show | set TEXT... | here | reset",
        )
    }

    fn on_installed(_meta: &EventMeta, installed: PluginInstalled) -> HandlerResult {
        apply_config(&installed.config).allow_denied("applying the configuration")?;
        Ok(())
    }

    fn on_config_changed(_meta: &EventMeta, changed: ConfigChanged) -> HandlerResult {
        apply_config(&changed.config).allow_denied("applying the configuration")?;
        Ok(())
    }

    fn on_member_joined(_meta: &EventMeta, joined: MemberJoined) -> HandlerResult {
        greet(&joined.member).allow_denied("welcoming a new member")?;
        Ok(())
    }

    fn on_command(_meta: &EventMeta, cmd: CommandInvoked) -> HandlerResult {
        if cmd.name != "welcome" {
            return Ok(());
        }
        let reply = match run_command(&cmd) {
            Ok(reply) => reply,
            Err(HostError::Denied(cap)) => {
                plaza_sdk::warn!("/welcome: capability {cap} not granted");
                format!("I can't do that: this community has not granted me `{cap}`.")
            }
            Err(e) => return Err(e.into()),
        };
        cmd.respond(&reply).allow_denied("answering /welcome")?;
        Ok(())
    }
}

plaza_sdk::export_plugin!(WelcomeBot);

/// Copies the `greeting`, `channel` and `community-name` config entries to KV. A key that is
/// absent is left alone (it may have been set with `/welcome`); an empty value removes it
/// (back to the default); an invalid greeting is skipped with a warning.
fn apply_config(entries: &[ConfigEntry]) -> Result<(), HostError> {
    for key in CONFIG_KEYS {
        let Some(value) = config::value(entries, key) else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            kv::delete(key)?;
            continue;
        }
        if key == KEY_GREETING {
            if let Err(e) = validate(value) {
                plaza_sdk::warn!("config `greeting` ignored: {e}");
                continue;
            }
        }
        kv::set_string(key, value)?;
    }
    Ok(())
}

/// Counts the join and posts the greeting (if a channel is configured). Bots are skipped.
fn greet(member: &MemberProfile) -> Result<(), HostError> {
    if member.is_bot {
        plaza_sdk::debug!("not greeting bot {}", member.id);
        return Ok(());
    }
    let count = kv::increment(KEY_JOINS, 1)?;
    let Some(channel) = kv::get_string(KEY_CHANNEL)? else {
        plaza_sdk::warn!("no greeting channel configured (config `channel`, or /welcome here); not greeting");
        return Ok(());
    };
    let template = kv::get_string(KEY_GREETING)?.unwrap_or_else(|| DEFAULT_GREETING.to_string());
    let community = kv::get_string(KEY_COMMUNITY_NAME)?.unwrap_or_else(|| DEFAULT_COMMUNITY_NAME.to_string());
    let name = if member.display_name.trim().is_empty() {
        "there"
    } else {
        member.display_name.as_str()
    };
    let text = render(
        &template,
        &Vars {
            name,
            community: &community,
            count,
        },
    );
    messaging::send(&channel, &text).allow_denied("posting the greeting")?;
    Ok(())
}

/// A parsed `/welcome` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WelcomeCommand {
    /// `/welcome show` (also plain `/welcome`).
    Show,
    /// `/welcome set TEXT...`: the rest of the arguments, joined with spaces.
    Set(String),
    /// `/welcome here`: greet in the channel the command was typed in.
    Here,
    /// `/welcome reset`: back to the default greeting.
    Reset,
    /// Anything else.
    Help,
}

/// Parses the arguments of `/welcome`.
pub fn parse_command(args: &[String]) -> WelcomeCommand {
    match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
        None | Some("show") => WelcomeCommand::Show,
        Some("set") => WelcomeCommand::Set(args[1..].join(" ")),
        Some("here") => WelcomeCommand::Here,
        Some("reset") => WelcomeCommand::Reset,
        Some(_) => WelcomeCommand::Help,
    }
}

/// Runs `/welcome` and returns the reply.
fn run_command(cmd: &CommandInvoked) -> Result<String, HostError> {
    let command = parse_command(&cmd.args);
    match command {
        WelcomeCommand::Show => return show(),
        WelcomeCommand::Help => return Ok(USAGE.to_string()),
        WelcomeCommand::Set(_) | WelcomeCommand::Here | WelcomeCommand::Reset => {}
    }
    match members::has_any_role(&cmd.member, &CONFIGURING_ROLES) {
        Ok(true) => {}
        Ok(false) | Err(HostError::NotFound) => {
            return Ok("Only admins and moderators can change the greeting.".to_string());
        }
        Err(HostError::Denied(cap)) => {
            plaza_sdk::warn!("/welcome: cannot check roles, {cap} not granted");
            return Ok(format!(
                "I can't check who is an admin because this community has not granted me `{cap}`; \
                 an admin can set the greeting in my configuration instead."
            ));
        }
        Err(e) => return Err(e),
    }
    match command {
        WelcomeCommand::Set(text) => {
            let template = match validate(&text) {
                Ok(t) => t,
                Err(e) => return Ok(format!("Greeting not changed: {e}. {USAGE}")),
            };
            kv::set_string(KEY_GREETING, template)?;
            let mut reply = format!("Greeting updated. Preview: {}", preview(template)?);
            let unknown = unknown_placeholders(template);
            if !unknown.is_empty() {
                let list: Vec<String> = unknown.iter().map(|u| format!("{{{u}}}")).collect();
                reply.push_str(&format!(
                    "\nNote: {} will appear as typed; known placeholders are {{name}}, {{community}} and {{count}}.",
                    list.join(", ")
                ));
            }
            Ok(reply)
        }
        WelcomeCommand::Here => {
            kv::set_string(KEY_CHANNEL, &cmd.channel)?;
            Ok("New members will be greeted in this channel.".to_string())
        }
        WelcomeCommand::Reset => {
            kv::delete(KEY_GREETING)?;
            Ok(format!("Greeting reset to the default: {DEFAULT_GREETING}"))
        }
        WelcomeCommand::Show | WelcomeCommand::Help => unreachable!("handled above"),
    }
}

/// `template` rendered for an example member, with the stored community name and next count.
fn preview(template: &str) -> Result<String, HostError> {
    let community = kv::get_string(KEY_COMMUNITY_NAME)?.unwrap_or_else(|| DEFAULT_COMMUNITY_NAME.to_string());
    let next = kv::get_i64(KEY_JOINS)?.unwrap_or(0) + 1;
    Ok(render(
        template,
        &Vars {
            name: "Ada",
            community: &community,
            count: next,
        },
    ))
}

/// The `/welcome show` reply.
fn show() -> Result<String, HostError> {
    let template = kv::get_string(KEY_GREETING)?;
    let is_default = template.is_none();
    let template = template.unwrap_or_else(|| DEFAULT_GREETING.to_string());
    let channel = match kv::get_string(KEY_CHANNEL)? {
        Some(c) => format!("channel {c}"),
        None => "no channel yet (an admin can run /welcome here)".to_string(),
    };
    let joins = kv::get_i64(KEY_JOINS)?.unwrap_or(0);
    Ok(format!(
        "Greeting{}: {template}\nPreview: {}\nPosted in: {channel}\nMembers joined so far: {joins}",
        if is_default { " (default)" } else { "" },
        preview(&template)?,
    ))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use plaza_sdk::logging::Level;
    use plaza_sdk::testing;

    fn admin(id: &str) {
        let mut p = testing::profile(id, id);
        p.roles.push("Admin".into());
        testing::add_member(p);
    }

    fn welcome(member: &str, args: &[&str]) -> HandlerResult {
        testing::deliver::<WelcomeBot>(testing::command("lobby", member, "welcome", args))
    }

    fn install(config: &[(&str, &str)]) {
        testing::deliver::<WelcomeBot>(testing::installed(config)).unwrap();
    }

    #[test]
    fn describes_the_welcome_command() {
        let info = WelcomeBot::info();
        assert_eq!(info.name, "welcome-bot");
        assert_eq!(info.commands.len(), 1);
        assert_eq!(info.commands[0].name, "welcome");
    }

    #[test]
    fn greets_joiners_in_the_configured_channel_and_counts_them() {
        install(&[("channel", "general"), ("community-name", "Rust Club")]);
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        testing::deliver::<WelcomeBot>(testing::joined("m2", "Grace")).unwrap();
        let sent = testing::sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].channel, "general");
        assert_eq!(sent[0].text, "Welcome to Rust Club, Ada! You are member #1 to join.");
        assert_eq!(sent[1].text, "Welcome to Rust Club, Grace! You are member #2 to join.");
        assert_eq!(testing::kv_get_string(KEY_JOINS).as_deref(), Some("2"));
    }

    #[test]
    fn skips_bots() {
        install(&[("channel", "general")]);
        let mut bot = testing::profile("b1", "Beep");
        bot.is_bot = true;
        testing::deliver::<WelcomeBot>(testing::joined_profile(bot)).unwrap();
        assert!(testing::sent().is_empty());
        assert_eq!(testing::kv_get_string(KEY_JOINS), None);
    }

    #[test]
    fn without_a_channel_counts_but_does_not_post() {
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        assert!(testing::sent().is_empty());
        assert_eq!(testing::kv_get_string(KEY_JOINS).as_deref(), Some("1"));
        assert!(testing::logs_at(Level::Warn)[0].contains("no greeting channel"));
    }

    #[test]
    fn config_sets_resets_and_validates_the_greeting() {
        install(&[("channel", "general"), ("greeting", "Hi {name}!")]);
        assert_eq!(testing::kv_get_string(KEY_GREETING).as_deref(), Some("Hi {name}!"));

        // Absent keys are left alone; an invalid greeting is ignored with a warning.
        let too_long = "x".repeat(template::MAX_GREETING_CHARS + 1);
        testing::deliver::<WelcomeBot>(testing::config_changed(&[("greeting", &too_long)])).unwrap();
        assert_eq!(testing::kv_get_string(KEY_GREETING).as_deref(), Some("Hi {name}!"));
        assert_eq!(testing::kv_get_string(KEY_CHANNEL).as_deref(), Some("general"));
        assert!(testing::logs_at(Level::Warn).iter().any(|l| l.contains("greeting")));

        // An empty value goes back to the default.
        testing::deliver::<WelcomeBot>(testing::config_changed(&[("greeting", " "), ("channel", "hall")])).unwrap();
        assert_eq!(testing::kv_get_string(KEY_GREETING), None);
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        assert_eq!(testing::sent()[0].channel, "hall");
        assert!(testing::sent()[0].text.starts_with("Welcome to the community, Ada!"));
    }

    #[test]
    fn admins_set_the_greeting_by_command() {
        admin("boss");
        welcome("boss", &["set", "Hello", "{name},", "welcome", "to", "{community}!"]).unwrap();
        assert_eq!(
            testing::kv_get_string(KEY_GREETING).as_deref(),
            Some("Hello {name}, welcome to {community}!")
        );
        let reply = testing::sent().pop().unwrap();
        assert_eq!(reply.channel, "lobby");
        assert!(reply.reply_to.is_some());
        assert_eq!(
            reply.text,
            "Greeting updated. Preview: Hello Ada, welcome to the community!"
        );

        welcome("boss", &["here"]).unwrap();
        testing::deliver::<WelcomeBot>(testing::joined("m9", "Linus")).unwrap();
        assert_eq!(
            testing::last_sent_text().as_deref(),
            Some("Hello Linus, welcome to the community!")
        );
        let greeting = testing::sent().pop().unwrap();
        assert_eq!(greeting.channel, "lobby");
        assert_eq!(greeting.reply_to, None);
    }

    #[test]
    fn set_reports_unknown_placeholders_and_refuses_empty_text() {
        admin("boss");
        welcome("boss", &["set", "Hi", "{nmae}"]).unwrap();
        let reply = testing::last_sent_text().unwrap();
        assert!(reply.contains("Note: {nmae} will appear as typed"), "{reply}");

        welcome("boss", &["set"]).unwrap();
        assert!(testing::last_sent_text()
            .unwrap()
            .starts_with("Greeting not changed: the greeting is empty"));
        assert_eq!(testing::kv_get_string(KEY_GREETING).as_deref(), Some("Hi {nmae}"));

        welcome("boss", &["reset"]).unwrap();
        assert_eq!(testing::kv_get_string(KEY_GREETING), None);
    }

    #[test]
    fn members_without_a_role_cannot_change_the_greeting() {
        testing::add_member(testing::profile("pleb", "Pleb"));
        welcome("pleb", &["set", "pwned"]).unwrap();
        welcome("stranger", &["here"]).unwrap();
        assert_eq!(testing::kv_get_string(KEY_GREETING), None);
        assert_eq!(testing::kv_get_string(KEY_CHANNEL), None);
        assert_eq!(
            testing::sent_texts(),
            ["Only admins and moderators can change the greeting."; 2]
        );
    }

    #[test]
    fn without_members_read_set_is_refused_with_an_explanation() {
        admin("boss");
        testing::deny("members:read");
        welcome("boss", &["set", "Hi"]).unwrap();
        assert_eq!(testing::kv_get_string(KEY_GREETING), None);
        assert!(testing::last_sent_text().unwrap().contains("`members:read`"));
        // Reading still works.
        welcome("boss", &["show"]).unwrap();
        assert!(testing::last_sent_text()
            .unwrap()
            .starts_with("Greeting (default): Welcome to {community}"));
    }

    #[test]
    fn show_reports_greeting_channel_and_count() {
        install(&[("channel", "general"), ("greeting", "Yo {name} #{count}")]);
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        welcome("anyone", &[]).unwrap();
        assert_eq!(
            testing::last_sent_text().unwrap(),
            "Greeting: Yo {name} #{count}\nPreview: Yo Ada #2\nPosted in: channel general\nMembers joined so far: 1"
        );
        welcome("anyone", &["bogus"]).unwrap();
        assert!(testing::last_sent_text().unwrap().starts_with("Usage: /welcome"));
    }

    #[test]
    fn parses_subcommands() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_command(&args(&[])), WelcomeCommand::Show);
        assert_eq!(
            parse_command(&args(&["SET", "a", "b"])),
            WelcomeCommand::Set("a b".into())
        );
        assert_eq!(parse_command(&args(&["here"])), WelcomeCommand::Here);
        assert_eq!(parse_command(&args(&["reset", "x"])), WelcomeCommand::Reset);
        assert_eq!(parse_command(&args(&["what"])), WelcomeCommand::Help);
    }

    #[test]
    fn denied_send_still_counts_the_join() {
        install(&[("channel", "general")]);
        testing::deny("messages:send");
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        assert_eq!(testing::kv_get_string(KEY_JOINS).as_deref(), Some("1"));
        assert!(testing::logs_at(Level::Warn)
            .iter()
            .any(|l| l.contains("messages:send")));
        // Commands degrade the same way.
        welcome("anyone", &["show"]).unwrap();
        assert!(testing::sent().is_empty());
    }

    #[test]
    fn denied_storage_is_a_warning_not_a_failure() {
        testing::deny("storage:kv");
        testing::deliver::<WelcomeBot>(testing::installed(&[("channel", "general")])).unwrap();
        testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap();
        assert!(testing::sent().is_empty());
        assert_eq!(testing::logs_at(Level::Warn).len(), 2);
        welcome("anyone", &["show"]).unwrap();
        assert_eq!(
            testing::last_sent_text().as_deref(),
            Some("I can't do that: this community has not granted me `storage:kv`.")
        );
    }

    #[test]
    fn transient_failures_fail_the_event_and_roll_back() {
        install(&[("channel", "general")]);
        testing::fail("messaging.send", HostError::RateLimited(1_000));
        let err = testing::deliver::<WelcomeBot>(testing::joined("m1", "Ada")).unwrap_err();
        assert!(err.retryable);
        assert_eq!(testing::kv_get_string(KEY_JOINS), None);
    }
}
