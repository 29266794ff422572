//! `moderation`: deleting messages needs `messages:manage`; mute, kick, ban need `members:moderate`.

use wasmtime::component::{HasSelf, Linker};

use super::HostResult;
use crate::capability::Capability;
use crate::effects::Action;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::moderation;
use crate::wit::latest::HostError;

/// Longest mute a plugin may impose: 28 days.
const MAX_MUTE_MS: u64 = 28 * 24 * 3600 * 1000;
/// Roles no plugin may moderate.
const PROTECTED_ROLES: [&str; 2] = ["owner", "admin"];

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    moderation::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl HostState {
    /// The target must be a current member of this community and not an owner or admin;
    /// returns the member's platform id.
    fn moderatable(&self, member: &str) -> Result<String, HostError> {
        let real = self.member_in(member).ok_or(HostError::NotFound)?;
        let profile = self
            .call
            .store
            .member(&self.call.community, &real)
            .ok_or(HostError::NotFound)?;
        if let Some(role) = profile.roles.iter().find(|r| PROTECTED_ROLES.contains(&r.as_str())) {
            return Err(HostError::Invalid(format!(
                "member `{member}` is a community {role} and cannot be moderated by plugins"
            )));
        }
        Ok(real)
    }

    fn check_reason(reason: &str) -> Result<(), HostError> {
        if reason.len() > 512 {
            return Err(HostError::Invalid("reason is longer than 512 bytes".into()));
        }
        Ok(())
    }
}

impl moderation::Host for HostState {
    async fn delete_message(&mut self, channel: String, id: String, reason: String) -> HostResult<()> {
        self.charge(channel.len() + id.len() + reason.len())?;
        let result = (|| {
            self.require(Capability::MessagesManage, "moderation.delete-message")?;
            Self::check_reason(&reason)?;
            let exists = self
                .call
                .store
                .message(&self.call.community, &id)
                .is_some_and(|m| m.channel == channel && !m.deleted);
            if !exists {
                return Err(HostError::NotFound);
            }
            self.record(Action::DeleteMessage {
                channel,
                message_id: id,
                reason,
            })
        })();
        Ok(result)
    }

    async fn mute(&mut self, member: String, duration_ms: u64, reason: String) -> HostResult<()> {
        self.charge(member.len() + reason.len())?;
        let result = (|| {
            self.require(Capability::MembersModerate, "moderation.mute")?;
            Self::check_reason(&reason)?;
            if duration_ms == 0 || duration_ms > MAX_MUTE_MS {
                return Err(HostError::Invalid(format!(
                    "mute duration must be between 1 ms and {MAX_MUTE_MS} ms"
                )));
            }
            let member = self.moderatable(&member)?;
            self.record(Action::MuteMember {
                member,
                duration_ms,
                reason,
            })
        })();
        Ok(result)
    }

    async fn kick(&mut self, member: String, reason: String) -> HostResult<()> {
        self.charge(member.len() + reason.len())?;
        let result = (|| {
            self.require(Capability::MembersModerate, "moderation.kick")?;
            Self::check_reason(&reason)?;
            let member = self.moderatable(&member)?;
            self.record(Action::KickMember { member, reason })
        })();
        Ok(result)
    }

    async fn ban(&mut self, member: String, reason: String) -> HostResult<()> {
        self.charge(member.len() + reason.len())?;
        let result = (|| {
            self.require(Capability::MembersModerate, "moderation.ban")?;
            Self::check_reason(&reason)?;
            let member = self.moderatable(&member)?;
            self.record(Action::BanMember { member, reason })
        })();
        Ok(result)
    }
}
