//! # plaza-sdk: write Plaza community plugins in Rust
//!
//! A Plaza plugin is a WebAssembly component (target `wasm32-wasip2`) implementing the WIT world
//! `plaza:plugin/plugin@0.2.0`: the host hands it community events (a member joined, a message was
//! posted, a slash command was invoked, a timer fired, ...) and the plugin acts through host
//! interfaces (send messages, moderate, read members, a private key-value store, HTTP,
//! timers), each of which answers only if the community admin granted the matching capability.
//!
//! With this crate a plugin author:
//!
//! 1. implements [`Plugin`]: [`Plugin::info`] plus the `on_*` methods for the events it cares
//!    about (the rest default to doing nothing) and optionally [`Plugin::review_message`];
//! 2. calls [`export_plugin!`] once to wire that type to the component's exports;
//! 3. acts through the host-call modules [`messaging`], [`moderation`], [`members`], [`kv`],
//!    [`http`], [`scheduler`] and [`logging`] (plus the [`info!`], [`warn!`], ... macros).
//!
//! Every host call returns `Result<T, HostError>`. `?` converts a [`HostError`] into a
//! [`HandlerError`]; returning an error discards everything the invocation did (messages, KV
//! writes, timers), so for optional features prefer [`HostResultExt::allow_denied`] /
//! [`HostResultExt::or_warn`], which log a warning and let the handler carry on when the admin
//! did not grant a capability.
//!
//! Crate-type `cdylib` plugins build with
//! `cargo build --target wasm32-wasip2 -p my-plugin`, which emits the component directly.
//! On any other target the host calls are served by the in-memory simulated host in
//! `plaza_sdk::testing` (not compiled for `wasm32`), so plugin logic can be unit-tested with plain
//! `cargo test`.
//!
//! ## A complete plugin
//!
//! ```
//! use plaza_sdk::prelude::*;
//!
//! /// Counts joiners and answers `/hello [NAME]`.
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("hello", "0.1.0", "Counts new members and says hello on request.")
//!             .with_command("hello", "Say hello", "/hello [NAME]")
//!     }
//!
//!     fn on_member_joined(_meta: &EventMeta, joined: MemberJoined) -> Result<(), HandlerError> {
//!         // Needs `storage:kv`; `?` turns a refusal into a handler error.
//!         let count = kv::increment("joins", 1)?;
//!         plaza_sdk::info!("{} is member #{count}", joined.member.display_name);
//!         Ok(())
//!     }
//!
//!     fn on_command(_meta: &EventMeta, cmd: CommandInvoked) -> Result<(), HandlerError> {
//!         if cmd.name == "hello" {
//!             let who = cmd.args.first().map_or("world", String::as_str);
//!             // Needs `messages:send`; if the admin did not grant it, log and carry on.
//!             cmd.respond(&format!("Hello, {who}!")).allow_denied("hello reply")?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(Hello);
//!
//! // Natively, the simulated host in `plaza_sdk::testing` answers the host calls:
//! # #[cfg(not(target_arch = "wasm32"))] {
//! use plaza_sdk::testing;
//! testing::deliver::<Hello>(testing::command("general", "ada", "hello", &["Plaza"])).unwrap();
//! assert_eq!(testing::sent_texts(), ["Hello, Plaza!"]);
//!
//! testing::deny("messages:send");
//! testing::deliver::<Hello>(testing::command("general", "ada", "hello", &[])).unwrap();
//! assert_eq!(testing::sent_texts().len(), 1); // nothing more sent, but no failure either
//! # }
//! ```

#![warn(missing_docs)]

// Lets the generated bindings name this crate as `::plaza_sdk` both here and in plugin crates.
extern crate self as plaza_sdk;

/// The raw `wit_bindgen::generate!` output for `wit/since_v0.2.0`, world `plugin`.
///
/// Plugins normally use the typed wrappers at the crate root instead; this module is public for
/// anything they do not cover. The WIT `host-error` and `handler-error` types are mapped to
/// [`HostError`] and [`HandlerError`]. The export macro is [`bindings::export!`], used by
/// [`export_plugin!`].
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.2.0",
        world: "plugin",
        with: {
            "plaza:plugin/types@0.2.0/host-error": crate::error::HostError,
            "plaza:plugin/types@0.2.0/handler-error": crate::error::HandlerError,
        },
        additional_derives: [PartialEq, Eq],
        // The export macro is used from plugin crates through `export_plugin!`.
        pub_export_macro: true,
        default_bindings_module: "::plaza_sdk::bindings",
        runtime_path: "::plaza_sdk::__private::wit_bindgen::rt",
    });
}

mod error;
mod ext;
mod plugin;
mod sys;

pub mod config;
pub mod http;
pub mod kv;
pub mod logging;
pub mod members;
pub mod messaging;
pub mod moderation;
pub mod prelude;
pub mod scheduler;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use error::{HandlerError, HostError, HostResultExt};
pub use plugin::{dispatch, Plugin};

pub use bindings::plaza::plugin::types::{
    ChannelId, CommandInvoked, CommandSpec, CommunityId, ConfigChanged, ConfigEntry, Event, EventKind, EventMeta,
    MemberBanned, MemberId, MemberJoined, MemberLeft, MemberMuted, MemberProfile, MemberUpdated, Message,
    MessageDeleted, MessageEdited, MessageId, MessagePin, PluginInfo, PluginInstalled, PluginUpgraded, Reaction,
    ReviewRequest, ReviewVerdict, TimerFired, TimerId,
};

/// What event handlers return: `Ok(())`, or a [`HandlerError`] that discards the invocation's
/// effects.
pub type HandlerResult<T = ()> = Result<T, HandlerError>;

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Exports a [`Plugin`] implementation as the component's `describe`, `handle-event` and
/// `review-message` functions. Use it exactly once per plugin crate, at module level:
///
/// ```
/// use plaza_sdk::prelude::*;
///
/// struct Quiet;
/// impl Plugin for Quiet {
///     fn info() -> PluginInfo {
///         PluginInfo::new("quiet", "0.1.0", "Does nothing at all.")
///     }
/// }
///
/// plaza_sdk::export_plugin!(Quiet);
/// ```
///
/// The glue (a hidden type implementing [`bindings::Guest`] by forwarding to the plugin) is only
/// emitted when compiling for `wasm32`; on other targets the macro just type-checks it, so
/// several plugins can be linked into one native test binary.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            #[allow(dead_code)]
            struct __PlazaPluginExports;

            impl $crate::bindings::Guest for __PlazaPluginExports {
                fn describe() -> $crate::PluginInfo {
                    <$plugin as $crate::Plugin>::info()
                }

                fn handle_event(event: $crate::Event) -> ::core::result::Result<(), $crate::HandlerError> {
                    <$plugin as $crate::Plugin>::on_event(event)
                }

                fn review_message(
                    request: $crate::ReviewRequest,
                ) -> ::core::result::Result<$crate::ReviewVerdict, $crate::HandlerError> {
                    <$plugin as $crate::Plugin>::review_message(request)
                }
            }

            #[cfg(target_arch = "wasm32")]
            $crate::bindings::export! { __PlazaPluginExports with_types_in $crate::bindings }
        };
    };
}
