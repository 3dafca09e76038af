//! JSON <-> WIT round trips through a real component that echoes one value
//! of every WIT kind, and the errors bad JSON gets.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestHost};

const IFACE: &str = "coop:test-kinds/kinds";

fn check_echo(cases: &[(&str, Value, Value)], got: &[(StatusCode, Value)]) {
    for ((func, input, expected), (status, body)) in cases.iter().zip(got) {
        assert_eq!(*status, StatusCode::OK, "{func}({input}): {body}");
        assert_eq!(body["result"], *expected, "{func}({input})");
    }
}

#[tokio::test]
async fn every_value_kind_round_trips() {
    let host = TestHost::new(Backend::Sqlite).await;
    let coop = host.coop("kinds").await;
    host.install(&coop, "test-kinds").await;
    let profile = json!({"name": "Awa", "age": 31, "nickname": null, "home": {"x": -3, "y": 4},
                         "note": {"some": null}, "tags": ["courier", "night"]});
    // (function, argument, expected result): the expected value differs
    // from the argument only where the mapping writes a canonical form.
    let cases: Vec<(&str, Value, Value)> = vec![
        ("echo-bool", json!(true), json!(true)),
        ("echo-u8", json!(255), json!(255)),
        ("echo-s8", json!(-128), json!(-128)),
        ("echo-u16", json!(65535), json!(65535)),
        ("echo-s16", json!(-32768), json!(-32768)),
        ("echo-u32", json!(4294967295u64), json!(4294967295u64)),
        ("echo-s32", json!(-2147483648i64), json!(-2147483648i64)),
        (
            "echo-u64",
            json!("18446744073709551615"),
            json!("18446744073709551615"),
        ),
        ("echo-u64", json!(42), json!("42")),
        (
            "echo-s64",
            json!("-9223372036854775808"),
            json!("-9223372036854775808"),
        ),
        ("echo-f32", json!(1.5), json!(1.5)),
        ("echo-f64", json!("NaN"), json!("NaN")),
        ("echo-f64", json!("-Infinity"), json!("-Infinity")),
        ("echo-f64", json!(0.1), json!(0.1)),
        ("echo-char", json!("é"), json!("é")),
        ("echo-string", json!("vélo 🚲"), json!("vélo 🚲")),
        ("echo-list", json!([1, 2, 3]), json!([1, 2, 3])),
        ("echo-record", profile.clone(), profile),
        (
            "echo-tuple",
            json!([7, "seven", 7.5]),
            json!([7, "seven", 7.5]),
        ),
        (
            "echo-variant",
            json!({"tag": "rect", "value": {"width": 2.0, "height": 3.0}}),
            json!({"tag": "rect", "value": {"width": 2.0, "height": 3.0}}),
        ),
        (
            "echo-variant",
            json!({"tag": "circle", "value": 1.0}),
            json!({"tag": "circle", "value": 1.0}),
        ),
        ("echo-variant", json!("empty"), json!({"tag": "empty"})),
        ("echo-enum", json!("green"), json!("green")),
        ("echo-option", json!(null), json!(null)),
        ("echo-option", json!(5), json!(5)),
        ("echo-nested-option", json!(null), json!(null)),
        (
            "echo-nested-option",
            json!({"some": null}),
            json!({"some": null}),
        ),
        (
            "echo-nested-option",
            json!({"some": "x"}),
            json!({"some": "x"}),
        ),
        ("echo-result", json!({"ok": "fine"}), json!({"ok": "fine"})),
        ("echo-result-unit", json!({"ok": null}), json!({"ok": null})),
        (
            "echo-flags",
            json!(["read", "admin"]),
            json!(["read", "admin"]),
        ),
        ("echo-flags", json!([]), json!([])),
    ];
    let mut got = Vec::new();
    for (func, input, _) in &cases {
        got.push(
            host.call("kinds", None, IFACE, func, json!({"v": input}))
                .await,
        );
    }
    check_echo(&cases, &got);
    let (s, body) = host
        .call(
            "kinds",
            None,
            IFACE,
            "describe",
            json!({"a": 3, "b": "x", "c": [true, false]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["result"].as_str().unwrap().contains('3'), "{body}");
    host.finish().await;
}

#[tokio::test]
async fn bad_arguments_name_the_path() {
    let host = TestHost::new(Backend::Sqlite).await;
    let coop = host.coop("kinds").await;
    host.install(&coop, "test-kinds").await;
    let cases = [
        ("echo-u8", json!({"v": 256}), "v"),
        ("echo-u8", json!({"v": "1"}), "v"),
        ("echo-u64", json!({"v": 1.5}), "v"),
        ("echo-u64", json!({"v": "-1"}), "v"),
        ("echo-char", json!({"v": "ab"}), "v"),
        (
            "echo-record",
            json!({"v": {"name": "x", "age": 1, "tags": [], "home": {"x": "no", "y": 1}}}),
            "v.home.x",
        ),
        (
            "echo-record",
            json!({"v": {"name": "x", "age": 1, "tags": [], "surprise": 1}}),
            "v",
        ),
        ("echo-record", json!({"v": {"age": 1, "tags": []}}), "v"),
        ("echo-list", json!({"v": [1, "two"]}), "v[1]"),
        ("echo-enum", json!({"v": "purple"}), "v"),
        ("echo-variant", json!({"v": {"tag": "hexagon"}}), "v"),
        ("echo-flags", json!({"v": ["fly"]}), "v"),
        ("echo-tuple", json!({"v": [1, "x"]}), "v"),
        ("echo-bool", json!({}), "v"),
        ("echo-bool", json!({"v": true, "w": false}), "w"),
    ];
    for (func, args, path) in cases {
        let (s, body) = host.call("kinds", None, IFACE, func, args.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{func} {args}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(path),
            "{func} {args}: message {msg:?} should start with {path:?}"
        );
    }
    // A top-level err is a failed call (its writes are dropped): 422 with the
    // err value as detail when it is not coop:host's error.
    let (s, body) = host
        .call(
            "kinds",
            None,
            IFACE,
            "echo-result",
            json!({"v": {"err": 9}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["detail"], json!(9));
    let (s, body) = host
        .call("kinds", None, IFACE, "fail", json!({"msg": "nope"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A text err is the message, sent once.
    assert_eq!(body["error"]["message"], json!("nope"));
    assert!(body["error"].get("detail").is_none(), "{body}");
    host.finish().await;
}
