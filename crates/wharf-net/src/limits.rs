//! Connection limits (per client address and for the whole server) and the one login
//! throttle, shared by every service.
//!
//! Invariants:
//! - A connection slot is held from accept to the end of the session ([`IpSlot`]); the
//!   per-address map drops an address when its last connection ends, so it holds at most
//!   one entry per live connection.
//! - The login throttle keys a client by its IPv4 address or its IPv6 /64 (one host
//!   usually owns a whole /64, so counting single IPv6 addresses would give it 2^64
//!   failure budgets). Its map is bounded: entries expire after `window`, and past
//!   `max_tracked` entries the oldest window is forgotten first.
//! - One [`AuthThrottle`] serves every protocol of a process (`serve` builds one and
//!   hands it to each service), so an attacker gets one failure budget, not one per
//!   protocol. It also holds the login slots: a password check (Argon2id, ~19 MiB and a
//!   CPU for its duration) waits for a slot before it starts, so a login flood queues
//!   instead of filling the blocking pool that store reads share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The client address has `max_connections_per_ip` connections already.
    PerIp,
    /// The server has `max_connections` connections already.
    Total,
}

/// Counts concurrent connections per client address and in all.
pub struct IpLimiter {
    max_per_ip: AtomicUsize,
    max_total: AtomicUsize,
    state: Mutex<Counts>,
    /// Given to every accepted connection as [`crate::Conn::line_timeout`].
    pub line_timeout: Option<Duration>,
    /// Given to every accepted connection as its session deadline; the service clears
    /// it once the client has logged in (or at once where there is no login).
    pub login_timeout: Option<Duration>,
}

#[derive(Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Holds one connection slot until dropped.
pub struct IpSlot {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl IpLimiter {
    /// `max_per_ip` = 0 means no limit per address (and none in all).
    pub fn new(max_per_ip: usize) -> Arc<IpLimiter> {
        IpLimiter::with_total(max_per_ip, 0)
    }

    /// Limits per address and for the whole server; 0 means no limit.
    pub fn with_total(max_per_ip: usize, max_total: usize) -> Arc<IpLimiter> {
        IpLimiter::configured(max_per_ip, max_total, None, None)
    }

    /// Connection limits and the timeouts every accepted connection starts with.
    pub fn configured(
        max_per_ip: usize,
        max_total: usize,
        line_timeout: Option<Duration>,
        login_timeout: Option<Duration>,
    ) -> Arc<IpLimiter> {
        Arc::new(IpLimiter {
            max_per_ip: AtomicUsize::new(max_per_ip),
            max_total: AtomicUsize::new(max_total),
            state: Mutex::new(Counts::default()),
            line_timeout,
            login_timeout,
        })
    }

    /// Changes the limits for connections accepted from now on (SIGHUP reload);
    /// connections already held are not cut.
    pub fn set_limits(&self, max_per_ip: usize, max_total: usize) {
        self.max_per_ip.store(max_per_ip, Ordering::Relaxed);
        self.max_total.store(max_total, Ordering::Relaxed);
    }

    /// The limits in force: (per address, in all); 0 = none.
    pub fn limits(&self) -> (usize, usize) {
        (
            self.max_per_ip.load(Ordering::Relaxed),
            self.max_total.load(Ordering::Relaxed),
        )
    }

    /// Takes a slot for `ip`, or says which limit refuses it.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, Busy> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (max_per_ip, max_total) = self.limits();
        if max_total != 0 && st.total >= max_total {
            return Err(Busy::Total);
        }
        let n = st.per_ip.entry(ip).or_insert(0);
        if max_per_ip != 0 && *n >= max_per_ip {
            return Err(Busy::PerIp);
        }
        *n += 1;
        st.total += 1;
        Ok(IpSlot {
            limiter: self.clone(),
            ip,
        })
    }

    /// Takes a slot for `ip`, or `None` if a limit refuses it.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        self.try_acquire(ip).ok()
    }

    /// Connections currently held.
    pub fn total(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut st = self.limiter.state.lock().unwrap_or_else(|e| e.into_inner());
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.per_ip.remove(&self.ip);
            }
        }
    }
}

/// The key a client is throttled by: its IPv4 address, or its IPv6 /64. An IPv4
/// address mapped into IPv6 (`::ffff:a.b.c.d`) counts as that IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    V6Net([u8; 8]),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut net = [0u8; 8];
                    net.copy_from_slice(&o[..8]);
                    ClientKey::V6Net(net)
                }
            },
        }
    }
}

/// Settings of the login throttle (`[limits]` in wharf.toml).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failed logins from one client (IPv4 address or IPv6 /64) within `window` after
    /// which its logins are refused until the window passes (0 = never refused).
    pub max_failures: u32,
    pub window: Duration,
    /// Delay added to each failed login's answer; grows with each failure from the same
    /// client, capped at 5 s.
    pub delay_step: Duration,
    /// Clients tracked at most; past this the oldest windows are forgotten first.
    pub max_tracked: usize,
    /// Password checks running at once (0 = one per CPU).
    pub concurrent_logins: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            max_failures: 10,
            window: Duration::from_secs(300),
            delay_step: Duration::from_millis(1000),
            max_tracked: 100_000,
            concurrent_logins: 0,
        }
    }
}

/// The longest delay added to a failed login.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Failed-login bookkeeping per client: each failure adds a delay before the answer, and
/// a client with too many recent failures is refused for a while. See the module notes.
pub struct AuthThrottle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<ClientKey, (u32, Instant)>>,
    slots: Arc<Semaphore>,
}

/// The process's one throttle, once `serve` has installed it.
static INSTALLED: Mutex<Option<Arc<AuthThrottle>>> = Mutex::new(None);

impl AuthThrottle {
    /// Makes `settings` the throttle every service built afterwards shares (see
    /// [`AuthThrottle::shared_or`]); returns it.
    pub fn install(settings: ThrottleSettings) -> Arc<AuthThrottle> {
        let t = AuthThrottle::with_settings(settings);
        *INSTALLED.lock().unwrap_or_else(|e| e.into_inner()) = Some(t.clone());
        t
    }

    /// The installed throttle, or else (tests, embedders) a private one from `fallback`.
    pub fn shared_or(fallback: impl FnOnce() -> Arc<AuthThrottle>) -> Arc<AuthThrottle> {
        let installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        installed.unwrap_or_else(fallback)
    }

    /// A throttle with the default bounds and login slots (the old constructor, kept
    /// for tests and embedders).
    pub fn new(max_failures: u32, window: Duration, delay_step: Duration) -> Arc<AuthThrottle> {
        AuthThrottle::with_settings(ThrottleSettings {
            max_failures,
            window,
            delay_step,
            ..ThrottleSettings::default()
        })
    }

    pub fn with_settings(settings: ThrottleSettings) -> Arc<AuthThrottle> {
        let slots = match settings.concurrent_logins {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Arc::new(AuthThrottle {
            settings,
            failures: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(slots)),
        })
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    fn current(&self, key: ClientKey) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some((n, since)) if since.elapsed() < self.settings.window => *n,
            Some(_) => {
                map.remove(&key);
                0
            }
            None => 0,
        }
    }

    /// Whether this address may try to log in now.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.settings.max_failures == 0
            || self.current(ClientKey::of(ip)) < self.settings.max_failures
    }

    /// Records a failure and returns how long to wait before answering.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let key = ClientKey::of(ip);
        let window = self.settings.window;
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.settings.max_tracked.max(1) && !map.contains_key(&key) {
            map.retain(|_, (_, since)| since.elapsed() < window);
            if map.len() >= self.settings.max_tracked.max(1) {
                // Still full of live windows: forget the oldest one.
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        (self.settings.delay_step * entry.0).min(MAX_DELAY)
    }

    /// Forgets the failures of an address after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ClientKey::of(ip));
    }

    /// Clients currently tracked.
    pub fn tracked(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Waits for a login slot; hold it while the password is checked.
    pub async fn login_slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the login semaphore is never closed")
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
    fn limiter_caps_the_whole_server() {
        let l = IpLimiter::with_total(0, 3);
        let slots: Vec<_> = (1..=3)
            .map(|i| {
                l.try_acquire(format!("10.0.0.{i}").parse().unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            l.try_acquire("10.0.0.9".parse().unwrap()).err(),
            Some(Busy::Total)
        );
        drop(slots);
        assert_eq!(l.total(), 0);
        assert!(l.try_acquire("10.0.0.9".parse().unwrap()).is_ok());
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

    #[test]
    fn ipv6_addresses_count_per_64() {
        let t = AuthThrottle::new(2, Duration::from_secs(60), Duration::ZERO);
        t.failed("2001:db8:1:2::1".parse().unwrap());
        t.failed("2001:db8:1:2:ffff::9".parse().unwrap());
        assert!(!t.allowed("2001:db8:1:2::abcd".parse().unwrap()));
        assert!(t.allowed("2001:db8:1:3::1".parse().unwrap()));
        // A mapped IPv4 address is the IPv4 address.
        t.failed("192.0.2.7".parse().unwrap());
        t.failed("::ffff:192.0.2.7".parse().unwrap());
        assert!(!t.allowed("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn throttle_entries_expire_and_the_map_is_bounded() {
        let t = AuthThrottle::with_settings(ThrottleSettings {
            max_failures: 1,
            window: Duration::from_millis(30),
            delay_step: Duration::ZERO,
            max_tracked: 100,
            concurrent_logins: 1,
        });
        for i in 0..1000u32 {
            t.failed(IpAddr::from(i.to_be_bytes()));
            assert!(t.tracked() <= 100, "{} tracked", t.tracked());
        }
        let last = IpAddr::from(999u32.to_be_bytes());
        assert!(!t.allowed(last));
        std::thread::sleep(Duration::from_millis(40));
        t.failed("10.9.9.9".parse().unwrap());
        assert_eq!(t.tracked(), 1, "expired windows were not dropped when full");
        assert!(t.allowed(last), "a window that passed still refuses");
    }

    #[tokio::test]
    async fn login_slots_bound_concurrent_checks() {
        let t = AuthThrottle::with_settings(ThrottleSettings {
            concurrent_logins: 1,
            ..ThrottleSettings::default()
        });
        let first = t.login_slot().await;
        let second = tokio::time::timeout(Duration::from_millis(50), t.login_slot()).await;
        assert!(second.is_err(), "a second check ran beside the first");
        drop(first);
        let _slot = tokio::time::timeout(Duration::from_millis(50), t.login_slot())
            .await
            .unwrap();
    }
}
