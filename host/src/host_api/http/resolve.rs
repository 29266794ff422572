//! Name lookup for `fetch`: once per request (and per redirect hop), fully qualified, through the
//! system resolver on a blocking thread, or from the operator's static answers. The answers go
//! to [`Target::vet`](super::policy::Target::vet); nothing else looks a name up.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::error::RequestError;
use super::policy::Target;

/// The key of a static answer: the lowercase name without a trailing dot.
pub(crate) fn canonical_lookup_key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The addresses `target`'s name resolves to: the static answer if the operator gave one,
/// otherwise the system resolver's (IPv4 and IPv6, in its order).
pub(crate) async fn lookup(
    statics: &BTreeMap<String, Vec<IpAddr>>,
    target: &Target,
) -> Result<Vec<IpAddr>, RequestError> {
    if let Some(addrs) = statics.get(&canonical_lookup_key(target.host())) {
        return Ok(addrs.clone());
    }
    let name = target.lookup_name();
    let answers = tokio::net::lookup_host((name.as_str(), target.port()))
        .await
        .map_err(|e| RequestError::Lookup {
            host: target.host().to_string(),
            problem: e.to_string(),
        })?;
    Ok(answers.map(|a| a.ip()).collect())
}
