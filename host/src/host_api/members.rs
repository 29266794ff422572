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
        self.charge(member.len())?;
        let result = (|| {
            self.require(Capability::MembersRead, "members.get-profile")?;
            let real = self.member_in(&member).ok_or(HostError::NotFound)?;
            let mut profile = self
                .call
                .store
                .member(&self.call.community, &real)
                .ok_or(HostError::NotFound)?;
            profile.id = self.member_out(&profile.id);
            Ok(member_profile(&profile))
        })();
        Ok(result)
    }

    async fn list_page(&mut self, cursor: Option<String>, limit: u32) -> HostResult<MemberPage> {
        self.charge(cursor.as_ref().map_or(0, String::len))?;
        let result = (|| {
            self.require(Capability::MembersRead, "members.list-page")?;
            let limit = (limit as usize).clamp(1, self.call.limits.member_page);
            // The cursor is a member id as the plugin sees it (a pseudonym without identity).
            let after = match cursor {
                Some(c) => Some(
                    self.member_in(&c)
                        .ok_or_else(|| HostError::Invalid(format!("unknown cursor {c:?}")))?,
                ),
                None => None,
            };
            let (page, more) = self
                .call
                .store
                .members_page(&self.call.community, after.as_deref(), limit);
            let next_cursor = if more {
                page.last().map(|m| self.member_out(&m.id))
            } else {
                None
            };
            let members = page
                .into_iter()
                .map(|mut p| {
                    p.id = self.member_out(&p.id);
                    member_profile(&p)
                })
                .collect();
            Ok(MemberPage { members, next_cursor })
        })();
        Ok(result)
    }
}
