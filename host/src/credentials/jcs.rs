//! The JSON Canonicalization Scheme (RFC 8785): the one byte string a JSON
//! value signs as, whoever serialised it and in whatever key order.
//!
//! `chain::canonical_json` is not RFC 8785 and must not be used for
//! signatures other implementations check: it sorts keys by UTF-8 bytes
//! (RFC 8785 sorts by UTF-16 code units, which differs above U+FFFF) and
//! prints floats the Rust way (`1e21`, `1.0`) instead of ECMAScript's
//! `Number.prototype.toString` (`1e+21`, `1`).

use serde_json::{Number, Value};

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// An integer outside ±2^53 that a double cannot hold exactly (RFC 8785
    /// works on I-JSON, where every number is an IEEE 754 double).
    #[error(
        "number {0} is not exactly representable as a double (RFC 8785 numbers are IEEE 754 doubles)"
    )]
    Inexact(String),
    /// NaN or an infinity (cannot come from parsed JSON, but can be built).
    #[error("number {0} has no JSON form")]
    NotFinite(String),
}

/// Largest integer magnitude a double holds exactly: 2^53.
const MAX_EXACT: u64 = 1 << 53;

/// `value` canonicalised per RFC 8785, as UTF-8 text.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // RFC 8785 3.2.3: property names compared as arrays of UTF-16
            // code units.
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// RFC 8785 3.2.2.2: only `"` and `\` and the controls below U+0020 are
/// escaped, the controls with their short forms where JSON has one, else
/// `\u00xx` in lower case. Everything else is written as itself.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn number(n: &Number) -> Result<String, JcsError> {
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_EXACT {
            return Err(JcsError::Inexact(n.to_string()));
        }
        return Ok(i.to_string());
    }
    if let Some(u) = n.as_u64() {
        if u > MAX_EXACT {
            return Err(JcsError::Inexact(n.to_string()));
        }
        return Ok(u.to_string());
    }
    let f = n
        .as_f64()
        .ok_or_else(|| JcsError::NotFinite(n.to_string()))?;
    es_number(f)
}

/// A double as ECMAScript's `Number.prototype.toString` writes it (ECMA-262
/// 7.1.12.1), which RFC 8785 3.2.2.3 requires: the shortest digits that
/// round-trip, placed by the magnitude rules below.
pub fn es_number(f: f64) -> Result<String, JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NotFinite(f.to_string()));
    }
    if f == 0.0 {
        // Both zeros are "0".
        return Ok("0".into());
    }
    // Rust's `{:e}` without a precision prints the shortest digit string
    // that reads back as the same double: `d[.ddd]e[-]x`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = even_on_tie(f.abs(), digits, exp);
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let k = digits.len() as i32;
    // ECMA-262: the value is 0.digits × 10^n.
    let n = exp + 1;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    Ok(out)
}

/// ECMA-262 breaks a tie between two shortest digit strings equally close
/// to the value toward the even one; Rust's shortest formatting does not
/// (0x43143ff3c1cb0959 is exactly ...206.25: ES writes `.2`, Rust `.3`).
/// A tie means the exact value's digits past the shortest ones are `5`
/// then zeros; then take the even neighbour if it reads back the same.
fn even_on_tie(f: f64, digits: String, exp: &str) -> String {
    // Every double's exact decimal expansion has at most 767 significant
    // digits, and fixed-precision formatting is exact.
    let exact = format!("{f:.800e}");
    let (mantissa, exact_exp) = exact.split_once('e').expect("{:e} has an exponent");
    if exact_exp != exp {
        return digits;
    }
    let all: String = mantissa.chars().filter(|c| *c != '.').collect();
    let (head, tail) = all.split_at(digits.len());
    if !(tail.starts_with('5') && tail[1..].bytes().all(|b| b == b'0')) {
        return digits;
    }
    // The value is halfway between `head` and `head + 1` (last digit).
    let mut up = head.as_bytes().to_vec();
    let mut i = up.len();
    loop {
        if i == 0 {
            return digits;
        }
        i -= 1;
        if up[i] == b'9' {
            up[i] = b'0';
        } else {
            up[i] += 1;
            break;
        }
    }
    let up = String::from_utf8(up).expect("ascii digits");
    let even = if head.as_bytes()[head.len() - 1] % 2 == 0 {
        head.to_string()
    } else {
        up
    };
    let reads_back = format!("{}.{}e{exp}", &even[..1], &even[1..])
        .parse::<f64>()
        .is_ok_and(|v| v == f);
    if reads_back { even } else { digits }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: &str, expected: &str) {
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(canonicalize(&value).unwrap(), expected, "input {input}");
    }

    #[test]
    fn rfc8785_appendix_b_numbers() {
        let samples: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in samples {
            assert_eq!(
                es_number(f64::from_bits(*bits)).unwrap(),
                *expected,
                "{bits:016x}"
            );
        }
        for bits in [0x7fffffffffffffff_u64, 0x7ff0000000000000] {
            assert!(es_number(f64::from_bits(bits)).is_err(), "{bits:016x}");
        }
    }

    #[test]
    fn rfc8785_values_example() {
        check(
            r#"{"numbers": [1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
            "{\"literals\":[null,true,false],\"numbers\":[1e+30,4.5,0.002,1e-27],\
             \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}",
        );
    }

    #[test]
    fn rfc8785_sorting_example_uses_utf16_order() {
        // U+1F602 sorts before U+FB33 in UTF-16 (a surrogate, 0xD83D, is
        // below 0xFB33) but after it in UTF-8 bytes.
        check(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\u000a": "Newline",
                "1": "One", "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley",
                "\u00f6": "Latin Small Letter O With Diaeresis",
                "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}"#,
            "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\
             \"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        );
    }

    #[test]
    fn structures_arrays_and_unicode_are_left_unnormalised() {
        check(
            r#"{"1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty",
                "a": { }, "111": [ {"e": "yes","E": "no" } ], "A": { }}"#,
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#,
        );
        check(
            r#"[56, {"d": true, "10": null, "1": [ ]}]"#,
            r#"[56,{"1":[],"10":null,"d":true}]"#,
        );
        // No Unicode normalisation: A + combining ring stays two code points.
        check(
            r#"{"Unnormalized Unicode":"A\u030a"}"#,
            "{\"Unnormalized Unicode\":\"A\u{30a}\"}",
        );
        check(
            r#"{"peach": 1, "péché": 2, "pêche": 3, "sin": 4}"#,
            r#"{"peach":1,"péché":2,"pêche":3,"sin":4}"#,
        );
    }

    #[test]
    fn controls_escape_in_lower_case_and_large_integers_are_refused() {
        assert_eq!(
            canonicalize(&json!("\u{1}\u{1f}\u{8}\u{c}\t")).unwrap(),
            r#""\u0001\u001f\b\f\t""#
        );
        assert_eq!(
            canonicalize(&json!(9_007_199_254_740_992_u64)).unwrap(),
            "9007199254740992"
        );
        assert!(matches!(
            canonicalize(&json!({"a": [9_007_199_254_740_993_u64]})),
            Err(JcsError::Inexact(_))
        ));
        assert!(canonicalize(&json!(-9_007_199_254_740_993_i64)).is_err());
    }
}
