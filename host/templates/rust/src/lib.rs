//! {{name}}: answers `/hello [NAME]` with a greeting.

use plaza_sdk::prelude::*;

/// The greeting for `/hello` with these arguments.
pub fn greeting(args: &[String]) -> String {
    if args.is_empty() {
        "Hello!".to_string()
    } else {
        format!("Hello, {}!", args.join(" "))
    }
}

/// The plugin.
pub struct Hello;

impl Plugin for Hello {
    fn info() -> PluginInfo {
        PluginInfo::new("{{name}}", env!("CARGO_PKG_VERSION"), "Answers /hello with a greeting.")
            .with_command("hello", "Say hello", "/hello [NAME]")
    }

    fn on_command(_meta: &EventMeta, cmd: CommandInvoked) -> HandlerResult {
        if cmd.name == "hello" {
            // Without `messages:send` the plugin logs a warning instead of failing.
            cmd.respond(&greeting(&cmd.args)).allow_denied("answering /hello")?;
        }
        Ok(())
    }
}

plaza_sdk::export_plugin!(Hello);

#[cfg(test)]
mod tests {
    use super::greeting;

    #[test]
    fn greets_by_name() {
        assert_eq!(greeting(&["Plaza".to_string()]), "Hello, Plaza!");
        assert_eq!(greeting(&[]), "Hello!");
    }
}
