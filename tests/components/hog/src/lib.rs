//! Hogging on purpose: big writes, big scans and huge errors, so tests can
//! check the host bounds what one call (and all calls together) make it
//! hold.

coophost_sdk::generate!({
    world: "hog-plugin",
    path: "wit",
});

use coophost_sdk::{Error, store};
use exports::coop::test_hog::hog::Guest;

struct Hog;

impl Guest for Hog {
    fn fill(prefix: String, count: u32, bytes: u32) -> Result<u32, Error> {
        let value = vec![7u8; bytes as usize];
        for i in 0..count {
            store::set(&format!("{prefix}{i:06}"), &value, None)?;
        }
        Ok(count)
    }

    fn fill_then_spin(prefix: String, count: u32, bytes: u32) -> Result<u32, Error> {
        let n = Self::fill(prefix, count, bytes)?;
        let mut x = u64::from(n);
        loop {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    fn scan_all(prefix: String) -> Result<u64, Error> {
        let mut after: Option<String> = None;
        let mut total = 0u64;
        loop {
            let page = store::scan(&prefix, after.as_deref(), 1000)?;
            let Some(last) = page.last() else {
                return Ok(total);
            };
            after = Some(last.key.clone());
            total += page.iter().map(|e| e.value.len() as u64).sum::<u64>();
        }
    }

    fn huge_err(bytes: u32) -> Result<u32, Error> {
        Err(Error::invalid("e".repeat(bytes as usize)))
    }

    fn read_then_emit(n: u32) -> Result<(), Error> {
        for i in 0..n {
            store::get(&format!("probe/{i}"))?;
        }
        coophost_sdk::events::emit("hog.read", "{}", None)
    }
}

export!(Hog);
