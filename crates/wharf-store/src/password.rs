//! Argon2id password hashes: creating them, and checking logins with bounded memory.
//!
//! An Argon2id run needs `m_cost` KiB of working memory (19 MiB with the default
//! parameters). Allocated per login, the allocator keeps those buffers around per thread,
//! and a few hundred concurrent logins held hundreds of MiB (measured with 200 FTP
//! clients); a pool that kept one buffer per core for the life of the process still held
//! 19 MiB per core that an idle server never used. So:
//! - At most one run per core at once (the rest wait, which is also the right answer to a
//!   login flood), each with working memory from [`BlockPool`].
//! - That memory is an anonymous mapping of its own, not heap: when a run ends and no
//!   other is waiting for it, it is unmapped and goes back to the OS at once. A run that
//!   ends while another waits hands its mapping over, so a storm of logins maps each
//!   buffer once, not once per login.
//! - Concurrent checks of the same password against the same stored hash run Argon2 once
//!   ([`SingleFlight`]): the others wait for that run and take its answer, right or wrong.
//!   Thunderbird opening five IMAP connections, or 200 FTP clients of one account logging
//!   in together, cost one run.
//!
//! Clients log in often: a phone polling every few minutes, Thunderbird opening five
//! IMAP connections at start, an FTP client a connection per transfer. A login that
//! succeeded is remembered for a while (`[limits] auth_cache_secs`, 0 = off), as
//! Dovecot's auth cache does: the next check of the same password against the same
//! stored hash is a keyed SHA-256 lookup instead of another Argon2id run. The cache
//! holds neither passwords nor reusable hashes: entries are SHA-256 over a random
//! per-process key, the stored hash and the password, so they are useless outside this
//! process, and a password change (a new stored hash) makes old entries unreachable.
//! Failed checks are never cached: each one costs the full Argon2id run (only checks
//! that overlap in time share one, and that only if they try the same password).

use crate::{Error, Result, Secret};
use argon2::password_hash::{
    Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng, rand_core::RngCore,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
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
    let fail = |e: &dyn std::fmt::Display| Error::Internal(format!("hashing password: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| fail(&e))?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut memory = pool().take(params.block_count()).map_err(|e| fail(&e))?;
    argon
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_bytes,
            &mut out,
            memory.blocks(),
        )
        .map_err(|e| fail(&e))?;
    drop(memory);
    phc(&params, &salt, &out)
}

/// A hash in the format and with the parameters of [`hash`] that no password matches:
/// checking a password against it costs exactly what a real check costs (the run is the
/// same; only the final comparison differs), which is what an unknown user's login is
/// checked against. Made without running Argon2: its output is random bytes, which no
/// password's hash equals but with chance 2^-256.
pub(crate) fn unmatchable_hash() -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    OsRng.fill_bytes(&mut out);
    phc(&Params::default(), &salt, &out)
}

/// The PHC string of an Argon2id (v19) hash.
fn phc(params: &Params, salt: &SaltString, out: &[u8]) -> Result<String> {
    let fail = |e: argon2::password_hash::Error| Error::Internal(format!("hashing password: {e}"));
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(fail)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out).map_err(fail)?),
    };
    Ok(hash.to_string())
}

/// Checks a password against a PHC string; false for a wrong password or a hash we
/// cannot read. Blocking: call it off the async threads.
pub(crate) fn verify(password: &Secret, phc: &str) -> bool {
    let secs = CACHE_SECS.load(Ordering::Relaxed);
    let ttl = Duration::from_secs(secs);
    let cache = cache();
    let key = cache.key(password, phc);
    if secs != 0 && cache.fresh(&key, ttl) {
        return true;
    }
    flights().run(key, || {
        // Looked at again now that this check leads: a run of the same check may have
        // finished (and been remembered) between the look above and taking the lead.
        if secs != 0 && cache.fresh(&key, ttl) {
            return true;
        }
        let ok = verify_argon2(password, phc);
        if ok && secs != 0 {
            // Before the flight ends, so that a check arriving after it finds this.
            cache.remember(key, ttl);
        }
        ok
    })
}

/// Successful checks: keyed digest -> when it was made.
struct AuthCache {
    secret: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

fn cache() -> &'static AuthCache {
    static CACHE: OnceLock<AuthCache> = OnceLock::new();
    CACHE.get_or_init(|| {
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

fn flights() -> &'static SingleFlight {
    static FLIGHTS: OnceLock<SingleFlight> = OnceLock::new();
    FLIGHTS.get_or_init(SingleFlight::default)
}

/// Checks in progress, by cache key, so that concurrent checks of the same password
/// against the same hash share one Argon2 run.
#[derive(Default)]
struct SingleFlight {
    running: Mutex<HashMap<[u8; 32], Arc<Flight>>>,
}

/// One check in progress: its answer once known, and how many wait for it.
#[derive(Default)]
struct Flight {
    state: Mutex<FlightState>,
    landed: Condvar,
}

#[derive(Default)]
struct FlightState {
    result: Option<bool>,
    waiting: usize,
}

impl SingleFlight {
    /// Runs `check` for `key`, unless a run for `key` is already in progress: then waits
    /// for that one and returns its answer.
    fn run(&self, key: [u8; 32], check: impl FnOnce() -> bool) -> bool {
        let flight = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(flight) = running.get(&key) {
                let flight = Arc::clone(flight);
                // Counted while `running` is held, so the leader cannot land unseen.
                flight
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .waiting += 1;
                drop(running);
                return flight.wait();
            }
            let flight = Arc::new(Flight::default());
            running.insert(key, Arc::clone(&flight));
            flight
        };
        let mut lead = Lead {
            flights: self,
            key,
            flight,
            result: false,
        };
        lead.result = check();
        lead.result
        // `lead` drops here: the answer is published and the flight ends.
    }
}

impl Flight {
    fn wait(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(result) = st.result {
                st.waiting -= 1;
                return result;
            }
            st = self.landed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The leading check of a flight. Dropping it publishes `result` and ends the flight,
/// also when the check panicked (then as a failure), so that no waiter waits forever.
struct Lead<'a> {
    flights: &'a SingleFlight,
    key: [u8; 32],
    flight: Arc<Flight>,
    result: bool,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut running = self
            .flights
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.remove(&self.key);
        drop(running);
        self.flight
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result = Some(self.result);
        self.flight.landed.notify_all();
    }
}

/// The full Argon2id check.
fn verify_argon2(password: &Secret, phc: &str) -> bool {
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
    let mut memory = match pool().take(blocks) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("no memory for a password check: {e}");
            return false;
        }
    };
    let ok = argon
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut out,
            memory.blocks(),
        )
        .is_ok();
    drop(memory);
    ok && constant_time_eq(&out, expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// `WorkMem::blocks` relies on these: a Block is 1 KiB of u64s, aligned to 64 bytes.
const _: () = assert!(size_of::<Block>() == Block::SIZE && Block::SIZE == 128 * 8);
const _: () = assert!(align_of::<Block>() <= 4096);

/// Argon2 working memory: an anonymous mapping of its own, unmapped when dropped.
struct WorkMem {
    map: memmap2::MmapMut,
    blocks: usize,
}

impl WorkMem {
    fn new(blocks: usize) -> std::io::Result<WorkMem> {
        let len = blocks
            .checked_mul(Block::SIZE)
            .filter(|&len| len > 0)
            .ok_or_else(|| std::io::Error::other("bad Argon2 memory size"))?;
        // Populated up front: one call instead of a page fault per 4 KiB as Argon2 fills it.
        let map = memmap2::MmapOptions::new().len(len).populate().map_anon()?;
        Ok(WorkMem { map, blocks })
    }

    /// The mapping as Argon2 blocks.
    #[allow(unsafe_code)]
    fn blocks(&mut self) -> &mut [Block] {
        let ptr = self.map.as_mut_ptr();
        debug_assert!(ptr.cast::<Block>().is_aligned());
        debug_assert!(self.map.len() >= self.blocks * Block::SIZE);
        // SAFETY: the mapping is `blocks * Block::SIZE` bytes long (checked in `new`),
        // readable and writable, and lives as long as `self`, which the returned slice
        // borrows mutably, so nothing else reaches it meanwhile. mmap returns page-aligned
        // memory, and a Block needs 64-byte alignment (asserted above to be at most a
        // page). A Block is `[u64; 128]` and nothing else (size asserted above), so any
        // bytes, and in particular the zeroes of a fresh anonymous mapping or what an
        // earlier run left, are a valid Block; Block has no drop glue.
        unsafe { std::slice::from_raw_parts_mut(ptr.cast::<Block>(), self.blocks) }
    }
}

/// Working memory for Argon2 runs, at most one run per core. Memory exists only while
/// runs need it: a buffer is kept after a run only to hand it to a run already waiting.
struct BlockPool {
    state: Mutex<PoolState>,
    returned: Condvar,
    max: usize,
}

#[derive(Default)]
struct PoolState {
    /// Buffers returned for waiting runs and not yet taken.
    free: Vec<WorkMem>,
    /// Buffers that exist (free or lent).
    made: usize,
    /// Runs waiting for a buffer.
    waiting: usize,
}

/// A borrowed buffer; handed to a waiting run, or unmapped, when dropped.
struct Lent<'a> {
    pool: &'a BlockPool,
    mem: Option<WorkMem>,
}

impl Lent<'_> {
    fn blocks(&mut self) -> &mut [Block] {
        match self.mem.as_mut() {
            Some(mem) => mem.blocks(),
            None => &mut [],
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(mem) = self.mem.take() else {
            return;
        };
        let mut st = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        // Only as many buffers kept as there are waiters not yet served: a buffer left
        // in `free` with nobody waiting would stay mapped until the next login.
        if st.waiting > st.free.len() {
            st.free.push(mem);
            drop(st);
            self.pool.returned.notify_one();
        } else {
            st.made -= 1;
            drop(st);
            drop(mem); // munmap, outside the lock
        }
    }
}

fn pool() -> &'static BlockPool {
    static POOL: OnceLock<BlockPool> = OnceLock::new();
    POOL.get_or_init(|| BlockPool::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

impl BlockPool {
    fn new(max: usize) -> BlockPool {
        BlockPool {
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
            max: max.max(1),
        }
    }

    /// Borrows a buffer of `blocks` blocks, waiting while `max` are lent.
    fn take(&self, blocks: usize) -> std::io::Result<Lent<'_>> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(mem) = st.free.pop() {
                drop(st);
                let mut lent = Lent {
                    pool: self,
                    mem: Some(mem),
                };
                if lent.mem.as_ref().is_some_and(|m| m.blocks < blocks) {
                    // Made for other parameters: map one of the right size in its place
                    // (if that fails, dropping `lent` gives the slot back).
                    lent.mem = Some(WorkMem::new(blocks)?);
                }
                return Ok(lent);
            }
            if st.made < self.max {
                st.made += 1;
                drop(st);
                return match WorkMem::new(blocks) {
                    Ok(mem) => Ok(Lent {
                        pool: self,
                        mem: Some(mem),
                    }),
                    Err(e) => {
                        self.give_back_slot();
                        Err(e)
                    }
                };
            }
            st.waiting += 1;
            st = self.returned.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
    }

    /// A slot counted in `made` whose buffer could not be mapped: free it for a waiter.
    fn give_back_slot(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).made -= 1;
        self.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

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
    fn our_hashes_verify_with_the_argon2_crate_directly() {
        use argon2::password_hash::PasswordVerifier;
        let h = hash(&Secret::new("pw")).unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        // Written as the argon2 crate writes its own (what earlier Wharf versions stored).
        let theirs = Argon2::default()
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        let head = |h: &str| h.rsplitn(3, '$').nth(2).unwrap().to_string();
        assert_eq!(head(&h), head(&theirs));
        assert_eq!(head(&h), "$argon2id$v=19$m=19456,t=2,p=1");
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"px", &parsed).is_err());
    }

    #[test]
    fn the_unmatchable_hash_costs_a_real_check_and_matches_nothing() {
        let real = hash(&Secret::new("pw")).unwrap();
        let dummy = unmatchable_hash().unwrap();
        let (r, d) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(&dummy).unwrap(),
        );
        // Same algorithm, version, parameters and sizes: the same Argon2 work.
        assert_eq!(r.algorithm, d.algorithm);
        assert_eq!(r.version, d.version);
        assert_eq!(r.params, d.params);
        assert_eq!(r.salt.unwrap().len(), d.salt.unwrap().len());
        assert_eq!(r.hash.unwrap().len(), d.hash.unwrap().len());
        assert_ne!(dummy, unmatchable_hash().unwrap(), "random each time");
        assert!(!verify(&Secret::new("pw"), &dummy));
        assert!(!verify(&Secret::new(""), &dummy));
    }

    #[test]
    fn concurrent_checks_of_the_same_key_run_once_and_share_the_answer() {
        use std::sync::atomic::AtomicUsize;
        let flights = &SingleFlight::default();
        let runs = &AtomicUsize::new(0);
        let key = [1u8; 32];
        let (answer, answered) = std::sync::mpsc::channel::<bool>();
        std::thread::scope(|s| {
            let leader = s.spawn(move || {
                flights.run(key, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    answered.recv().unwrap()
                })
            });
            while !flights.running.lock().unwrap().contains_key(&key) {
                std::thread::yield_now();
            }
            let followers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(move || {
                        flights.run(key, || {
                            runs.fetch_add(1, Ordering::SeqCst);
                            true
                        })
                    })
                })
                .collect();
            let flight = Arc::clone(&flights.running.lock().unwrap()[&key]);
            while flight.state.lock().unwrap().waiting < 4 {
                std::thread::yield_now();
            }
            // Another key does not wait for this flight.
            assert!(flights.run([2u8; 32], || true));
            // The leader's answer (a failure) is everyone's, though the followers'
            // own checks would have said true: they never ran.
            answer.send(false).unwrap();
            assert!(!leader.join().unwrap());
            for f in followers {
                assert!(!f.join().unwrap());
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.running.lock().unwrap().is_empty());
        // Once landed, the next check of the key runs again.
        assert!(flights.run(key, || true));
    }

    #[test]
    fn a_check_that_panics_fails_its_waiters_instead_of_hanging_them() {
        let flights = &SingleFlight::default();
        let key = [3u8; 32];
        let (go, gone) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let leader = s.spawn(move || {
                flights.run(key, || {
                    gone.recv().unwrap();
                    panic!("check failed hard")
                })
            });
            while !flights.running.lock().unwrap().contains_key(&key) {
                std::thread::yield_now();
            }
            let follower = s.spawn(|| flights.run(key, || true));
            let flight = Arc::clone(&flights.running.lock().unwrap()[&key]);
            while flight.state.lock().unwrap().waiting < 1 {
                std::thread::yield_now();
            }
            go.send(()).unwrap();
            assert!(leader.join().is_err());
            assert!(!follower.join().unwrap());
        });
        assert!(flights.running.lock().unwrap().is_empty());
    }

    #[test]
    fn buffers_go_to_waiting_runs_and_are_unmapped_when_none_waits() {
        let pool = BlockPool::new(2);
        let made = || pool.state.lock().unwrap().made;
        let free = || pool.state.lock().unwrap().free.len();
        let mut a = pool.take(8).unwrap();
        assert_eq!(a.blocks().len(), 8);
        assert!(
            a.blocks()
                .iter()
                .all(|b| b.as_ref().iter().all(|&w| w == 0))
        );
        a.blocks()[7].as_mut()[127] = 42;
        let b = pool.take(8).unwrap();
        assert_eq!(made(), 2);
        std::thread::scope(|s| {
            // A third run waits: two are lent and the cap is two.
            let waiter = s.spawn(|| pool.take(16).unwrap().blocks().len());
            while pool.state.lock().unwrap().waiting == 0 {
                std::thread::yield_now();
            }
            drop(a); // handed to the waiter, not unmapped
            // It needed more blocks than `a` had: it got a buffer of its size.
            assert_eq!(waiter.join().unwrap(), 16);
        });
        // The waiter's buffer, returned with nobody waiting, is gone; `b` is still lent.
        assert_eq!((made(), free()), (1, 0));
        drop(b);
        assert_eq!(
            (made(), free()),
            (0, 0),
            "no memory kept while no run needs it"
        );
        let mut c = pool.take(8).unwrap();
        assert_eq!(c.blocks().len(), 8);
        assert_eq!(made(), 1);
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
