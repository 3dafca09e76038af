//! Bank identifiers checked at entry: IBANs (ISO 13616, mod-97 and the
//! length for each SEPA country) and BICs (ISO 9362 format).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an IBAN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    /// Something other than letters, digits and spaces.
    #[error("iban contains {0:?}: use only letters A-Z, digits and spaces")]
    BadCharacters(char),
    /// Not even a country code and check digits.
    #[error("iban is too short: it starts with a two-letter country code and two check digits")]
    TooShort,
    /// The first two characters are not a SEPA country.
    #[error("iban country {0:?} is not a SEPA country: check the first two letters")]
    UnknownCountry(String),
    /// The length does not match the country's.
    #[error(
        "iban for {country} must have {expected} characters, this one has {found}: check for a missing or extra character"
    )]
    WrongLength {
        /// The country code.
        country: String,
        /// The length IBANs of that country have.
        expected: usize,
        /// The length given (spaces removed).
        found: usize,
    },
    /// The check digits do not match (mod-97 is not 1).
    #[error("iban checksum is wrong: a character is probably mistyped")]
    BadChecksum,
}

/// Why a BIC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid bic {0:?}: expected 8 or 11 characters, 4 letters or digits for the bank, 2 letters for the country, 2 for the location, optionally 3 for the branch"
)]
pub struct BicError(pub String);

/// IBAN lengths of the countries in the SEPA scheme (EPC list, with
/// Albania, Moldova, Montenegro and North Macedonia added in 2024-2025).
/// French overseas departments, Åland, Guernsey, Jersey and the Isle of Man
/// use the IBANs of FR, FI and GB.
const SEPA_IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AL", 28),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("VA", 22),
];

/// A checked IBAN in electronic form (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iban(String);

impl Iban {
    /// Parse an IBAN as people type it: spaces are ignored and lower case
    /// is accepted, then country length and mod-97 are checked.
    pub fn parse(input: &str) -> Result<Iban, IbanError> {
        let mut iban = String::with_capacity(input.len());
        for c in input.chars() {
            match c {
                ' ' => {}
                c if c.is_ascii_alphanumeric() => iban.push(c.to_ascii_uppercase()),
                c => return Err(IbanError::BadCharacters(c)),
            }
        }
        let bytes = iban.as_bytes();
        if bytes.len() < 4 {
            return Err(IbanError::TooShort);
        }
        let country = &iban[..2];
        if !bytes[..2].iter().all(u8::is_ascii_uppercase) {
            return Err(IbanError::UnknownCountry(country.to_string()));
        }
        if !bytes[2..4].iter().all(u8::is_ascii_digit) {
            return Err(IbanError::BadChecksum);
        }
        let expected = SEPA_IBAN_LENGTHS
            .iter()
            .find(|(c, _)| *c == country)
            .map(|(_, len)| *len)
            .ok_or_else(|| IbanError::UnknownCountry(country.to_string()))?;
        if iban.len() != expected {
            return Err(IbanError::WrongLength {
                country: country.to_string(),
                expected,
                found: iban.len(),
            });
        }
        if mod97(&iban) != 1 {
            return Err(IbanError::BadChecksum);
        }
        Ok(Iban(iban))
    }

    /// The electronic form, e.g. `FR1420041010050500013M02606`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    /// The printed form in groups of four, e.g. `FR14 2004 1010 ...`.
    pub fn grouped(&self) -> String {
        let chunks: Vec<&str> = self
            .0
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        chunks.join(" ")
    }
}

/// ISO 7064 mod 97-10 of an IBAN: move the first four characters to the
/// end, letters become 10..35, and reduce digit by digit so nothing
/// overflows.
fn mod97(iban: &str) -> u32 {
    let rearranged = iban[4..].bytes().chain(iban[..4].bytes());
    let mut remainder = 0u32;
    for b in rearranged {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Iban {
    type Error = IbanError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Iban::parse(&s)
    }
}

impl From<Iban> for String {
    fn from(i: Iban) -> String {
        i.0
    }
}

/// A BIC (ISO 9362) in the format the SEPA schema accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bic(String);

impl Bic {
    /// Parse `AAAABBCC` or `AAAABBCCDDD` (case-insensitive, spaces
    /// ignored): 4 letters or digits, a 2-letter country, 2 letters or
    /// digits for the location, optionally 3 for the branch.
    pub fn parse(input: &str) -> Result<Bic, BicError> {
        let bic: String = input
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let b = bic.as_bytes();
        let alnum = |s: &[u8]| {
            s.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        let ok = (b.len() == 8 || b.len() == 11)
            && alnum(&b[..4])
            && b[4..6].iter().all(u8::is_ascii_uppercase)
            && alnum(&b[6..]);
        if ok {
            Ok(Bic(bic))
        } else {
            Err(BicError(input.to_string()))
        }
    }

    /// The BIC, e.g. `BNPAFRPPXXX`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Bic {
    type Error = BicError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Bic::parse(&s)
    }
}

impl From<Bic> for String {
    fn from(b: Bic) -> String {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ibans() {
        for (input, electronic) in [
            (
                "FR14 2004 1010 0505 0001 3M02 606",
                "FR1420041010050500013M02606",
            ),
            ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
            ("gb82 west 1234 5698 7654 32", "GB82WEST12345698765432"),
            ("BE71 0961 2345 6769", "BE71096123456769"),
            ("NL91ABNA0417164300", "NL91ABNA0417164300"),
        ] {
            let iban = Iban::parse(input).unwrap();
            assert_eq!(iban.as_str(), electronic);
        }
        let iban = Iban::parse("FR1420041010050500013M02606").unwrap();
        assert_eq!(iban.grouped(), "FR14 2004 1010 0505 0001 3M02 606");
        assert_eq!(iban.country(), "FR");
    }

    #[test]
    fn invalid_ibans_say_why() {
        let cases = [
            (
                "FR14 2004 1010 0505 0001 3M02 607",
                "iban checksum is wrong: a character is probably mistyped",
            ),
            (
                "FR14 2004 1010 0505 0001 3M02 60",
                "iban for FR must have 27 characters, this one has 26: check for a missing or extra character",
            ),
            (
                "FR14-2004",
                "iban contains '-': use only letters A-Z, digits and spaces",
            ),
            (
                "US12 3456 7890",
                "iban country \"US\" is not a SEPA country: check the first two letters",
            ),
            (
                "FR1",
                "iban is too short: it starts with a two-letter country code and two check digits",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(
                Iban::parse(input).unwrap_err().to_string(),
                message,
                "{input}"
            );
        }
        assert_eq!(
            Iban::parse("FRXX20041010050500013M02606"),
            Err(IbanError::BadChecksum)
        );
        assert_eq!(
            Iban::parse("DE89 3704 0044 0532 0130 01"),
            Err(IbanError::BadChecksum)
        );
        assert!(serde_json::from_str::<Iban>("\"DE00370400440532013000\"").is_err());
    }

    #[test]
    fn bics() {
        assert_eq!(Bic::parse("BNPAFRPP").unwrap().as_str(), "BNPAFRPP");
        assert_eq!(
            Bic::parse("bnpa fr pp xxx").unwrap().as_str(),
            "BNPAFRPPXXX"
        );
        assert_eq!(Bic::parse("CCBPFRPPMTG").unwrap().as_str(), "CCBPFRPPMTG");
        for bad in [
            "",
            "BNPAFRP",
            "BNPAF1PP",
            "BNPAFRPPXX",
            "BNPA_RPP",
            "BNPAFRPPXXXX",
        ] {
            assert!(Bic::parse(bad).is_err(), "{bad}");
        }
    }
}
