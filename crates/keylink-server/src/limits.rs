//! Rate limiting: token buckets per key (account, source address).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// A set of token buckets, one per key: `burst` tokens, refilled at
/// `per_second`. Forgets idle keys when it grows past `max_keys`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
    burst: f64,
    per_second: f64,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter allowing `burst` requests at once and `per_second` after.
    pub fn new(burst: u32, per_second: f64, max_keys: usize) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            burst: f64::from(burst),
            per_second,
            max_keys,
        }
    }

    /// Take one token for `key` at `now`; false if none is left.
    pub fn allow(&self, key: &K, now: Instant) -> bool {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max_keys && !map.contains_key(key) {
            // Drop buckets that have refilled completely: they carry no state.
            let (burst, rate) = (self.burst, self.per_second);
            map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if map.len() >= self.max_keys {
                return false;
            }
        }
        let (tokens, at) = map.entry(key.clone()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills() {
        let l = RateLimiter::new(3, 1.0, 10);
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow(&"a", t)));
        assert!(!l.allow(&"a", t));
        assert!(l.allow(&"b", t), "keys are independent");
        assert!(l.allow(&"a", t + Duration::from_millis(1100)));
        assert!(!l.allow(&"a", t + Duration::from_millis(1200)));
    }
}
