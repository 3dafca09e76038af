//! Password hashing and random tokens.
//!
//! argon2 is slow on purpose (tens of milliseconds of CPU and 19 MiB per
//! hash), so it runs on tokio's blocking pool: on the async workers, a few
//! logins at once would stall every other request on the host. At most
//! [`argon2_permits`] hashes run at once: the blocking pool grows to 512
//! threads, and a thousand parallel logins at 19 MiB each would take
//! gigabytes; past the permits, attempts wait their turn in a queue that
//! costs a few bytes each.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to hash password: {e}")))
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// How many argon2 hashes may run at once: one per core (at least two),
/// which keeps every core busy and memory at a few tens of MiB.
pub fn argon2_permits() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

fn argon2_gate() -> &'static tokio::sync::Semaphore {
    static GATE: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    GATE.get_or_init(|| tokio::sync::Semaphore::new(argon2_permits()))
}

/// Hashes running now, and the most ever seen at once in this process.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
static PEAK_IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// The most argon2 hashes that ran at once in this process (never above
/// [`argon2_permits`]).
pub fn argon2_peak() -> u64 {
    PEAK_IN_FLIGHT.load(Ordering::SeqCst)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = argon2_gate()
        .acquire()
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing gate closed: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
        let out = f();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        out
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing task failed: {e}")))
}

/// Hash a password with argon2id and a random salt (PHC string format), on
/// the blocking pool.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches a stored PHC hash, checked on the blocking
/// pool. A malformed hash never matches.
pub async fn verify_password(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_string(), phc.to_string());
    blocking(move || verify_now(&password, &phc))
        .await
        .unwrap_or(false)
}

/// The hash checked when there is no real one to check (an unknown email,
/// an erased account), so the answer takes as long as for a real account.
/// Made once per process with the same parameters as every real hash.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_now(&new_token("dummy")).expect("argon2 hashes a fresh random password")
    })
}

/// How many times the dummy hash was verified (for the tests that check
/// unknown emails take the same path as known ones).
static DUMMY_VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// Whether `password` matches `stored`; when there is no stored hash, or it
/// is not an argon2 hash (an erased account), the dummy hash is verified
/// instead and the answer is no, so the time taken does not tell which.
pub async fn verify_password_or_dummy(password: &str, stored: Option<String>) -> bool {
    let password = password.to_string();
    blocking(move || match stored {
        Some(phc) if PasswordHash::new(&phc).is_ok() => verify_now(&password, &phc),
        _ => {
            DUMMY_VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
            let _ = verify_now(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// How many dummy verifications ran in this process.
pub fn dummy_verifications() -> u64 {
    DUMMY_VERIFICATIONS.load(Ordering::Relaxed)
}

/// A new random credential: `prefix_` + 32 random bytes, hex.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// The stored form of a token: SHA-256, hex. Tokens are high-entropy, so an
/// unsalted fast hash suffices and allows lookup by hash.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_round_trip() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h).await);
        assert!(!verify_password("wrong horse battery", &h).await);
        assert!(!verify_password("x", "not a hash").await);
    }

    #[tokio::test]
    async fn no_stored_hash_verifies_the_dummy_and_never_matches() {
        let real = hash_password("correct horse battery").await.unwrap();
        let before = dummy_verifications();
        assert!(verify_password_or_dummy("correct horse battery", Some(real.clone())).await);
        assert!(!verify_password_or_dummy("wrong horse battery", Some(real)).await);
        // Tests run in parallel: other tests may add to the count too.
        let after_real = dummy_verifications();
        assert!(!verify_password_or_dummy("correct horse battery", None).await);
        assert!(dummy_verifications() > after_real.max(before));
        // An erased account's '!' is no hash: the dummy is verified.
        let before = dummy_verifications();
        assert!(!verify_password_or_dummy("!", Some("!".into())).await);
        assert!(dummy_verifications() > before);
        // The dummy has the parameters of every real hash.
        let dummy = PasswordHash::new(dummy_hash()).unwrap();
        let real = hash_password("x").await.unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.params, real.params);
    }

    /// Whether another task got the (only) async worker while `work` ran:
    /// true when argon2 runs on the blocking pool, false when it holds the
    /// worker until it is done.
    async fn worker_stays_free<F: std::future::Future>(work: F) -> bool {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        work.await;
        ran.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn argon2_runs_off_the_async_worker() {
        let h = hash_password("warm the dummy up").await.unwrap();
        let _ = verify_password_or_dummy("x", None).await;
        assert!(worker_stays_free(hash_password("correct horse battery")).await);
        assert!(worker_stays_free(verify_password("correct horse battery", &h)).await);
        assert!(worker_stays_free(verify_password_or_dummy("x", Some(h.clone()))).await);
        assert!(worker_stays_free(verify_password_or_dummy("x", None)).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_the_permits() {
        let h = hash_password("correct horse battery").await.unwrap();
        let tries: Vec<_> = (0..6 * argon2_permits())
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { verify_password(&format!("guess {i}"), &h).await })
            })
            .collect();
        for t in tries {
            assert!(!t.await.unwrap());
        }
        let peak = argon2_peak();
        assert!(peak >= 1 && peak <= argon2_permits() as u64, "{peak}");
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token("cht");
        let b = new_token("cht");
        assert_ne!(a, b);
        assert!(a.starts_with("cht_") && a.len() == 4 + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
