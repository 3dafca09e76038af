//! The web interface's languages: French and English catalogs, chosen from
//! the browser's `Accept-Language` or the visitor's switcher.
//!
//! Catalogs are TOML files, one per language and page area, in
//! `host/src/web/i18n/<lang>/<area>.toml`; a key `title` in `work.toml` is
//! looked up as `work.title`. Texts may hold `{name}` placeholders filled by
//! [`Lang::f`]. Tests check that both languages have the same keys and that
//! every key the code uses exists. A translator adding a language copies
//! one directory and adds one line to [`Lang`].

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Français.
    Fr,
    /// English.
    En,
}

/// Every language, in the order the switcher shows them.
pub const LANGS: &[Lang] = &[Lang::Fr, Lang::En];

/// The language used when the browser asks for none we have.
pub const DEFAULT_LANG: Lang = Lang::Fr;

macro_rules! areas {
    ($($area:literal),* $(,)?) => {
        /// Page areas with a catalog file each.
        pub const AREAS: &[&str] = &[$($area),*];
        const FR_FILES: &[(&str, &str)] = &[$(($area, include_str!(concat!("i18n/fr/", $area, ".toml")))),*];
        const EN_FILES: &[(&str, &str)] = &[$(($area, include_str!(concat!("i18n/en/", $area, ".toml")))),*];
    };
}

areas!(
    "common",
    "auth",
    "inbox",
    "pay",
    "governance",
    "plugins",
    "delivery",
    "generic",
    "mydata",
    "public",
    "account",
);

type Catalog = HashMap<String, String>;

fn load(files: &[(&str, &str)]) -> Catalog {
    let mut out = HashMap::new();
    for (area, text) in files {
        let table: toml::Table = toml::from_str(text)
            .unwrap_or_else(|e| panic!("catalog {area}.toml is not valid TOML: {e}"));
        for (k, v) in table {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("catalog {area}.toml: {k} is not a string"));
            out.insert(format!("{area}.{k}"), v.to_string());
        }
    }
    out
}

fn catalog(lang: Lang) -> &'static Catalog {
    static FR: OnceLock<Catalog> = OnceLock::new();
    static EN: OnceLock<Catalog> = OnceLock::new();
    match lang {
        Lang::Fr => FR.get_or_init(|| load(FR_FILES)),
        Lang::En => EN.get_or_init(|| load(EN_FILES)),
    }
}

impl Lang {
    /// The BCP 47 code, for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The language's own name, for the switcher.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }

    /// The language of a code such as `fr`, `fr-CA` or `EN`.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header: the highest
    /// weighted one we have, ties in the header's order; French otherwise.
    pub fn negotiate(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if let Some(l) = Lang::from_code(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l).unwrap_or(DEFAULT_LANG)
    }

    /// The text for `key`; the key itself when missing (tests make sure
    /// none is).
    pub fn t(self, key: &str) -> &'static str {
        match catalog(self).get(key) {
            Some(s) => s.as_str(),
            None => {
                tracing::warn!(key, lang = self.code(), "missing catalog text");
                catalog(self)
                    .get("common.missing-text")
                    .map(String::as_str)
                    .unwrap_or("?")
            }
        }
    }

    /// The text for `key` with each `{name}` replaced by its value.
    pub fn f(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// An amount in minor units as the language writes money:
    /// `1 234,50 €` in French, `€1,234.50` in English.
    pub fn money(self, minor: i64, currency: &str) -> String {
        let neg = minor < 0;
        let abs = minor.unsigned_abs();
        let (units, cents) = (abs / 100, abs % 100);
        let digits = units.to_string();
        let sep = match self {
            Lang::Fr => '\u{202f}',
            Lang::En => ',',
        };
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(sep);
            }
            grouped.push(c);
        }
        let symbol = match currency {
            "EUR" => "€",
            "GBP" => "£",
            "USD" => "$",
            other => other,
        };
        let sign = if neg { "-" } else { "" };
        match self {
            Lang::Fr => format!("{sign}{grouped},{cents:02}\u{a0}{symbol}"),
            Lang::En => format!("{sign}{symbol}{grouped}.{cents:02}"),
        }
    }

    /// A moment (ms since the epoch) as `2026-11-28 14:05 UTC`.
    pub fn datetime(self, ms: i64) -> String {
        let (y, m, d, hh, mm) = civil(ms);
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
    }

    /// A day (ms since the epoch) as `28/11/2026` (fr) or `2026-11-28` (en).
    pub fn date(self, ms: i64) -> String {
        let (y, m, d, _, _) = civil(ms);
        match self {
            Lang::Fr => format!("{d:02}/{m:02}/{y:04}"),
            Lang::En => format!("{y:04}-{m:02}-{d:02}"),
        }
    }
}

/// Year, month, day, hour and minute (UTC) of a moment in ms.
pub fn civil(ms: i64) -> (i64, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let fr = catalog(Lang::Fr);
        let en = catalog(Lang::En);
        let mut only_fr: Vec<_> = fr.keys().filter(|k| !en.contains_key(*k)).collect();
        let mut only_en: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        only_fr.sort();
        only_en.sort();
        assert!(
            only_fr.is_empty() && only_en.is_empty(),
            "only in French: {only_fr:?}; only in English: {only_en:?}"
        );
        for (k, v) in fr {
            assert!(!v.trim().is_empty(), "fr {k} is empty");
        }
        for (k, v) in en {
            assert!(!v.trim().is_empty(), "en {k} is empty");
        }
    }

    /// Every `.t("area.key")` and `.f("area.key"` in the web code names a
    /// text that exists, and placeholders match between languages.
    #[test]
    fn every_key_the_pages_use_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut used = vec![];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("i18n.rs") {
                    let src = std::fs::read_to_string(&p).unwrap();
                    for pat in ["t(\"", "f(\""] {
                        for (i, _) in src.match_indices(pat) {
                            let rest = &src[i + pat.len()..];
                            let key = &rest[..rest.find('"').unwrap()];
                            if key.contains('.') && !key.contains(' ') {
                                used.push((p.display().to_string(), key.to_string()));
                            }
                        }
                    }
                }
            }
        }
        assert!(used.len() > 20, "found only {} keys in use", used.len());
        let fr = catalog(Lang::Fr);
        let missing: Vec<_> = used.iter().filter(|(_, k)| !fr.contains_key(k)).collect();
        assert!(
            missing.is_empty(),
            "texts used but not in the catalogs: {missing:?}"
        );
        let holes = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                .collect();
            v.sort();
            v
        };
        for (k, v) in catalog(Lang::En) {
            assert_eq!(holes(v), holes(&fr[k]), "placeholders of {k} differ");
        }
    }

    #[test]
    fn accept_language_picks_the_best_language_we_have() {
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9,fr;q=0.8"), Lang::En);
        assert_eq!(Lang::negotiate("de-DE,fr;q=0.5,en;q=0.7"), Lang::En);
        assert_eq!(Lang::negotiate("fr-CA"), Lang::Fr);
        assert_eq!(Lang::negotiate("de, es"), Lang::Fr);
        assert_eq!(Lang::negotiate("en;q=0, fr;q=0.1"), Lang::Fr);
        assert_eq!(Lang::negotiate(""), Lang::Fr);
    }

    #[test]
    fn money_and_dates_are_written_the_local_way() {
        assert_eq!(Lang::Fr.money(123_450, "EUR"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(Lang::En.money(123_450, "EUR"), "€1,234.50");
        assert_eq!(Lang::En.money(-5, "EUR"), "-€0.05");
        assert_eq!(
            Lang::Fr.money(70_000_000, "EUR"),
            "700\u{202f}000,00\u{a0}€"
        );
        // 2026-11-28T14:05:00Z
        let ms = 1_795_874_700_000;
        assert_eq!(Lang::En.datetime(ms), "2026-11-28 14:05 UTC");
        assert_eq!(Lang::Fr.date(ms), "28/11/2026");
        assert_eq!(civil(0), (1970, 1, 1, 0, 0));
        assert_eq!(civil(951_782_400_000), (2000, 2, 29, 0, 0));
    }
}
