//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), the
//! second factor every authenticator app speaks: HMAC-SHA1, 30-second
//! steps, 6 digits. Pure functions; storage and replay protection live in
//! [`super::second_factor`].

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per time step (RFC 6238's default; authenticator apps assume it).
pub const STEP_SECS: i64 = 30;
/// Digits per code (what apps show by default).
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either side of now: a phone a little
/// fast or slow, or a code typed as it rolled over, still works; each
/// extra step adds one more code an attacker could hit.
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of a new secret: 160 bits, RFC 4226's recommended length.
pub const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The time step `now_ms` falls in.
pub fn step_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_SECS)
}

/// RFC 4226 HOTP: the code for `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes.
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The 6-digit code for time step `step`, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step.max(0) as u64, DIGITS),
        width = DIGITS as usize
    )
}

/// Whether `input` looks like a TOTP code (digits only, spaces allowed, as
/// apps often show `123 456`).
pub fn looks_like_code(input: &str) -> bool {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The step whose code `input` is, among the steps within
/// [`DRIFT_STEPS`] of now and after `last_step` (the last one accepted:
/// each code is usable once). `None` if it matches none.
pub fn verify(secret: &[u8], input: &str, now_ms: i64, last_step: i64) -> Option<i64> {
    if !looks_like_code(input) {
        return None;
    }
    let code: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let now = step_at(now_ms);
    // Every candidate is computed, so the time taken does not say which
    // step matched.
    let mut found = None;
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        let expected = code_at(secret, step);
        if step > last_step && constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found.get_or_insert(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (how authenticator apps take secrets).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decode base32 (any case, spaces and padding ignored); `None` if it is not.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|&x| x == c.to_ascii_uppercase() as u8)?;
        buffer = (buffer << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads (from a QR code or
/// pasted): the account is `issuer:email`.
pub fn otpauth_uri(issuer: &str, email: &str, secret: &[u8]) -> String {
    let label = format!("{}:{}", percent(issuer), percent(email));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret),
        percent(issuer)
    )
}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the seed is the ASCII string
    /// "12345678901234567890", codes are 8 digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (unix_secs, expected) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let step = step_at(unix_secs * 1000);
            assert_eq!(hotp(seed, step as u64, 8), expected, "T = {unix_secs}");
        }
    }

    /// RFC 4226 appendix D: HOTP values for counters 0..9, 6 digits.
    #[test]
    fn rfc_4226_test_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_the_drift_and_only_after_the_last_step() {
        let seed = b"12345678901234567890";
        let now = 1_111_111_111_000;
        let step = step_at(now);
        let code = code_at(seed, step);
        assert_eq!(verify(seed, &code, now, 0), Some(step));
        // Spaces as apps show them are fine.
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(seed, &spaced, now, 0), Some(step));
        // One step either side still works; two do not.
        assert_eq!(
            verify(seed, &code_at(seed, step - 1), now, 0),
            Some(step - 1)
        );
        assert_eq!(
            verify(seed, &code_at(seed, step + 1), now, 0),
            Some(step + 1)
        );
        assert_eq!(verify(seed, &code_at(seed, step - 2), now, 0), None);
        assert_eq!(verify(seed, &code_at(seed, step + 2), now, 0), None);
        // Once a step was accepted, its code (and older ones) is spent.
        assert_eq!(verify(seed, &code, now, step), None);
        assert_eq!(verify(seed, &code_at(seed, step - 1), now, step - 1), None);
        // Not a code at all.
        assert_eq!(verify(seed, "12345", now, 0), None);
        assert_eq!(verify(seed, "abcdef", now, 0), None);
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let secret = new_secret();
        assert_eq!(base32_decode(&base32(&secret)).unwrap(), secret);
        assert_eq!(
            base32_decode("mzxw 6ytb oi======").unwrap(),
            b"foobar".to_vec()
        );
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("coophost", "ana@velo.coop", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/coophost:ana%40velo.coop?secret=MZXW6YTBOI&issuer=coophost\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
