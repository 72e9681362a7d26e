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

/// Whether a call may be repeated after a failure without doing its work twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    /// A create: the caller looks up whether it was applied before trying again.
    Never,
}

/// 408, 429 and 5xx are worth another try; other statuses are answers.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// `Retry-After`: seconds, or an HTTP date (RFC 9110), the wait until then from the clock now.
/// How long a wait is allowed stays the caller's budget's to say.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, std::time::SystemTime::now())
}

/// `Retry-After` as of `now`: seconds, or an HTTP date (IMF-fixdate, and the obsolete RFC 850
/// and asctime forms RFC 9110 still asks a recipient to read); a date passed is no wait.
pub fn parse_retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Docker Hub's `X-Retry-After`: a Unix time when above 10^9 (as Docker's API reference
/// described it until 2025, and as clients still see it), else seconds; the wait as of `now`.
pub fn parse_x_retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let number = value.trim().parse::<u64>().ok()?;
    if number <= 1_000_000_000 {
        return Some(Duration::from_secs(number));
    }
    let at = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(number))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Why no other attempt is made: what the error says instead of a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Every attempt was made.
    Attempts { attempts: u32 },
    /// Another backoff would take the waits of the call past the budget.
    Budget { attempts: u32, budget: Duration },
    /// The server asked (`Retry-After`, a rate-limit reset) for a wait longer than what is left
    /// of the budget: not even one retry was worth it.
    ServerWait {
        asked: Duration,
        left: Duration,
        budget: Duration,
    },
}

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match *self {
            GiveUp::Attempts { attempts } => {
                write!(
                    f,
                    "still failing after {attempts} attempt{}",
                    plural(attempts)
                )
            }
            GiveUp::Budget { attempts, budget } => write!(
                f,
                "still failing after {attempts} attempt{}; another wait would go past the retry budget of {}",
                plural(attempts),
                human(budget)
            ),
            GiveUp::ServerWait {
                asked,
                left,
                budget,
            } => {
                write!(
                    f,
                    "the server asked to wait {} before another try (Retry-After), longer than ",
                    human(asked)
                )?;
                if left == budget {
                    write!(f, "the retry budget of {}", human(budget))?;
                } else {
                    write!(
                        f,
                        "the {} left of the retry budget of {}",
                        human(left),
                        human(budget)
                    )?;
                }
                write!(f, "; try again later")
            }
        }
    }
}

/// `10h`, `1m30s`, `45s`, `0.5s`: a wait as a person reads it.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 && !d.is_zero() {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), or why there is none: the
    /// attempts or the total wait are spent, or the server asked for more than is left. `jitter`
    /// in [0, 1) spreads clients apart.
    pub fn next(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
        jitter: f64,
    ) -> Result<Duration, GiveUp> {
        if attempt >= self.max_attempts {
            return Err(GiveUp::Attempts { attempts: attempt });
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
        // Saturating: `Retry-After` is the server's number, and u64::MAX seconds overflows a sum.
        if waited.saturating_add(wait) <= self.max_total_wait {
            return Ok(wait);
        }
        Err(match retry_after {
            Some(asked) => GiveUp::ServerWait {
                asked,
                left: self.max_total_wait.saturating_sub(waited),
                budget: self.max_total_wait,
            },
            None => GiveUp::Budget {
                attempts: attempt,
                budget: self.max_total_wait,
            },
        })
    }
}

/// One operation's tries under a policy: which try this is and how long was waited. Every retry
/// loop (registry requests, token requests, whole uploads, GitHub calls) counts with it, so they
/// all stop, wait and spread apart alike; each decides for itself what is worth another try.
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: RetryPolicy,
    attempt: u32,
    waited: Duration,
}

impl Attempts {
    pub fn new(policy: RetryPolicy) -> Attempts {
        Attempts {
            policy,
            attempt: 1,
            waited: Duration::ZERO,
        }
    }

    /// The try under way, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many tries the policy allows.
    pub fn max(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The wait before the next try (the server's `Retry-After` when it gave one), or why there
    /// is none.
    pub fn next_wait(&self, retry_after: Option<Duration>) -> Result<Duration, GiveUp> {
        self.policy
            .next(self.attempt, retry_after, self.waited, jitter())
    }

    /// Whether another try is left at all, for a failure that names no wait (a dropped
    /// connection). Decided without jitter, so the same count always answers the same.
    pub fn can_retry(&self) -> bool {
        self.policy
            .next(self.attempt, None, self.waited, 0.5)
            .is_ok()
    }

    /// After `failure`, which names no wait (a create that may not have been applied): waits
    /// the backoff, saying so with `situation`, and counts the next try; or, with no try left,
    /// gives `failure` back.
    pub async fn again_after<E: std::fmt::Display>(
        &mut self,
        failure: E,
        situation: &str,
    ) -> Result<(), E> {
        let Ok(delay) = self.next_wait(None) else {
            return Err(failure);
        };
        tracing::warn!(
            "{failure}; {situation}, so trying again in {:.1}s (attempt {} of {})",
            delay.as_secs_f64(),
            self.attempt + 1,
            self.policy.max_attempts
        );
        self.wait(delay).await;
        Ok(())
    }

    /// Waits `wait`, then counts the next try.
    pub async fn wait(&mut self, wait: Duration) {
        tokio::time::sleep(wait).await;
        self.waited += wait;
        self.attempt += 1;
    }
}

/// A fraction in [0, 1) that differs between processes, so that jobs failing together do not
/// retry in step. One source for every retry loop.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_count_tries_and_waits_and_stop_at_the_policy() {
        let mut attempts = Attempts::new(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_total_wait: Duration::from_millis(10),
        });
        assert_eq!((attempts.attempt(), attempts.max()), (1, 3));
        for _ in 0..2 {
            assert!(attempts.can_retry());
            let wait = attempts.next_wait(None).unwrap();
            attempts.wait(wait).await;
        }
        assert_eq!(attempts.attempt(), 3);
        assert!(!attempts.can_retry());
        assert_eq!(
            attempts.next_wait(None),
            Err(GiveUp::Attempts { attempts: 3 })
        );
        // A server's wait beyond what is left of the budget is said as such.
        let fresh = Attempts::new(RetryPolicy {
            max_total_wait: Duration::from_secs(1),
            ..RetryPolicy::default()
        });
        assert!(matches!(
            fresh.next_wait(Some(Duration::from_secs(5))),
            Err(GiveUp::ServerWait { .. })
        ));
    }

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
            p.next(1, None, zero, 1.0).ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            p.next(2, None, zero, 1.0).ok(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.next(3, None, zero, 0.0).ok(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.next(10 - 5, None, zero, 1.0).ok(),
            Some(Duration::from_secs(8))
        );
        assert_eq!(p.next(6, None, zero, 1.0).ok(), None, "attempts spent");
        assert_eq!(
            p.next(5, None, Duration::from_secs(85), 1.0).ok(),
            None,
            "total wait spent"
        );
    }

    #[test]
    fn honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next(1, parse_retry_after(" 3 "), Duration::ZERO, 0.3)
                .ok(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            p.next(1, Some(Duration::from_secs(600)), Duration::ZERO, 0.0)
                .ok(),
            None,
            "beyond the budget"
        );
        // An HTTP date is the wait until then; one passed is no wait; garbage is no answer.
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:27:30 GMT").unwrap();
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after_at("Wednesday, 21-Oct-15 07:28:00 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after_at("Wed Oct 21 07:28:00 2015", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after_at("soon", now), None);
        // Above 10^9, Docker Hub's X-Retry-After is a time; below, seconds.
        let epoch_now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_x_retry_after_at("1700000042", epoch_now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            parse_x_retry_after_at("1600000000", epoch_now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_x_retry_after_at("60", epoch_now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_x_retry_after_at("-1", epoch_now), None);
        // Found by tests/fuzz.rs: the largest Retry-After after a first wait overflowed the sum.
        let huge = parse_retry_after("18446744073709551615");
        assert!(matches!(
            p.next(2, huge, Duration::from_secs(1), 0.0),
            Err(GiveUp::ServerWait { .. })
        ));
    }

    #[test]
    fn says_why_it_gives_up() {
        let p = RetryPolicy::default();
        let why = |attempt, after: Option<u64>, waited| {
            p.next(
                attempt,
                after.map(Duration::from_secs),
                Duration::from_secs(waited),
                1.0,
            )
            .unwrap_err()
        };
        assert_eq!(
            why(1, Some(36_000), 0).to_string(),
            "the server asked to wait 10h before another try (Retry-After), longer than the retry budget of 1m30s; try again later"
        );
        assert_eq!(
            why(2, Some(60), 45).to_string(),
            "the server asked to wait 1m before another try (Retry-After), longer than the 45s left of the retry budget of 1m30s; try again later"
        );
        assert_eq!(
            why(6, Some(36_000), 0),
            GiveUp::Attempts { attempts: 6 },
            "attempts spent come first"
        );
        assert_eq!(
            why(6, None, 0).to_string(),
            "still failing after 6 attempts"
        );
        assert_eq!(
            why(5, None, 85).to_string(),
            "still failing after 5 attempts; another wait would go past the retry budget of 1m30s"
        );
        assert_eq!(human(Duration::from_millis(500)), "0.5s");
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(Duration::from_secs(3605)), "1h5s");
    }
}
