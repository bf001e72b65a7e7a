//! Rules for background jobs: how long to wait before retrying.

/// Seconds to wait before attempt `attempts + 1`, after `attempts` failures.
///
/// Exponential from 10 seconds, doubling, capped at six hours, so a mail
/// server that is down for a day is retried about a dozen times rather than
/// hammered. `jitter` (0..=1000, from the caller's random source) spreads
/// retries of jobs that failed together by up to a tenth of the delay.
pub fn retry_delay_seconds(attempts: u32, jitter: u16) -> u64 {
    let base = 10u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
    let capped = base.min(6 * 60 * 60);
    capped + capped * u64::from(jitter.min(1000)) / 10_000
}

/// How many attempts a job gets before it is marked failed, by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_then_caps_at_six_hours() {
        assert_eq!(retry_delay_seconds(1, 0), 10);
        assert_eq!(retry_delay_seconds(2, 0), 20);
        assert_eq!(retry_delay_seconds(3, 0), 40);
        assert_eq!(retry_delay_seconds(30, 0), 6 * 3600);
        assert_eq!(retry_delay_seconds(u32::MAX, 1000), 6 * 3600 + 2160);
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        assert_eq!(retry_delay_seconds(1, 1000), 11);
        assert_eq!(retry_delay_seconds(1, 60_000), 11);
    }
}
