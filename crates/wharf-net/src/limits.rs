//! Per-IP connection limits and authentication throttling, shared by every service.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts concurrent connections per client address.
pub struct IpLimiter {
    max_per_ip: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection slot until dropped.
pub struct IpSlot {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl IpLimiter {
    /// `max_per_ip` = 0 means no limit.
    pub fn new(max_per_ip: usize) -> Arc<IpLimiter> {
        Arc::new(IpLimiter {
            max_per_ip,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `ip`, or `None` if it already has the maximum.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Failed-login bookkeeping per client address: each failure adds a delay before the
/// answer, and an address with too many recent failures is refused for a while.
pub struct AuthThrottle {
    /// Failures within `window` after which the address is refused.
    pub max_failures: u32,
    pub window: Duration,
    /// Delay added per failure (grows linearly, capped at 5 s).
    pub delay_step: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthThrottle {
    pub fn new(max_failures: u32, window: Duration, delay_step: Duration) -> Arc<AuthThrottle> {
        Arc::new(AuthThrottle {
            max_failures,
            window,
            delay_step,
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn current(&self, ip: IpAddr) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&ip) {
            Some((n, since)) if since.elapsed() < self.window => *n,
            Some(_) => {
                map.remove(&ip);
                0
            }
            None => 0,
        }
    }

    /// Whether this address may try to log in now.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.current(ip) < self.max_failures
    }

    /// Records a failure and returns how long to wait before answering.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        (self.delay_step * entry.0).min(Duration::from_secs(5))
    }

    /// Forgets the failures of an address after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_ip() {
        let l = IpLimiter::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = l.acquire(ip).unwrap();
        let _b = l.acquire(ip).unwrap();
        assert!(l.acquire(ip).is_none());
        assert!(l.acquire("127.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(l.acquire(ip).is_some());
    }

    #[test]
    fn throttle_refuses_after_max_failures() {
        let t = AuthThrottle::new(3, Duration::from_secs(60), Duration::from_millis(100));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.allowed(ip));
        assert_eq!(t.failed(ip), Duration::from_millis(100));
        assert_eq!(t.failed(ip), Duration::from_millis(200));
        assert!(t.allowed(ip));
        t.failed(ip);
        assert!(!t.allowed(ip));
        t.succeeded(ip);
        assert!(t.allowed(ip));
    }
}
