//! Argon2id password hashes: creating them, and checking logins with pooled memory.
//!
//! An Argon2id check needs `m_cost` KiB of working memory (19 MiB with the default
//! parameters). Allocated per login, the allocator keeps those buffers around per thread,
//! and a few hundred concurrent logins held hundreds of MiB (measured with 200 FTP
//! clients). So checks borrow their memory from a pool with one buffer per core: memory
//! stays at cores x m_cost, and at most that many checks run at once (the rest wait,
//! which is also the right answer to a login flood).

use crate::{Error, Result, Secret};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Condvar, Mutex, OnceLock};

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
