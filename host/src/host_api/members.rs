//! `members`: needs `members:read`.

use wasmtime::component::{HasSelf, Linker};

use super::HostResult;
use crate::capability::Capability;
use crate::runtime::state::HostState;
use crate::wit::latest::plaza::plugin::members::{self, MemberPage};
use crate::wit::latest::{member_profile, types::MemberProfile, HostError};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    members::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl members::Host for HostState {
    async fn get_profile(&mut self, member: String) -> HostResult<MemberProfile> {
        let result = (|| {
            self.require(Capability::MembersRead, "members.get-profile")?;
            let profile = self
                .call
                .store
                .member(&self.call.community, &member)
                .ok_or(HostError::NotFound)?;
            Ok(member_profile(&profile))
        })();
        Ok(result)
    }

    async fn list_page(&mut self, cursor: Option<String>, limit: u32) -> HostResult<MemberPage> {
        let result = (|| {
            self.require(Capability::MembersRead, "members.list-page")?;
            let limit = (limit as usize).clamp(1, self.call.limits.member_page);
            let (page, more) = self
                .call
                .store
                .members_page(&self.call.community, cursor.as_deref(), limit);
            let next_cursor = if more { page.last().map(|m| m.id.clone()) } else { None };
            Ok(MemberPage {
                members: page.iter().map(member_profile).collect(),
                next_cursor,
            })
        })();
        Ok(result)
    }
}
