//! The JSON-LD contexts a coophost credential may use, compiled in: a
//! verifier never fetches a context (no network, no tracking of who checks
//! what), and refuses a credential that names one it does not hold or uses
//! a term no bundled context defines. See `contexts/README.md`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

/// The Verifiable Credentials v2 base context, first in every credential.
pub const VC_V2: &str = "https://www.w3.org/ns/credentials/v2";
/// coophost's terms for work credentials.
pub const WORK_V1: &str = "https://w3id.org/coophost/credentials/work/v1";

/// One bundled context.
pub struct Bundled {
    /// The URL credentials name it by.
    pub url: &'static str,
    /// Its file name, also its path under `/.well-known/coophost/contexts/`.
    pub file: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// Every context a credential may name.
pub const BUNDLED: &[Bundled] = &[
    Bundled {
        url: VC_V2,
        file: "credentials-v2.jsonld",
        text: include_str!("contexts/credentials-v2.jsonld"),
    },
    Bundled {
        url: WORK_V1,
        file: "work-v1.jsonld",
        text: include_str!("contexts/work-v1.jsonld"),
    },
];

/// The bundled context stored as `file`.
pub fn by_file(file: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.file == file)
}

/// Every term the bundled contexts define, at any depth (type-scoped
/// contexts included).
fn terms() -> &'static BTreeSet<String> {
    static TERMS: OnceLock<BTreeSet<String>> = OnceLock::new();
    TERMS.get_or_init(|| {
        let mut out = BTreeSet::new();
        for b in BUNDLED {
            let v: Value = serde_json::from_str(b.text).expect("bundled contexts are valid JSON");
            collect_terms(&v, &mut out);
        }
        out
    })
}

fn collect_terms(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                if k == "@context"
                    && let Value::Object(defs) = item
                {
                    out.extend(defs.keys().filter(|t| !t.starts_with('@')).cloned());
                }
                collect_terms(item, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_terms(i, out)),
        _ => {}
    }
}

/// Check `credential`'s `@context` (the VC v2 context first, then only
/// bundled ones) and that every property it uses is a defined term.
pub fn check(credential: &Value) -> Result<(), String> {
    let contexts: Vec<&Value> = match credential.get("@context") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => return Err("the credential has no @context".into()),
    };
    if contexts.first().and_then(|c| c.as_str()) != Some(VC_V2) {
        return Err(format!("the credential's first @context is not {VC_V2}"));
    }
    for c in &contexts {
        let Some(url) = c.as_str() else {
            return Err(
                "an embedded @context object is not accepted: name a bundled context".into(),
            );
        };
        if !BUNDLED.iter().any(|b| b.url == url) {
            return Err(format!(
                "unknown @context {url}: this host verifies credentials that use only its bundled contexts ({})",
                BUNDLED.iter().map(|b| b.url).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let mut undefined = BTreeSet::new();
    undefined_terms(credential, terms(), &mut undefined);
    if !undefined.is_empty() {
        return Err(format!(
            "the credential uses terms no bundled context defines: {}",
            undefined.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

fn undefined_terms(v: &Value, known: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                if k == "@context" {
                    continue;
                }
                if !k.starts_with('@') && !known.contains(k) {
                    out.insert(k.clone());
                }
                undefined_terms(item, known, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| undefined_terms(i, known, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bundled_contexts_define_the_terms_credentials_use() {
        for t in [
            "credentialSubject",
            "validUntil",
            "issuer",
            "proofValue",
            "cryptosuite",
            "workHistory",
            "onShiftMinutes",
            "membershipStatus",
        ] {
            assert!(terms().contains(t), "{t}");
        }
        assert!(by_file("work-v1.jsonld").is_some());
        assert!(by_file("../Cargo.toml").is_none());
    }

    #[test]
    fn unknown_contexts_and_undefined_terms_are_refused() {
        let ok = json!({"@context": [VC_V2, WORK_V1], "type": ["VerifiableCredential"],
            "credentialSubject": {"id": "urn:uuid:1", "workHistory": {"months": [{"month": "2026-01"}]}}});
        check(&ok).unwrap();
        let mut v = ok.clone();
        v["credentialSubject"]["workHistory"]["months"][0]["bonus"] = json!(1);
        assert!(check(&v).unwrap_err().contains("bonus"));
        let mut v = ok.clone();
        v["@context"] = json!([VC_V2, "https://evil.example/ctx"]);
        assert!(check(&v).unwrap_err().contains("unknown @context"));
        let mut v = ok.clone();
        v["@context"] = json!([WORK_V1, VC_V2]);
        assert!(check(&v).is_err());
        let mut v = ok;
        v["@context"] = json!([VC_V2, {"bonus": "https://evil.example/bonus"}]);
        assert!(check(&v).is_err());
    }
}
