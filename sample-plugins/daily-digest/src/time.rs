//! Calendar arithmetic on milliseconds since the Unix epoch, in UTC (no time-zone database).

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: u64 = 3_600_000;

/// The first instant strictly after `now_ms` that is `hour`:00:00 UTC.
pub fn next_at_hour(now_ms: u64, hour: u8) -> u64 {
    let day_start = now_ms - now_ms % DAY_MS;
    let today = day_start + u64::from(hour) * HOUR_MS;
    if today > now_ms {
        today
    } else {
        today + DAY_MS
    }
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub fn date(ms: u64) -> String {
    let (y, m, d) = civil_from_days((ms / DAY_MS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const NEW_YEAR: u64 = 1_767_225_600_000;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(NEW_YEAR), "2026-01-01");
        assert_eq!(date(NEW_YEAR - 1), "2025-12-31");
        assert_eq!(date(1_709_164_800_000), "2024-02-29");
    }

    #[test]
    fn next_hour_is_strictly_later() {
        assert_eq!(next_at_hour(NEW_YEAR, 18), NEW_YEAR + 18 * HOUR_MS);
        assert_eq!(
            next_at_hour(NEW_YEAR + 18 * HOUR_MS, 18),
            NEW_YEAR + DAY_MS + 18 * HOUR_MS
        );
        assert_eq!(
            next_at_hour(NEW_YEAR + 19 * HOUR_MS, 18),
            NEW_YEAR + DAY_MS + 18 * HOUR_MS
        );
        assert_eq!(next_at_hour(NEW_YEAR + 5, 0), NEW_YEAR + DAY_MS);
    }
}
