//! Misbehaving on purpose: every function but `read` writes first, then
//! fails in its own way. The host must keep none of those writes.

coophost_sdk::generate!({
    world: "misbehave-plugin",
    path: "wit",
});

use coophost_sdk::{Error, store};
use exports::coop::test_misbehave::misbehave::Guest;

struct Misbehave;

fn write(key: &str) -> Result<u64, Error> {
    store::set(key, b"ok", None)
}

impl Guest for Misbehave {
    fn write_then_ok(key: String) -> Result<u64, Error> {
        write(&key)
    }

    fn write_then_trap(key: String) -> Result<u64, Error> {
        write(&key)?;
        panic!("misbehaving on purpose after writing {key}");
    }

    fn write_then_spin(key: String) -> Result<u64, Error> {
        let v = write(&key)?;
        let mut x = v;
        loop {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    fn write_then_err(key: String) -> Result<u64, Error> {
        write(&key)?;
        Err(Error::invalid(format!("refusing after writing {key}")))
    }

    fn write_then_grow(key: String) -> Result<u64, Error> {
        let v = write(&key)?;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&hoard);
            if hoard.len() > 1 << 20 {
                return Ok(v);
            }
        }
    }

    fn read(key: String) -> Result<Option<String>, Error> {
        Ok(store::get(&key)?.map(|e| String::from_utf8_lossy(&e.value).into_owned()))
    }

    fn count_then_write(prefix: String, key: String, max: u32) -> Result<u32, Error> {
        let seen = store::scan(&prefix, None, 1000)?.len() as u32;
        if seen < max {
            store::set(&format!("{prefix}{key}"), b"1", None)?;
        }
        Ok(seen)
    }

    fn emit(topic: String, trap: bool) -> Result<(), Error> {
        coophost_sdk::events::emit(&topic, "{\"n\":1}", None)?;
        if trap {
            panic!("trap after emitting");
        }
        Ok(())
    }

    fn write_then_recurse(key: String) -> Result<u64, Error> {
        write(&key)?;
        Ok(recurse(std::hint::black_box(1)))
    }

    fn huge(bytes: u32) -> Result<String, Error> {
        Ok("x".repeat(bytes as usize))
    }

    fn write_then_log(key: String, lines: u32) -> Result<u64, Error> {
        let v = write(&key)?;
        let line = "y".repeat(1024);
        for _ in 0..lines {
            coophost_sdk::log::info(&line);
        }
        Ok(v)
    }

    fn write_then_read_many(key: String, n: u32) -> Result<u64, Error> {
        let v = write(&key)?;
        for i in 0..n {
            store::get(&format!("probe/{i}"))?;
        }
        Ok(v)
    }

    fn emit_many(n: u32) -> Result<(), Error> {
        for _ in 0..n {
            coophost_sdk::events::emit("storm", "{}", None)?;
        }
        Ok(())
    }

    fn my_shift() -> Result<Option<u64>, Error> {
        let me = coophost_sdk::identity::require_member("only members work shifts")?;
        Ok(coophost_sdk::shifts::current(&me)?.map(|s| s.on_shift_ms))
    }

    fn whoami() -> Result<Option<String>, Error> {
        Ok(coophost_sdk::identity::member_id())
    }

    fn set_timer(at: u64, payload: String) -> Result<u64, Error> {
        coophost_sdk::timers::set(at, &payload)
    }

    fn cancel_timer(id: u64) -> Result<bool, Error> {
        coophost_sdk::timers::cancel(id)
    }

    fn timer_storm(n: u32) -> Result<u32, Error> {
        store::set("storm-started", b"yes", None)?;
        for i in 0..n {
            coophost_sdk::timers::set(u64::MAX / 2, &format!("storm {i}"))?;
        }
        Ok(n)
    }

    fn college_size(college: String) -> Result<u32, Error> {
        let active = Some(coophost_sdk::membership::MemberStatus::Active);
        Ok(coophost_sdk::membership::in_college(&college, active)?.len() as u32)
    }

    fn pay(order: String, cents: i64, trap: bool) -> Result<(), Error> {
        coophost_sdk::payments::charge(&order, &eur(cents))?;
        if trap {
            panic!("trap after charging {order}");
        }
        Ok(())
    }

    fn refund_order(order: String, cents: i64) -> Result<(), Error> {
        coophost_sdk::payments::refund(&order, &eur(cents))
    }

    fn settle_order(order: String, worker: String, cents: i64) -> Result<i64, Error> {
        Ok(coophost_sdk::payments::settle(&order, &worker, &eur(cents))?.worker)
    }

    fn my_balance() -> Result<i64, Error> {
        Ok(coophost_sdk::payments::balance("EUR")?.amount)
    }

    fn write_big(key: String, bytes: u32) -> Result<u64, Error> {
        store::set(&key, &vec![7u8; bytes as usize], None)
    }

    fn flag_member(member: String, reason: String, fail: bool) -> Result<u64, Error> {
        let id = coophost_sdk::moderation::flag(&member, &reason)?;
        if fail {
            return Err(Error::invalid(format!("refusing after raising flag {id}")));
        }
        Ok(id)
    }

    fn write_for(key: String, member: String) -> Result<u64, Error> {
        store::set(&key, b"ok", Some(&member))
    }
}

impl exports::coop::host::subscriber::Guest for Misbehave {
    /// Keep each event received under `event/<id>`; refuse topic
    /// `test.fail` so tests can check retries and skipping.
    fn on_event(event: exports::coop::host::subscriber::Event) -> Result<(), Error> {
        if event.topic == "test.fail" {
            return Err(Error::invalid("this handler refuses test.fail"));
        }
        let text = format!("{}|{}|{}", event.source, event.topic, event.payload);
        store::set(&format!("event/{:020}", event.id), text.as_bytes(), None)?;
        Ok(())
    }
}

impl exports::coop::host::timer_handler::Guest for Misbehave {
    /// Keep each timer that fired under `timer/<id>`; refuse payload
    /// `fail` so tests can check retries.
    fn on_timer(id: u64, payload: String) -> Result<(), Error> {
        if payload == "fail" {
            return Err(Error::invalid("this timer refuses to run"));
        }
        store::set(&format!("timer/{id:020}"), payload.as_bytes(), None)?;
        Ok(())
    }
}

impl exports::coop::host::hooks::Guest for Misbehave {
    /// Record where the data came from; refuse when told to, so tests can
    /// check that a failed migration aborts the upgrade.
    fn migrate(from_version: String) -> Result<(), Error> {
        store::set("migrated-from", from_version.as_bytes(), None)?;
        if store::get("fail-migration")?.is_some() {
            return Err(Error::invalid("refusing to migrate: fail-migration is set"));
        }
        Ok(())
    }
}

fn eur(cents: i64) -> coophost_sdk::Money {
    coophost_sdk::Money {
        amount: cents,
        currency: "EUR".into(),
    }
}

/// Recursion the optimiser cannot turn into a loop; it stops only at an
/// absurd depth, which the stack never reaches.
#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    let mut frame = [n; 64];
    frame[(n % 64) as usize] = recurse(std::hint::black_box(n + 1));
    std::hint::black_box(&frame).iter().sum()
}

export!(Misbehave);
