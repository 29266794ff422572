//! Where an event goes on the bus: its community's partition and subject.

/// Every event subject starts with this.
pub const PREFIX: &str = "plaza.events";

/// 64-bit FNV-1a: stable across builds, platforms and languages (a publisher in another
/// language computes the same partition).
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The partition a community's events go to.
pub fn partition_of(community: &str, partitions: u32) -> u32 {
    (fnv1a(community) % u64::from(partitions.max(1))) as u32
}

/// The community id as one subject token: as is when it is only ASCII letters, digits, `-`
/// and `_`; otherwise `=` and its bytes in hex (community ids may hold `.`, `*`, `>` or
/// spaces, which subjects cannot). The event itself carries the real id.
pub fn community_token(community: &str) -> String {
    let plain = !community.is_empty()
        && community
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        community.to_string()
    } else {
        format!("={}", hex::encode(community.as_bytes()))
    }
}

/// The subject of an event of `community`.
pub fn event_subject(community: &str, partitions: u32) -> String {
    format!(
        "{PREFIX}.{}.{}",
        partition_of(community, partitions),
        community_token(community)
    )
}

/// What a partition's consumer reads.
pub fn partition_filter(partition: u32) -> String {
    format!("{PREFIX}.{partition}.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_in_range() {
        // Fixed values: a change here re-partitions every deployed stream.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        for i in 0..1000 {
            let c = format!("community-{i}");
            assert!(partition_of(&c, 16) < 16);
            assert_eq!(partition_of(&c, 16), partition_of(&c, 16));
        }
        assert_eq!(partition_of("anything", 0), 0);
    }

    #[test]
    fn tokens_never_break_subjects() {
        assert_eq!(community_token("rust-lovers_2"), "rust-lovers_2");
        for odd in ["a.b", "a b", "*", ">", "é", "x.>"] {
            let token = community_token(odd);
            assert!(token.starts_with('='), "{odd}: {token}");
            assert!(!token.contains(['.', '*', '>', ' ']), "{odd}: {token}");
        }
        assert_eq!(
            event_subject("a.b", 4),
            format!("plaza.events.{}.=612e62", partition_of("a.b", 4))
        );
        assert_eq!(partition_filter(3), "plaza.events.3.>");
    }
}
