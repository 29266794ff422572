//! `messaging`: needs `messages:send`.

use wasmtime::component::{HasSelf, Linker};

use super::{non_empty, HostResult};
use crate::capability::Capability;
use crate::effects::Action;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::messaging;
use crate::wit::latest::HostError;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    messaging::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl HostState {
    fn check_text(&self, text: &str) -> Result<(), HostError> {
        let max = self.call.limits.message_chars;
        if text.trim().is_empty() {
            return Err(HostError::Invalid("message text must not be empty".into()));
        }
        let chars = text.chars().count();
        if chars > max {
            return Err(HostError::Invalid(format!(
                "message is {chars} characters; at most {max} allowed"
            )));
        }
        Ok(())
    }

    /// Whether `id` is a message in this community's `channel`, or one this invocation sent there.
    fn message_in_channel(&self, channel: &str, id: &str) -> bool {
        self.effects.sent_message(id) || self.call.store.message_live_in(&self.call.community, channel, id)
    }

    fn post(&mut self, channel: String, text: String, reply_to: Option<String>) -> Result<String, HostError> {
        let call = &self.call;
        call.rate
            .try_take(&call.limits.rates, &call.community, &call.plugin, &channel, call.now_ms)
            .map_err(HostError::RateLimited)?;
        let message_id = self.effects.new_id("msg", &self.call.plugin, &self.call.event_id);
        self.record(Action::SendMessage {
            channel,
            message_id: message_id.clone(),
            text,
            reply_to,
        })?;
        Ok(message_id)
    }
}

impl messaging::Host for HostState {
    async fn send(&mut self, channel: String, text: String) -> HostResult<String> {
        self.charge(channel.len() + text.len())?;
        let result = (|| {
            self.require(Capability::MessagesSend, "messaging.send")?;
            non_empty("channel", &channel, 128)?;
            self.check_text(&text)?;
            self.post(channel, text, None)
        })();
        Ok(result)
    }

    async fn reply(&mut self, channel: String, to: String, text: String) -> HostResult<String> {
        self.charge(channel.len() + to.len() + text.len())?;
        let result = (|| {
            self.require(Capability::MessagesSend, "messaging.reply")?;
            non_empty("channel", &channel, 128)?;
            self.check_text(&text)?;
            if !self.message_in_channel(&channel, &to) {
                return Err(HostError::NotFound);
            }
            self.post(channel, text, Some(to))
        })();
        Ok(result)
    }

    async fn edit_own(&mut self, channel: String, id: String, text: String) -> HostResult<()> {
        self.charge(channel.len() + id.len() + text.len())?;
        let result = (|| {
            self.require(Capability::MessagesSend, "messaging.edit-own")?;
            self.check_text(&text)?;
            let own_stored = self
                .call
                .store
                .message(&self.call.community, &id)
                .filter(|m| m.channel == channel && !m.deleted)
                .map(|m| m.posted_by_plugin.as_deref() == Some(self.call.plugin.as_str()));
            match own_stored {
                Some(false) => {
                    return Err(HostError::Invalid(
                        "only messages this plugin posted can be edited".into(),
                    ))
                }
                None if !self.effects.sent_message(&id) => return Err(HostError::NotFound),
                _ => {}
            }
            self.record(Action::EditMessage {
                channel,
                message_id: id,
                text,
            })
        })();
        Ok(result)
    }
}
