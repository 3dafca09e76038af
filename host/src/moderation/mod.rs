//! Deactivation and appeal: no worker loses their work through an
//! automated system or without a reason, and every decision can be taken
//! to another person.
//!
//! - An automated system (a plugin through `coop:host/moderation`, or a
//!   service account through the API) can only **flag** a member
//!   ([`flags`]): the flag is recorded, the admins are told, nothing else
//!   changes.
//! - A **deactivation** (suspension, or removal from the coop) is decided
//!   by a person who is an admin of the coop, with a written reason; the
//!   worker is told in their inbox why, and how and until when to appeal
//!   ([`deactivation`]).
//! - The worker **appeals** within the coop's `appeal_days`; an admin who
//!   did not make the decision **reviews** it within `appeal_review_days`,
//!   upholding or overturning it; an unreviewed appeal becomes **overdue**
//!   through the scheduler, and everyone concerned is told ([`appeals`]).
//!
//! Every step is an entry in the decision log (`decisions` chain), with the
//! reasons and statements kept beside the chain as erasable personal
//! fields. This module holds the pure rules (who may decide or review,
//! what a reason must be); the submodules hold the storage.

pub mod appeals;
pub mod deactivation;
pub mod flags;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::Actor;

/// What the host answers an automated system that tries to suspend or
/// remove a member, or to decide anything else about a member's status.
pub const AUTOMATED_REFUSAL: &str = "an automated system can only flag a member; a human decides";

/// Fewest non-blank characters of a reason for a deactivation, a review or
/// a dismissal: enough that it has to say something.
pub const MIN_REASON_CHARS: usize = 10;
/// Longest reason, bytes.
pub const MAX_REASON_BYTES: usize = 2_000;
/// Longest appeal statement, bytes.
pub const MAX_STATEMENT_BYTES: usize = 10_000;
/// Shortest appeal period a coop may set, days.
pub const MIN_APPEAL_DAYS: u32 = 7;
/// The appeal period of a coop that set none, days.
pub const DEFAULT_APPEAL_DAYS: u32 = 30;
/// Longest appeal period, days (a year: beyond it a decision never settles).
pub const MAX_APPEAL_DAYS: u32 = 365;
/// The review deadline of a coop that set none, days.
pub const DEFAULT_REVIEW_DAYS: u32 = 14;
/// Longest review deadline, days: the EU Platform Work Directive
/// (2024/2831, art. 11) gives a platform two weeks to answer a request to
/// review a decision. A coop may be quicker, never slower.
pub const MAX_REVIEW_DAYS: u32 = 14;
/// Most flags one plugin call may raise.
pub const MAX_FLAGS_PER_CALL: usize = 20;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Check the appeal settings of a coop's governance rules.
pub fn check_appeal_rules(appeal_days: u32, review_days: u32) -> Result<()> {
    if !(MIN_APPEAL_DAYS..=MAX_APPEAL_DAYS).contains(&appeal_days) {
        return Err(Error::Invalid(format!(
            "appeal_days is {appeal_days}: a worker gets {MIN_APPEAL_DAYS} to {MAX_APPEAL_DAYS} days to appeal a suspension or removal"
        )));
    }
    if !(1..=MAX_REVIEW_DAYS).contains(&review_days) {
        return Err(Error::Invalid(format!(
            "appeal_review_days is {review_days}: an appeal is reviewed within 1 to {MAX_REVIEW_DAYS} days"
        )));
    }
    Ok(())
}

/// `text` trimmed, if it has at least `min_chars` non-blank characters and
/// at most `max_bytes` bytes; `what` names it in the error.
pub fn check_text(what: &str, text: &str, min_chars: usize, max_bytes: usize) -> Result<String> {
    let text = text.trim();
    let solid = text.chars().filter(|c| !c.is_whitespace()).count();
    if solid < min_chars {
        return Err(Error::Invalid(format!(
            "{what} must say why in at least {min_chars} characters (not counting spaces); got {solid}"
        )));
    }
    if text.len() > max_bytes {
        return Err(Error::Invalid(format!(
            "{what} is {} bytes; the most is {max_bytes}",
            text.len()
        )));
    }
    Ok(text.to_string())
}

/// A written reason for a decision about a member.
pub fn check_reason(text: &str) -> Result<String> {
    check_text("the reason", text, MIN_REASON_CHARS, MAX_REASON_BYTES)
}

/// The member id of `actor` if they are a person who is an admin of the
/// coop: the only ones who decide about a member's status. An automated
/// system (a service account) is told it can only flag.
pub fn human_admin(actor: &Actor, what: &str) -> Result<i64> {
    if actor.service_key.is_some() {
        return Err(Error::Forbidden(AUTOMATED_REFUSAL.into()));
    }
    let Some(me) = actor.member_id else {
        return Err(Error::Forbidden(format!(
            "to {what} you must be a person who is an admin of this coop; the host operator is not a member of it"
        )));
    };
    if !actor.has_role("admin") {
        return Err(Error::Forbidden(format!(
            "only an admin of this coop may {what}"
        )));
    }
    Ok(me)
}

/// The member id of `actor` if they may review an appeal against a
/// decision `decided_by` made about `member`: a person who is an admin and
/// neither made the decision nor is its subject.
pub fn reviewer(actor: &Actor, decided_by: i64, member: i64) -> Result<i64> {
    let me = human_admin(actor, "review an appeal")?;
    if me == decided_by {
        return Err(Error::Forbidden(
            "you made this decision: a different admin must review the appeal against it".into(),
        ));
    }
    if me == member {
        return Err(Error::Forbidden(
            "an appeal is reviewed by someone other than the member who appealed".into(),
        ));
    }
    Ok(me)
}

/// How a review ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The decision stands.
    Upheld,
    /// The decision is undone: the member gets back the status it replaced.
    Overturned,
}

impl Outcome {
    /// The stored name, also the appeal's final status.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Upheld => "upheld",
            Outcome::Overturned => "overturned",
        }
    }
}

/// `ms` as a date and time people read, e.g. `2026-09-21 14:05 UTC`.
pub fn utc(ms: i64) -> String {
    let (y, m, d) = crate::ledger::period::civil_from_days(ms.div_euclid(DAY_MS));
    let mins = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", mins / 60, mins % 60)
}

pub(crate) use crate::events::{admins_in, notify_in};

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(member: Option<i64>, key: Option<i64>, roles: &[&str]) -> Actor {
        Actor {
            coop_id: 1,
            member_id: member,
            service_key: key,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            college: None,
            operator: false,
        }
    }

    fn forbidden(r: Result<i64>) -> String {
        match r {
            Err(Error::Forbidden(m)) => m,
            other => panic!("expected 403, got {other:?}"),
        }
    }

    #[test]
    fn only_a_person_with_the_admin_role_decides() {
        assert_eq!(
            human_admin(&actor(Some(3), None, &["member", "admin"]), "x").unwrap(),
            3
        );
        // A service key with the admin role is still an automated system.
        assert_eq!(
            forbidden(human_admin(&actor(None, Some(9), &["admin"]), "x")),
            AUTOMATED_REFUSAL
        );
        assert!(
            forbidden(human_admin(&actor(Some(3), None, &["worker"]), "suspend")).contains("admin")
        );
        let operator = Actor {
            operator: true,
            ..actor(None, None, &[])
        };
        assert!(forbidden(human_admin(&operator, "x")).contains("operator"));
    }

    #[test]
    fn the_reviewer_is_another_admin() {
        let a = actor(Some(2), None, &["admin"]);
        assert!(forbidden(reviewer(&a, 2, 7)).contains("you made this decision"));
        assert_eq!(reviewer(&a, 3, 7).unwrap(), 2);
        assert_eq!(
            forbidden(reviewer(&actor(None, Some(1), &["admin"]), 3, 7)),
            AUTOMATED_REFUSAL
        );
    }

    #[test]
    fn a_reason_must_say_something() {
        assert!(matches!(check_reason("   "), Err(Error::Invalid(_))));
        assert!(matches!(
            check_reason("a b c d e f g h i"),
            Err(Error::Invalid(_))
        ));
        assert_eq!(
            check_reason("  late ten times  ").unwrap(),
            "late ten times"
        );
        assert!(matches!(
            check_reason(&"x".repeat(MAX_REASON_BYTES + 1)),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn appeal_settings_have_bounds() {
        check_appeal_rules(DEFAULT_APPEAL_DAYS, DEFAULT_REVIEW_DAYS).unwrap();
        check_appeal_rules(MIN_APPEAL_DAYS, 1).unwrap();
        assert!(check_appeal_rules(6, 14).is_err());
        assert!(check_appeal_rules(30, 0).is_err());
        assert!(check_appeal_rules(30, 15).is_err());
        assert!(check_appeal_rules(MAX_APPEAL_DAYS + 1, 14).is_err());
    }

    #[test]
    fn dates_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_790_000_000_000), "2026-09-21 14:13 UTC");
    }
}
