//! 0.1.0's host interfaces: each function converts its arguments into the latest types, calls
//! the latest implementation (grant checks, limits and audit included) and converts the answer
//! back. Nothing here decides anything, so the two versions cannot drift apart.

use wasmtime::component::{HasSelf, Linker};

use super::plaza::plugin as old;
use super::types::HostError;
use crate::runtime::state::HostState;
use crate::wit::convert::Convert;
use crate::wit::latest::plaza::plugin as new;

/// Links the 0.1.0 interfaces beside the latest ones; a component picks by the names it imports.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    super::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl old::types::Host for HostState {}

/// `impl old::X::Host` by delegating each function to `new::X::Host`.
macro_rules! delegate {
    ($interface:ident { $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)* }) => {
        impl old::$interface::Host for HostState {
            $(async fn $name(&mut self, $($arg: $ty),*) -> wasmtime::Result<$ret> {
                let answer = <HostState as new::$interface::Host>::$name(self, $($arg.convert()),*).await?;
                Ok(answer.convert())
            })*
        }
    };
}

delegate!(logging {
    fn log(level: old::logging::Level, message: String) -> ();
});

delegate!(messaging {
    fn send(channel: String, text: String) -> Result<String, HostError>;
    fn reply(channel: String, to: String, text: String) -> Result<String, HostError>;
    fn edit_own(channel: String, id: String, text: String) -> Result<(), HostError>;
});

delegate!(moderation {
    fn delete_message(channel: String, id: String, reason: String) -> Result<(), HostError>;
    fn mute(member: String, duration_ms: u64, reason: String) -> Result<(), HostError>;
    fn kick(member: String, reason: String) -> Result<(), HostError>;
    fn ban(member: String, reason: String) -> Result<(), HostError>;
});

delegate!(members {
    fn get_profile(member: String) -> Result<old::types::MemberProfile, HostError>;
    fn list_page(cursor: Option<String>, limit: u32) -> Result<old::members::MemberPage, HostError>;
});

delegate!(kv {
    fn get(key: String) -> Result<Option<Vec<u8>>, HostError>;
    fn set(key: String, value: Vec<u8>) -> Result<(), HostError>;
    fn delete(key: String) -> Result<(), HostError>;
    fn list_keys(prefix: String, start_after: Option<String>, limit: u32) -> Result<Vec<String>, HostError>;
});

delegate!(http {
    fn fetch(request: old::http::Request) -> Result<old::http::Response, HostError>;
});

delegate!(scheduler {
    fn schedule_once(name: String, delay_ms: u64, payload: String) -> Result<String, HostError>;
    fn schedule_every(name: String, interval_ms: u64, payload: String) -> Result<String, HostError>;
    fn cancel(id: String) -> Result<(), HostError>;
});
