//! Argon2id password hashes: creating them, and checking logins with pooled memory.
//!
//! An Argon2id check needs `m_cost` KiB of working memory (19 MiB with the default
//! parameters). Allocated per login, the allocator keeps those buffers around per thread,
//! and a few hundred concurrent logins held hundreds of MiB (measured with 200 FTP
//! clients). So checks borrow their memory from a pool with one buffer per core: memory
//! stays at cores x m_cost, and at most that many checks run at once (the rest wait,
//! which is also the right answer to a login flood).
//!
//! Clients log in often: a phone polling every few minutes, Thunderbird opening five
//! IMAP connections at start, an FTP client a connection per transfer. A login that
//! succeeded is remembered for a while (`[limits] auth_cache_secs`, 0 = off), as
//! Dovecot's auth cache does: the next check of the same password against the same
//! stored hash is a keyed SHA-256 lookup instead of another Argon2id run. The cache
//! holds neither passwords nor reusable hashes: entries are SHA-256 over a random
//! per-process key, the stored hash and the password, so they are useless outside this
//! process, and a password change (a new stored hash) makes old entries unreachable.
//! Failed checks are never cached: each one costs the full Argon2id run.

use crate::{Error, Result, Secret};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a successful check is remembered, in seconds (0 = no cache).
static CACHE_SECS: AtomicU64 = AtomicU64::new(DEFAULT_AUTH_CACHE_SECS);

/// The default of `[limits] auth_cache_secs`.
pub const DEFAULT_AUTH_CACHE_SECS: u64 = 600;

/// Entries kept at most; when full, expired ones go, and if none has, all of them.
const CACHE_MAX: usize = 16_384;

/// Sets how long successful password checks are remembered (zero turns the cache off
/// and empties it). Process-wide, like the Argon2 memory pool.
pub fn set_auth_cache_ttl(ttl: Duration) {
    CACHE_SECS.store(ttl.as_secs(), Ordering::Relaxed);
    if ttl.is_zero() {
        cache()
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Hashes a new password with the default Argon2id parameters (a PHC string).
pub(crate) fn hash(password: &Secret) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing password: {e}")))
}

/// Checks a password against a PHC string; false for a wrong password or a hash we
/// cannot read. Blocking: call it off the async threads.
pub(crate) fn verify(password: &Secret, phc: &str) -> bool {
    let secs = CACHE_SECS.load(Ordering::Relaxed);
    if secs == 0 {
        return verify_argon2(password, phc, None);
    }
    let ttl = Duration::from_secs(secs);
    let cache = cache();
    let key = cache.key(password, phc);
    if cache.fresh(&key, ttl) {
        return true;
    }
    let ok = verify_argon2(password, phc, Some((&key, ttl)));
    if ok {
        cache.remember(key, ttl);
    }
    ok
}

/// Successful checks: keyed digest -> when it was made.
struct AuthCache {
    secret: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

fn cache() -> &'static AuthCache {
    static CACHE: OnceLock<AuthCache> = OnceLock::new();
    CACHE.get_or_init(|| {
        use argon2::password_hash::rand_core::RngCore;
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        AuthCache {
            secret,
            entries: Mutex::new(HashMap::new()),
        }
    })
}

impl AuthCache {
    fn key(&self, password: &Secret, phc: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.secret);
        // Length-prefixed, so that no (hash, password) pair can pose as another.
        h.update((phc.len() as u64).to_be_bytes());
        h.update(phc.as_bytes());
        h.update(password.expose().as_bytes());
        h.finalize().into()
    }

    fn fresh(&self, key: &[u8; 32], ttl: Duration) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).is_some_and(|at| at.elapsed() < ttl)
    }

    fn remember(&self, key: [u8; 32], ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX && !entries.contains_key(&key) {
            entries.retain(|_, at| at.elapsed() < ttl);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, Instant::now());
    }
}

/// The full Argon2id check. With `recheck`, the cache is looked at again once the
/// working memory is ours: in a login storm (200 FTP clients of one account connecting
/// at once) the checks that waited for the pool find the first one's success there.
fn verify_argon2(password: &Secret, phc: &str, recheck: Option<(&[u8; 32], Duration)>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut memory = pool().take(blocks);
    if let Some((key, ttl)) = recheck
        && cache().fresh(key, ttl)
    {
        return true;
    }
    let ok = argon
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut out,
            &mut memory.0[..blocks],
        )
        .is_ok();
    ok && constant_time_eq(&out, expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Working-memory buffers for Argon2, at most one per core.
struct BlockPool {
    state: Mutex<PoolState>,
    returned: Condvar,
    max: usize,
}

struct PoolState {
    free: Vec<Vec<Block>>,
    /// Buffers that exist (free or lent).
    made: usize,
}

/// A borrowed buffer; goes back to the pool when dropped.
struct Lent(Vec<Block>);

impl Drop for Lent {
    fn drop(&mut self) {
        let p = pool();
        let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
        st.free.push(std::mem::take(&mut self.0));
        p.returned.notify_one();
    }
}

fn pool() -> &'static BlockPool {
    static POOL: OnceLock<BlockPool> = OnceLock::new();
    POOL.get_or_init(|| BlockPool {
        state: Mutex::new(PoolState {
            free: Vec::new(),
            made: 0,
        }),
        returned: Condvar::new(),
        max: std::thread::available_parallelism().map_or(2, |n| n.get()),
    })
}

impl BlockPool {
    /// Borrows a buffer of at least `blocks` blocks, waiting while all are lent.
    fn take(&self, blocks: usize) -> Lent {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(mut buf) = st.free.pop() {
                drop(st);
                if buf.len() < blocks {
                    buf.resize(blocks, Block::default());
                }
                return Lent(buf);
            }
            if st.made < self.max {
                st.made += 1;
                drop(st);
                return Lent(vec![Block::default(); blocks]);
            }
            st = self.returned.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hash(&Secret::new("correct horse")).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(&Secret::new("correct horse"), &h));
        assert!(!verify(&Secret::new("correct horsE"), &h));
        assert!(!verify(&Secret::new("correct horse"), "not a hash"));
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_directly_verify() {
        // A hash with other parameters (as an older Wharf or an import might hold).
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let h = a.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify(&Secret::new("pw"), &h));
        assert!(!verify(&Secret::new("px"), &h));
    }

    #[test]
    fn the_cache_remembers_successes_only_for_the_same_hash_and_password() {
        let c = cache();
        let h1 = hash(&Secret::new("pw")).unwrap();
        let h2 = hash(&Secret::new("pw")).unwrap();
        let ttl = Duration::from_secs(60);
        let k = c.key(&Secret::new("pw"), &h1);
        assert!(!c.fresh(&k, ttl));
        assert!(verify(&Secret::new("pw"), &h1));
        assert!(c.fresh(&k, ttl), "a success is remembered");
        // Another stored hash (the password was changed) or another password: not cached.
        assert!(!c.fresh(&c.key(&Secret::new("pw"), &h2), ttl));
        assert!(!verify(&Secret::new("px"), &h1));
        assert!(
            !c.fresh(&c.key(&Secret::new("px"), &h1), ttl),
            "failures are not"
        );
        // Length prefix: moving bytes between hash and password gives another key.
        assert_ne!(
            c.key(&Secret::new("bc"), "a"),
            c.key(&Secret::new("c"), "ab")
        );
        // Expired entries are not fresh.
        assert!(!c.fresh(&k, Duration::ZERO));
    }

    #[test]
    fn many_concurrent_checks_share_the_pool() {
        let h = hash(&Secret::new("pw")).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || verify(&Secret::new("pw"), &h))
            })
            .collect();
        assert!(threads.into_iter().all(|t| t.join().unwrap()));
        assert!(pool().state.lock().unwrap().made <= pool().max);
    }
}
