//! When and how long to wait before trying a registry call again. Pure: the caller passes the
//! jitter in.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The time all waits of one call may add up to.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_total_wait: Duration::from_secs(90),
        }
    }
}

/// 408, 429 and 5xx are worth another try; other statuses are answers.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// `Retry-After` as seconds (the HTTP-date form is rare from registries and is not honoured).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), or `None` when the
    /// attempts or the total wait are spent. `jitter` in [0, 1) spreads clients apart.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = match retry_after {
            Some(after) => after,
            None => {
                let exponential = self.base_delay.saturating_mul(1 << (attempt - 1).min(16));
                let capped = exponential.min(self.max_delay);
                // Full jitter over the upper half: between half and all of the capped delay.
                capped.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
            }
        };
        (waited + wait <= self.max_total_wait).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 405, 409] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn backs_off_exponentially_within_bounds() {
        let p = RetryPolicy::default();
        let zero = Duration::ZERO;
        assert_eq!(
            p.delay(1, None, zero, 1.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(p.delay(2, None, zero, 1.0), Some(Duration::from_secs(1)));
        assert_eq!(p.delay(3, None, zero, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(
            p.delay(10 - 5, None, zero, 1.0),
            Some(Duration::from_secs(8))
        );
        assert_eq!(p.delay(6, None, zero, 1.0), None, "attempts spent");
        assert_eq!(
            p.delay(5, None, Duration::from_secs(85), 1.0),
            None,
            "total wait spent"
        );
    }

    #[test]
    fn honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, parse_retry_after(" 3 "), Duration::ZERO, 0.3),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(600)), Duration::ZERO, 0.0),
            None,
            "beyond the budget"
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
