//! Counting votes: a pure function from the vote rules, the electorate and
//! the recorded ballots to a published [`Tally`]. No I/O, no clock, no
//! database, no floating point; the same inputs always give the same tally,
//! whatever order the ballots arrive in.
//!
//! # The rules, as published to members
//!
//! Shares are written in basis points (bp): 10000 bp is 100%, 5000 bp is
//! 50%, 6666 bp is 66.66%. Every decision is taken with exact whole-number
//! and fraction arithmetic; nothing is rounded before the decision. The
//! shares printed in a tally are rounded down to a whole basis point, for
//! reading only.
//!
//! **Ballots.** Each member has at most one ballot. The choices are yes,
//! no and abstain; in a consent decision they are consent (yes or abstain)
//! and object. A member with two ballots makes the whole tally an error
//! rather than a guess about which one counts.
//!
//! **Who counts.** The electorate is the members who are active when the
//! vote closes. Only an active member can cast (or change) a ballot, so
//! every ballot on record was cast while its member was active. A ballot
//! is judged when it is cast: if its member later leaves, is suspended or
//! is removed before the close, the ballot still counts, and so does its
//! member, in `eligible` and in the college the ballot names. So `cast`
//! never exceeds `eligible` (turnout is at most 100%), and nobody can
//! change a vote already cast by deactivating its voter before the close
//! (a suspension may be overturned on appeal; a decision cannot be).
//!
//! **Quorum.** Every ballot counts toward the quorum: yes, no, abstain and
//! object. With `eligible` members entitled to vote and `cast` ballots, the
//! quorum is met when `cast × 10000 ≥ quorum_bp × eligible`. A proposal
//! that misses the quorum fails, whatever the votes say. Abstentions count
//! toward the quorum only: never for, never against.
//!
//! **One member, one vote** (`one-member-one-vote`). The proposal passes
//! when the quorum is met, at least one yes or no vote was cast, and
//! `yes × 10000 > threshold_bp × (yes + no)`: the yes share must be strictly
//! more than the threshold. With a 50% threshold a tie fails. With a
//! 66.66% threshold (6666 bp), 2 yes to 1 no passes (20000 > 19998) and
//! 1 yes to 1 no fails.
//!
//! **College-weighted** (`college-weighted`). Members belong to colleges
//! (for example workers, users and supporters), each with a weight `w`.
//! Every ballot must name a college of the electorate. A college *counts*
//! when at least one yes or no vote was cast in it; its yes share is then
//! `yes / (yes + no)`. The score is
//!
//! ```text
//! score = sum over counted colleges of (w × yes share) / W
//! ```
//!
//! where `W` depends on the rule for a college that cast no yes or no
//! vote (an *empty* college):
//!
//! - `exclude` (the default): the empty college is left out. `W` is the sum
//!   of the counted colleges' weights, so their weights are rescaled to
//!   make up 100% between them.
//! - `counts-as-no`: the empty college keeps its full weight and adds 0 to
//!   the score. `W` is the sum of all the colleges' weights.
//!
//! The proposal passes when the quorum is met, at least one college counts,
//! and the score is strictly more than the threshold, `score × 10000 >
//! threshold_bp`, compared exactly as fractions. Example with workers 50%
//! (3 yes, 1 no: share 0.75), users 30% (1 yes, 3 no: share 0.25) and
//! supporters 20% (no yes or no vote): under `exclude` the score is
//! (0.5 × 0.75 + 0.3 × 0.25) / 0.8 = 0.5625, which passes a 50%
//! threshold; under `counts-as-no` it is 0.45 / 1.0 = 0.45, which fails.
//! Each college's tally shows its effective weight (`w × 10000 / W`) and
//! its contribution to the score, both rounded down, so the printed
//! contributions may add up to a little less than the printed score.
//!
//! **Consent** (`consent`). Yes means consent, and so does abstain; a plain
//! no is not a choice. Any member may object, and an objection must say
//! why. The proposal passes when the quorum is met and nobody objected.
//! The threshold is not used.
//!
//! **Order.** The tally does not depend on the order of the ballots:
//! objections are listed by member id and colleges in the electorate's
//! order.
//!
//! # Limits
//!
//! The weighted score is an exact fraction held in 128-bit integers. Its
//! denominator is the least common multiple of the counted colleges'
//! `yes + no` counts (after reducing each share), which fits unless there
//! are many large colleges with unrelated vote counts (beyond about
//! 10^37). In that case the tally is refused with
//! [`TallyError::TooPreciseToCompare`] rather than rounded.

use serde::{Deserialize, Serialize};

/// 100% in basis points; every share and weight in this module is out of
/// this.
pub const WHOLE_BP: u32 = 10_000;

/// A member's choice on a ballot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// For the proposal; under consent, consent.
    Yes,
    /// Against the proposal; not a choice under consent.
    No,
    /// Counts toward the quorum only; under consent, consent.
    Abstain,
    /// Consent only: blocks the proposal, and needs a reason.
    Object,
}

/// One member's recorded vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The member who voted.
    pub member_id: i64,
    /// The member's college when they voted; required by a college-weighted
    /// vote, ignored by the other methods.
    pub college: Option<String>,
    /// What they chose.
    pub choice: Choice,
    /// Why; required for an objection, optional otherwise.
    pub reason: String,
}

/// How the ballots decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every member's vote weighs the same.
    OneMemberOneVote,
    /// Each college's yes share, weighted by the college's weight.
    CollegeWeighted,
    /// Passes unless someone objects, with a reason.
    Consent,
}

/// What a college with no yes or no vote does in a college-weighted vote.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyCollege {
    /// Its weight is left out and the counted colleges' weights are
    /// rescaled to their sum.
    #[default]
    Exclude,
    /// It adds 0 to the score with its full weight.
    CountsAsNo,
}

/// The vote rules of a proposal, fixed when it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRules {
    /// How the ballots decide.
    pub method: Method,
    /// Share of the eligible members who must cast a ballot, basis points.
    pub quorum_bp: u32,
    /// The yes share (or weighted score) must be strictly more than this,
    /// basis points; not used by consent.
    pub threshold_bp: u32,
    /// College-weighted votes only: what a college with no yes or no vote
    /// does. Defaults to [`EmptyCollege::Exclude`].
    #[serde(default)]
    pub empty_college: EmptyCollege,
}

impl VoteRules {
    /// Check that the quorum and the threshold are at most 10000 bp (100%).
    pub fn validate(&self) -> Result<(), TallyError> {
        if self.quorum_bp > WHOLE_BP {
            return Err(TallyError::QuorumOutOfRange(self.quorum_bp));
        }
        if self.threshold_bp > WHOLE_BP {
            return Err(TallyError::ThresholdOutOfRange(self.threshold_bp));
        }
        Ok(())
    }
}

/// A college of the electorate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct College {
    /// Its name, as ballots carry it, e.g. `workers`.
    pub name: String,
    /// Its weight in a college-weighted vote, basis points.
    pub weight_bp: u32,
    /// Members of this college entitled to vote (shown in the tally).
    pub eligible: u32,
}

/// Who may vote on a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Electorate {
    /// Members entitled to vote; the quorum is a share of this.
    pub eligible: u32,
    /// The colleges, in the order the tally lists them; used only by a
    /// college-weighted vote.
    pub colleges: Vec<College>,
    /// The ids of the members counted in `eligible` (the active members
    /// at the close), when known. A ballot of any other member was cast
    /// while they were active: the tally counts them too (see "Who
    /// counts" above). `None`: every ballot's member is already counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<i64>>,
}

impl Electorate {
    /// This electorate plus the voters it does not list (members who cast
    /// their ballot while active and are no longer active), each in the
    /// college their ballot names.
    fn with_earlier_voters(&self, ballots: &[&Ballot]) -> Electorate {
        let mut e = self.clone();
        let Some(members) = &self.members else {
            return e;
        };
        let listed: std::collections::BTreeSet<i64> = members.iter().copied().collect();
        for b in ballots.iter().filter(|b| !listed.contains(&b.member_id)) {
            e.eligible = e.eligible.saturating_add(1);
            if let Some(c) = e
                .colleges
                .iter_mut()
                .find(|c| Some(c.name.as_str()) == b.college.as_deref())
            {
                c.eligible = c.eligible.saturating_add(1);
            }
        }
        e
    }
}

/// Why ballots cannot be accepted or counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TallyError {
    /// The quorum is above 100%.
    #[error("quorum_bp is {0} but must be at most 10000 (100%)")]
    QuorumOutOfRange(u32),
    /// The threshold is above 100%.
    #[error("threshold_bp is {0} but must be at most 10000 (100%)")]
    ThresholdOutOfRange(u32),
    /// An objection outside a consent decision.
    #[error("objections are only for consent decisions: vote yes, no or abstain")]
    ObjectionOutsideConsent,
    /// An objection with an empty reason.
    #[error("an objection needs a reason: say what you object to and what would have to change")]
    ObjectionWithoutReason,
    /// A plain no in a consent decision.
    #[error(
        "under consent, object with a reason or consent (yes or abstain): a plain no is not a choice"
    )]
    NoUnderConsent,
    /// A recorded ballot that is not valid under the method.
    #[error("ballot of member {member_id} is invalid: {problem}")]
    InvalidBallot {
        /// The member whose ballot it is.
        member_id: i64,
        /// What is wrong with it.
        problem: Box<TallyError>,
    },
    /// A member with more than one ballot.
    #[error("member {member_id} has more than one ballot: keep only their last one")]
    DuplicateBallot {
        /// The member.
        member_id: i64,
    },
    /// More ballots than a tally can count.
    #[error("{cast} ballots cannot be counted: at most 4294967295 ballots fit in a tally")]
    TooManyBallots {
        /// How many ballots were given.
        cast: usize,
    },
    /// Two colleges of the electorate with the same name.
    #[error("college \"{name}\" appears twice in the electorate: college names must be unique")]
    DuplicateCollege {
        /// The repeated name.
        name: String,
    },
    /// A college-weighted ballot that names no college.
    #[error(
        "ballot of member {member_id} has no college: a college-weighted vote needs every voter's college"
    )]
    BallotWithoutCollege {
        /// The member.
        member_id: i64,
    },
    /// A college-weighted ballot naming a college the electorate lacks.
    #[error(
        "ballot of member {member_id} names college \"{college}\", which is not in the electorate (colleges: {known})"
    )]
    UnknownCollege {
        /// The member.
        member_id: i64,
        /// The college the ballot names.
        college: String,
        /// The electorate's colleges, comma-separated.
        known: String,
    },
    /// The exact weighted score does not fit in 128-bit arithmetic.
    #[error(
        "the college-weighted score is too fine-grained to compute exactly: the colleges' yes and no counts are too large and too unrelated"
    )]
    TooPreciseToCompare,
}

/// Check one ballot's choice and reason under `method`, before it is
/// recorded: an objection only under consent and only with a reason, and
/// no plain no under consent.
pub fn validate_ballot(method: &Method, choice: &Choice, reason: &str) -> Result<(), TallyError> {
    match (method, choice) {
        (Method::Consent, Choice::Object) if reason.trim().is_empty() => {
            Err(TallyError::ObjectionWithoutReason)
        }
        (Method::Consent, Choice::No) => Err(TallyError::NoUnderConsent),
        (Method::OneMemberOneVote | Method::CollegeWeighted, Choice::Object) => {
            Err(TallyError::ObjectionOutsideConsent)
        }
        _ => Ok(()),
    }
}

/// An objection, published with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// Who objected.
    pub member_id: i64,
    /// Why, as they wrote it.
    pub reason: String,
}

/// One college's part of a college-weighted tally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollegeTally {
    /// The college.
    pub name: String,
    /// Its weight from the electorate, basis points.
    pub weight_bp: u32,
    /// Its share of `W`, the weight the score is divided by, basis points
    /// rounded down: rescaled under `exclude`, 0 when it is left out.
    pub effective_weight_bp: u32,
    /// Members of the college entitled to vote.
    pub eligible: u32,
    /// Yes votes cast in it.
    pub yes: u32,
    /// No votes cast in it.
    pub no: u32,
    /// Abstentions cast in it.
    pub abstain: u32,
    /// Whether at least one yes or no vote was cast in it, so that its yes
    /// share entered the score.
    pub counted: bool,
    /// `yes / (yes + no)`, basis points rounded down; none when it did not
    /// count.
    pub yes_share_bp: Option<u32>,
    /// What it added to the score, basis points rounded down.
    pub contribution_bp: u32,
}

/// The published result of a vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// How the ballots decided.
    pub method: Method,
    /// Members entitled to vote.
    pub eligible: u32,
    /// Ballots counted, whatever their choice.
    pub cast: u32,
    /// Yes votes (consents, under consent).
    pub yes: u32,
    /// No votes.
    pub no: u32,
    /// Abstentions.
    pub abstain: u32,
    /// Objections with their reasons, by member id.
    pub objections: Vec<Objection>,
    /// The quorum, basis points of `eligible`.
    pub quorum_bp: u32,
    /// Whether the quorum was met.
    pub quorum_met: bool,
    /// The threshold, basis points.
    pub threshold_bp: u32,
    /// The yes share (the weighted score for a college-weighted vote),
    /// basis points rounded down; none when no yes or no vote counted, and
    /// always none under consent.
    pub score_bp: Option<u32>,
    /// Each college's part, in the electorate's order; empty unless the vote
    /// is college-weighted.
    pub colleges: Vec<CollegeTally>,
    /// Whether the proposal passed.
    pub passed: bool,
    /// Why it passed or failed, in one sentence with the numbers.
    pub explanation: String,
}

/// Yes, no and abstain counts of a group of ballots.
#[derive(Clone, Copy, Default)]
struct Counts {
    yes: u32,
    no: u32,
    abstain: u32,
}

impl Counts {
    /// Yes and abstain count under consent too; an objection is counted
    /// as a ballot but listed separately.
    fn add(&mut self, choice: &Choice) {
        match choice {
            Choice::Yes => self.yes += 1,
            Choice::No => self.no += 1,
            Choice::Abstain => self.abstain += 1,
            Choice::Object => {}
        }
    }

    fn decided(&self) -> u32 {
        self.yes + self.no
    }
}

/// Count `ballots` under `rules` for `electorate`.
///
/// Refuses invalid rules, a member with two ballots, a ballot that
/// [`validate_ballot`] refuses, and, for a college-weighted vote, a ballot
/// without a college of the electorate. See the module documentation for
/// the rules.
pub fn tally(
    rules: &VoteRules,
    electorate: &Electorate,
    ballots: &[Ballot],
) -> Result<Tally, TallyError> {
    rules.validate()?;
    // Sorting first makes both the result and the first error reported
    // independent of the order the ballots came in.
    let mut sorted: Vec<&Ballot> = ballots.iter().collect();
    sorted.sort_by_key(|b| b.member_id);
    if let Some(pair) = sorted.windows(2).find(|p| p[0].member_id == p[1].member_id) {
        return Err(TallyError::DuplicateBallot {
            member_id: pair[0].member_id,
        });
    }
    for b in &sorted {
        validate_ballot(&rules.method, &b.choice, &b.reason).map_err(|problem| {
            TallyError::InvalidBallot {
                member_id: b.member_id,
                problem: Box::new(problem),
            }
        })?;
    }
    let cast = u32::try_from(sorted.len())
        .map_err(|_| TallyError::TooManyBallots { cast: sorted.len() })?;
    let electorate = &electorate.with_earlier_voters(&sorted);
    let mut totals = Counts::default();
    for b in &sorted {
        totals.add(&b.choice);
    }
    let objections: Vec<Objection> = sorted
        .iter()
        .filter(|b| b.choice == Choice::Object)
        .map(|b| Objection {
            member_id: b.member_id,
            reason: b.reason.clone(),
        })
        .collect();
    let quorum_met = i128::from(cast) * i128::from(WHOLE_BP)
        >= i128::from(rules.quorum_bp) * i128::from(electorate.eligible);
    let turnout = format!(
        "{cast} of {} members voted, {} needed",
        electorate.eligible,
        percent(rules.quorum_bp)
    );

    let (votes_carry, score_bp, colleges, detail) = match rules.method {
        Method::OneMemberOneVote => {
            let (carry, score, detail) = one_member_one_vote(rules.threshold_bp, totals);
            (carry, score, Vec::new(), detail)
        }
        Method::Consent => {
            let carry = objections.is_empty();
            let detail = if carry {
                "passed by consent: nobody objected".to_string()
            } else {
                format!(
                    "failed: {} objected, and a consent decision passes only without objections",
                    members_list(&objections)
                )
            };
            (carry, None, Vec::new(), detail)
        }
        Method::CollegeWeighted => {
            let w = college_weighted(rules, electorate, &sorted)?;
            (w.carry, w.score_bp, w.colleges, w.detail)
        }
    };
    let passed = quorum_met && votes_carry;
    let explanation = if quorum_met {
        format!("{detail}; {turnout} for quorum")
    } else {
        format!("quorum not reached: {turnout}")
    };
    Ok(Tally {
        method: rules.method,
        eligible: electorate.eligible,
        cast,
        yes: totals.yes,
        no: totals.no,
        abstain: totals.abstain,
        objections,
        quorum_bp: rules.quorum_bp,
        quorum_met,
        threshold_bp: rules.threshold_bp,
        score_bp,
        colleges,
        passed,
        explanation,
    })
}

/// Whether the votes carry under one member one vote (quorum aside), the
/// yes share, and the explanation of that part.
fn one_member_one_vote(threshold_bp: u32, totals: Counts) -> (bool, Option<u32>, String) {
    let decided = totals.decided();
    if decided == 0 {
        return (
            false,
            None,
            "failed: no yes or no votes were cast".to_string(),
        );
    }
    let top = i128::from(totals.yes) * i128::from(WHOLE_BP);
    let bottom = i128::from(decided);
    let carry = top > i128::from(threshold_bp) * bottom;
    let score = floor_bp(top, bottom);
    let detail = format!(
        "{}: {} yes to {} no is a yes share of {}, {} the {} needed",
        if carry { "passed" } else { "failed" },
        totals.yes,
        totals.no,
        shown(score, top % bottom == 0),
        if carry { "more than" } else { "not more than" },
        percent(threshold_bp),
    );
    (carry, Some(score), detail)
}

/// The college-weighted part of a tally.
struct Weighted {
    carry: bool,
    score_bp: Option<u32>,
    colleges: Vec<CollegeTally>,
    detail: String,
}

fn college_weighted(
    rules: &VoteRules,
    electorate: &Electorate,
    sorted: &[&Ballot],
) -> Result<Weighted, TallyError> {
    let colleges = &electorate.colleges;
    for (i, c) in colleges.iter().enumerate() {
        if colleges[..i].iter().any(|earlier| earlier.name == c.name) {
            return Err(TallyError::DuplicateCollege {
                name: c.name.clone(),
            });
        }
    }
    let mut per = vec![Counts::default(); colleges.len()];
    for b in sorted {
        let name = b
            .college
            .as_deref()
            .ok_or(TallyError::BallotWithoutCollege {
                member_id: b.member_id,
            })?;
        let i = colleges
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| TallyError::UnknownCollege {
                member_id: b.member_id,
                college: name.to_string(),
                known: colleges
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        per[i].add(&b.choice);
    }

    let counts_as_no = rules.empty_college == EmptyCollege::CountsAsNo;
    let counted = per.iter().filter(|c| c.decided() > 0).count();
    // W: the weight the score is divided by.
    let weight_sum: i128 = colleges
        .iter()
        .zip(&per)
        .filter(|(_, n)| n.decided() > 0 || counts_as_no)
        .map(|(c, _)| i128::from(c.weight_bp))
        .sum();
    let whole = i128::from(WHOLE_BP);

    // 10000 × Σ w·y/(y+n), exactly; the score in bp is this divided by W.
    let mut sum = ExactSum::default();
    let mut tallies = Vec::with_capacity(colleges.len());
    for (c, n) in colleges.iter().zip(&per) {
        let decided = i128::from(n.decided());
        let weight = i128::from(c.weight_bp);
        let top = whole * weight * i128::from(n.yes);
        let in_weight = n.decided() > 0 || counts_as_no;
        if n.decided() > 0 {
            sum.add(top, decided)
                .ok_or(TallyError::TooPreciseToCompare)?;
        }
        tallies.push(CollegeTally {
            name: c.name.clone(),
            weight_bp: c.weight_bp,
            effective_weight_bp: if in_weight && weight_sum > 0 {
                floor_bp(whole * weight, weight_sum)
            } else {
                0
            },
            eligible: c.eligible,
            yes: n.yes,
            no: n.no,
            abstain: n.abstain,
            counted: n.decided() > 0,
            yes_share_bp: (n.decided() > 0).then(|| floor_bp(whole * i128::from(n.yes), decided)),
            contribution_bp: if n.decided() > 0 && weight_sum > 0 {
                floor_bp(top, decided * weight_sum)
            } else {
                0
            },
        });
    }

    if counted == 0 || weight_sum == 0 {
        let why = if counted == 0 {
            "failed: no college cast a yes or no vote"
        } else {
            "failed: only colleges weighing 0 cast yes or no votes"
        };
        return Ok(Weighted {
            carry: false,
            score_bp: None,
            colleges: tallies,
            detail: why.to_string(),
        });
    }

    // score > threshold  <=>  sum / W > t  <=>  sum > t × W; sum's
    // fraction part is below 1, so floor(sum / W) = floor(whole part / W).
    let bar = i128::from(rules.threshold_bp) * weight_sum;
    let carry = sum.whole > bar || (sum.whole == bar && sum.num > 0);
    let score = floor_bp(sum.whole, weight_sum);
    let exact = sum.num == 0 && sum.whole % weight_sum == 0;
    let scope = if counted == colleges.len() {
        format!("all {counted} colleges cast yes or no votes")
    } else {
        format!(
            "{counted} of {} colleges cast yes or no votes and those without any {}",
            colleges.len(),
            if counts_as_no {
                "count as no"
            } else {
                "are left out"
            }
        )
    };
    let detail = format!(
        "{}: the college-weighted yes share is {}, {} the {} needed; {scope}",
        if carry { "passed" } else { "failed" },
        shown(score, exact),
        if carry { "more than" } else { "not more than" },
        percent(rules.threshold_bp),
    );
    Ok(Weighted {
        carry,
        score_bp: Some(score),
        colleges: tallies,
        detail,
    })
}

/// An exact sum of non-negative fractions, kept as a whole part plus a
/// fraction `num / den` below 1, so that only the denominator grows.
struct ExactSum {
    whole: i128,
    num: i128,
    den: i128,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            whole: 0,
            num: 0,
            den: 1,
        }
    }
}

impl ExactSum {
    /// Add `top / bottom` (`top >= 0`, `bottom > 0`); none on overflow.
    fn add(&mut self, top: i128, bottom: i128) -> Option<()> {
        self.whole = self.whole.checked_add(top / bottom)?;
        let (rest, bottom) = reduce(top % bottom, bottom);
        if rest == 0 {
            return Some(());
        }
        let g = gcd(self.den, bottom);
        let den = (self.den / g).checked_mul(bottom)?;
        let mut num = self
            .num
            .checked_mul(bottom / g)?
            .checked_add(rest.checked_mul(self.den / g)?)?;
        // Both parts were below 1, so the sum is below 2.
        if num >= den {
            num -= den;
            self.whole = self.whole.checked_add(1)?;
        }
        (self.num, self.den) = reduce(num, den);
        Some(())
    }
}

/// `num / den` in lowest terms (`den > 0`); 0 becomes `0 / 1`.
fn reduce(num: i128, den: i128) -> (i128, i128) {
    let g = gcd(num, den);
    (num / g, den / g)
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `top / bottom` rounded down, for `0 <= top / bottom <= 10000`.
fn floor_bp(top: i128, bottom: i128) -> u32 {
    u32::try_from(top / bottom).unwrap_or(WHOLE_BP)
}

/// `bp` as a percentage: 3000 -> `30%`, 5625 -> `56.25%`, 5050 -> `50.5%`.
fn percent(bp: u32) -> String {
    let (units, hundredths) = (bp / 100, bp % 100);
    if hundredths == 0 {
        format!("{units}%")
    } else if hundredths % 10 == 0 {
        format!("{units}.{}%", hundredths / 10)
    } else {
        format!("{units}.{hundredths:02}%")
    }
}

/// A share for the explanation, saying when it was rounded down.
fn shown(bp: u32, exact: bool) -> String {
    if exact {
        percent(bp)
    } else {
        format!("{} (rounded down)", percent(bp))
    }
}

/// `member 3` or `members 3, 5 and 9`, from objections sorted by member.
fn members_list(objections: &[Objection]) -> String {
    let ids: Vec<String> = objections.iter().map(|o| o.member_id.to_string()).collect();
    match ids.as_slice() {
        [one] => format!("member {one}"),
        [init @ .., last] => format!("members {} and {last}", init.join(", ")),
        [] => "nobody".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::Choice::{Abstain, No, Object, Yes};
    use super::*;

    fn rules(method: Method, quorum_bp: u32, threshold_bp: u32) -> VoteRules {
        VoteRules {
            method,
            quorum_bp,
            threshold_bp,
            empty_college: EmptyCollege::Exclude,
        }
    }

    fn flat(eligible: u32) -> Electorate {
        Electorate {
            members: None,
            eligible,
            colleges: Vec::new(),
        }
    }

    /// Ballots for members 1, 2, 3, ... with the given choices, no college.
    fn votes(choices: &[Choice]) -> Vec<Ballot> {
        choices
            .iter()
            .zip(1..)
            .map(|(choice, member_id)| Ballot {
                member_id,
                college: None,
                choice: choice.clone(),
                reason: String::new(),
            })
            .collect()
    }

    fn in_college(member_id: i64, college: &str, choice: Choice) -> Ballot {
        Ballot {
            member_id,
            college: Some(college.to_string()),
            choice,
            reason: String::new(),
        }
    }

    fn college(name: &str, weight_bp: u32, eligible: u32) -> College {
        College {
            name: name.to_string(),
            weight_bp,
            eligible,
        }
    }

    #[test]
    fn one_member_one_vote_passes_with_a_majority() {
        // 10 eligible, quorum 50%: 5 cast, 5 × 10000 = 50000 >= 5000 × 10
        // = 50000, met. 3 yes 2 no: 30000 > 5000 × 5 = 25000, passes;
        // share 3/5 = 6000 bp.
        let t = tally(
            &rules(Method::OneMemberOneVote, 5_000, 5_000),
            &flat(10),
            &votes(&[Yes, Yes, Yes, No, No]),
        )
        .unwrap();
        assert_eq!(
            t,
            Tally {
                method: Method::OneMemberOneVote,
                eligible: 10,
                cast: 5,
                yes: 3,
                no: 2,
                abstain: 0,
                objections: vec![],
                quorum_bp: 5_000,
                quorum_met: true,
                threshold_bp: 5_000,
                score_bp: Some(6_000),
                colleges: vec![],
                passed: true,
                explanation: "passed: 3 yes to 2 no is a yes share of 60%, more than the 50% \
                              needed; 5 of 10 members voted, 50% needed for quorum"
                    .to_string(),
            }
        );
    }

    #[test]
    fn one_member_one_vote_fails_without_a_majority() {
        // 2 yes 3 no: 20000 > 25000 is false; share 2/5 = 4000 bp.
        let t = tally(
            &rules(Method::OneMemberOneVote, 5_000, 5_000),
            &flat(10),
            &votes(&[Yes, Yes, No, No, No]),
        )
        .unwrap();
        assert_eq!(
            (t.quorum_met, t.passed, t.score_bp),
            (true, false, Some(4_000))
        );
        assert_eq!(
            t.explanation,
            "failed: 2 yes to 3 no is a yes share of 40%, not more than the 50% needed; \
             5 of 10 members voted, 50% needed for quorum"
        );
    }

    #[test]
    fn an_exact_tie_at_fifty_percent_fails() {
        // 2 yes 2 no: 20000 > 5000 × 4 = 20000 is false: exactly 50% is not
        // more than 50%.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 5_000),
            &flat(4),
            &votes(&[Yes, No, Yes, No]),
        )
        .unwrap();
        assert_eq!(
            (t.yes, t.no, t.score_bp, t.passed),
            (2, 2, Some(5_000), false)
        );
        // One vote more would carry it: 3 yes 2 no.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 5_000),
            &flat(5),
            &votes(&[Yes, No, Yes, No, Yes]),
        )
        .unwrap();
        assert!(t.passed);
    }

    #[test]
    fn a_unanimous_vote_below_quorum_fails() {
        // 10 eligible, quorum 30%: 2 cast, 20000 >= 3000 × 10 = 30000 is
        // false, so 2 yes 0 no fails anyway.
        let t = tally(
            &rules(Method::OneMemberOneVote, 3_000, 5_000),
            &flat(10),
            &votes(&[Yes, Yes]),
        )
        .unwrap();
        assert_eq!((t.cast, t.yes, t.score_bp), (2, 2, Some(10_000)));
        assert_eq!((t.quorum_met, t.passed), (false, false));
        assert_eq!(
            t.explanation,
            "quorum not reached: 2 of 10 members voted, 30% needed"
        );
        // Exactly at quorum: 3 of 10, 30000 >= 30000, met.
        let t = tally(
            &rules(Method::OneMemberOneVote, 3_000, 5_000),
            &flat(10),
            &votes(&[Yes, Yes, Yes]),
        )
        .unwrap();
        assert_eq!((t.quorum_met, t.passed), (true, true));
    }

    #[test]
    fn abstentions_count_for_quorum_only() {
        // 10 eligible, quorum 50%: 1 yes 1 no 3 abstain = 5 cast, met.
        // Abstentions do not count against: with a 40% threshold, 1 yes of
        // 2 decided = 5000 bp > 4000, passes; if abstentions counted as no
        // it would be 1 of 5 = 20% and fail.
        let t = tally(
            &rules(Method::OneMemberOneVote, 5_000, 4_000),
            &flat(10),
            &votes(&[Yes, Abstain, No, Abstain, Abstain]),
        )
        .unwrap();
        assert_eq!((t.cast, t.yes, t.no, t.abstain), (5, 1, 1, 3));
        assert_eq!(
            (t.quorum_met, t.score_bp, t.passed),
            (true, Some(5_000), true)
        );
        // Without the abstentions the same votes miss quorum: 2 of 10.
        let t = tally(
            &rules(Method::OneMemberOneVote, 5_000, 4_000),
            &flat(10),
            &votes(&[Yes, No]),
        )
        .unwrap();
        assert_eq!((t.quorum_met, t.passed), (false, false));
        // Only abstentions: quorum met (3 of 3) but nothing was decided.
        let t = tally(
            &rules(Method::OneMemberOneVote, 5_000, 4_000),
            &flat(3),
            &votes(&[Abstain, Abstain, Abstain]),
        )
        .unwrap();
        assert_eq!((t.quorum_met, t.score_bp, t.passed), (true, None, false));
        assert_eq!(
            t.explanation,
            "failed: no yes or no votes were cast; 3 of 3 members voted, 50% needed for quorum"
        );
    }

    #[test]
    fn a_two_thirds_threshold_is_strict() {
        // 2 yes 1 no: 2 × 10000 = 20000 > 6666 × 3 = 19998, passes; share
        // floor(20000 / 3) = 6666 bp, shown as rounded down.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 6_666),
            &flat(3),
            &votes(&[Yes, Yes, No]),
        )
        .unwrap();
        assert_eq!((t.score_bp, t.passed), (Some(6_666), true));
        assert_eq!(
            t.explanation,
            "passed: 2 yes to 1 no is a yes share of 66.66% (rounded down), more than the \
             66.66% needed; 3 of 3 members voted, 0% needed for quorum"
        );
        // 1 yes 1 no: 10000 > 6666 × 2 = 13332 is false.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 6_666),
            &flat(3),
            &votes(&[Yes, No]),
        )
        .unwrap();
        assert_eq!((t.score_bp, t.passed), (Some(5_000), false));
        // 2 yes 1 no against a 6667 threshold: 20000 > 20001 is false.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 6_667),
            &flat(3),
            &votes(&[Yes, Yes, No]),
        )
        .unwrap();
        assert!(!t.passed);
    }

    /// Workers 50%, users 30%, supporters 20%; 12 eligible in all.
    fn coop() -> Electorate {
        Electorate {
            members: None,
            eligible: 12,
            colleges: vec![
                college("workers", 5_000, 5),
                college("users", 3_000, 4),
                college("supporters", 2_000, 3),
            ],
        }
    }

    fn weighted(threshold_bp: u32, empty_college: EmptyCollege) -> VoteRules {
        VoteRules {
            method: Method::CollegeWeighted,
            quorum_bp: 3_000,
            threshold_bp,
            empty_college,
        }
    }

    /// Workers 3 yes 1 no (share 0.75), users 1 yes 3 no (0.25), one
    /// supporter abstains (no yes or no: empty).
    fn coop_ballots() -> Vec<Ballot> {
        vec![
            in_college(1, "workers", Yes),
            in_college(2, "workers", Yes),
            in_college(3, "workers", Yes),
            in_college(4, "workers", No),
            in_college(5, "users", Yes),
            in_college(6, "users", No),
            in_college(7, "users", No),
            in_college(8, "users", No),
            in_college(9, "supporters", Abstain),
        ]
    }

    #[test]
    fn college_weighted_excluding_an_empty_college() {
        // 9 of 12 cast: 90000 >= 3000 × 12 = 36000, met.
        // W = 5000 + 3000 = 8000 (supporters left out).
        // score = (0.5 × 0.75 + 0.3 × 0.25) / 0.8 = 0.45 / 0.8 = 0.5625
        // = 5625 bp > 5000: passes.
        // Effective weights: 5000 / 8000 = 6250 bp, 3000 / 8000 = 3750 bp.
        // Contributions: 0.625 × 0.75 = 0.46875 -> 4687 bp;
        // 0.375 × 0.25 = 0.09375 -> 937 bp.
        let t = tally(
            &weighted(5_000, EmptyCollege::Exclude),
            &coop(),
            &coop_ballots(),
        )
        .unwrap();
        assert_eq!(
            (t.cast, t.yes, t.no, t.abstain, t.quorum_met),
            (9, 4, 4, 1, true)
        );
        assert_eq!((t.score_bp, t.passed), (Some(5_625), true));
        assert_eq!(
            t.colleges,
            vec![
                CollegeTally {
                    name: "workers".into(),
                    weight_bp: 5_000,
                    effective_weight_bp: 6_250,
                    eligible: 5,
                    yes: 3,
                    no: 1,
                    abstain: 0,
                    counted: true,
                    yes_share_bp: Some(7_500),
                    contribution_bp: 4_687,
                },
                CollegeTally {
                    name: "users".into(),
                    weight_bp: 3_000,
                    effective_weight_bp: 3_750,
                    eligible: 4,
                    yes: 1,
                    no: 3,
                    abstain: 0,
                    counted: true,
                    yes_share_bp: Some(2_500),
                    contribution_bp: 937,
                },
                CollegeTally {
                    name: "supporters".into(),
                    weight_bp: 2_000,
                    effective_weight_bp: 0,
                    eligible: 3,
                    yes: 0,
                    no: 0,
                    abstain: 1,
                    counted: false,
                    yes_share_bp: None,
                    contribution_bp: 0,
                },
            ]
        );
        assert_eq!(
            t.explanation,
            "passed: the college-weighted yes share is 56.25%, more than the 50% needed; \
             2 of 3 colleges cast yes or no votes and those without any are left out; \
             9 of 12 members voted, 30% needed for quorum"
        );
    }

    #[test]
    fn college_weighted_counting_an_empty_college_as_no() {
        // W = 10000: score = 0.5 × 0.75 + 0.3 × 0.25 + 0.2 × 0 = 0.45
        // = 4500 bp, not more than 5000: fails. Effective weights are the
        // weights themselves; contributions 3750 and 750.
        let t = tally(
            &weighted(5_000, EmptyCollege::CountsAsNo),
            &coop(),
            &coop_ballots(),
        )
        .unwrap();
        assert_eq!((t.score_bp, t.passed), (Some(4_500), false));
        let parts: Vec<_> = t
            .colleges
            .iter()
            .map(|c| (c.effective_weight_bp, c.counted, c.contribution_bp))
            .collect();
        assert_eq!(
            parts,
            vec![(5_000, true, 3_750), (3_000, true, 750), (2_000, false, 0)]
        );
        assert_eq!(
            t.explanation,
            "failed: the college-weighted yes share is 45%, not more than the 50% needed; \
             2 of 3 colleges cast yes or no votes and those without any count as no; \
             9 of 12 members voted, 30% needed for quorum"
        );
        // Against a 4499 threshold the same score passes: 4500 > 4499.
        let t = tally(
            &weighted(4_499, EmptyCollege::CountsAsNo),
            &coop(),
            &coop_ballots(),
        )
        .unwrap();
        assert!(t.passed);
    }

    #[test]
    fn a_weighted_tie_fails() {
        // Two colleges, 60% and 40%. Workers 1 yes 3 no (0.25), users 7 yes
        // 1 no (0.875): 0.6 × 0.25 + 0.4 × 0.875 = 0.15 + 0.35 = 0.5
        // exactly, not more than 0.5: fails. At 4999 it passes.
        let electorate = Electorate {
            members: None,
            eligible: 12,
            colleges: vec![college("workers", 6_000, 4), college("users", 4_000, 8)],
        };
        let mut ballots = Vec::new();
        for (id, choice) in (1..).zip([Yes, No, No, No]) {
            ballots.push(in_college(id, "workers", choice));
        }
        for (id, choice) in (11..).zip([Yes, Yes, Yes, Yes, Yes, Yes, Yes, No]) {
            ballots.push(in_college(id, "users", choice));
        }
        let t = tally(
            &weighted(5_000, EmptyCollege::Exclude),
            &electorate,
            &ballots,
        )
        .unwrap();
        assert_eq!((t.score_bp, t.passed), (Some(5_000), false));
        assert!(
            t.explanation.starts_with(
                "failed: the college-weighted yes share is 50%, not more than the 50% needed; \
                 all 2 colleges cast yes or no votes"
            ),
            "{}",
            t.explanation
        );
        let t = tally(
            &weighted(4_999, EmptyCollege::Exclude),
            &electorate,
            &ballots,
        )
        .unwrap();
        assert!(t.passed);
    }

    #[test]
    fn a_weighted_tie_made_of_thirds_is_still_exact() {
        // Equal weights. Workers 2 yes 1 no (2/3), users 1 yes 2 no (1/3):
        // 0.5 × 2/3 + 0.5 × 1/3 = 0.5 exactly. In bp the parts are
        // 3333.33... and 1666.66..., whose whole parts add to only 4999;
        // the fractions must carry to reach exactly 5000, a tie that fails.
        let electorate = Electorate {
            members: None,
            eligible: 6,
            colleges: vec![college("workers", 5_000, 3), college("users", 5_000, 3)],
        };
        let ballots = vec![
            in_college(1, "workers", Yes),
            in_college(2, "workers", Yes),
            in_college(3, "workers", No),
            in_college(4, "users", Yes),
            in_college(5, "users", No),
            in_college(6, "users", No),
        ];
        let t = tally(
            &weighted(5_000, EmptyCollege::Exclude),
            &electorate,
            &ballots,
        )
        .unwrap();
        assert_eq!((t.score_bp, t.passed), (Some(5_000), false));
        let contributions: Vec<_> = t.colleges.iter().map(|c| c.contribution_bp).collect();
        assert_eq!(contributions, vec![3_333, 1_666]);
        let t = tally(
            &weighted(4_999, EmptyCollege::Exclude),
            &electorate,
            &ballots,
        )
        .unwrap();
        assert!(t.passed);
    }

    #[test]
    fn a_weighted_vote_with_no_yes_or_no_fails() {
        // Quorum 0, so it is met; only abstentions, so no college counts
        // and, even when empty colleges count as no, there is no score.
        let rules = VoteRules {
            quorum_bp: 0,
            ..weighted(5_000, EmptyCollege::CountsAsNo)
        };
        let ballots = vec![
            in_college(1, "workers", Abstain),
            in_college(2, "users", Abstain),
            in_college(3, "supporters", Abstain),
        ];
        let t = tally(&rules, &coop(), &ballots).unwrap();
        assert_eq!((t.quorum_met, t.score_bp, t.passed), (true, None, false));
        assert_eq!(
            t.explanation,
            "failed: no college cast a yes or no vote; 3 of 12 members voted, 0% needed for quorum"
        );
    }

    #[test]
    fn weighted_ballots_need_a_known_college() {
        let rules = weighted(5_000, EmptyCollege::Exclude);
        let mut ballots = coop_ballots();
        ballots.push(in_college(42, "founders", Yes));
        let err = tally(&rules, &coop(), &ballots).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ballot of member 42 names college \"founders\", which is not in the electorate \
             (colleges: workers, users, supporters)"
        );
        let mut ballots = coop_ballots();
        ballots[3].college = None;
        assert_eq!(
            tally(&rules, &coop(), &ballots).unwrap_err(),
            TallyError::BallotWithoutCollege { member_id: 4 }
        );
        // Other methods ignore colleges altogether.
        let t = tally(&rules_with(Method::OneMemberOneVote), &coop(), &ballots).unwrap();
        assert_eq!((t.yes, t.no, t.colleges.len()), (4, 4, 0));
    }

    fn rules_with(method: Method) -> VoteRules {
        rules(method, 0, 5_000)
    }

    #[test]
    fn consent_passes_without_objections() {
        // 4 of 5 cast, quorum 50%: 40000 >= 25000. Yes and abstain both
        // consent; nobody objected: passes; no score under consent.
        let t = tally(
            &rules(Method::Consent, 5_000, 0),
            &flat(5),
            &votes(&[Yes, Abstain, Yes, Abstain]),
        )
        .unwrap();
        assert_eq!(
            (t.cast, t.yes, t.no, t.abstain, t.score_bp, t.passed),
            (4, 2, 0, 2, None, true)
        );
        assert_eq!(
            t.explanation,
            "passed by consent: nobody objected; 4 of 5 members voted, 50% needed for quorum"
        );
    }

    #[test]
    fn consent_fails_with_an_objection() {
        // Same 4 of 5, but members 2 and 4 object: fails.
        let mut ballots = votes(&[Yes, Object, Yes, Object]);
        ballots[1].reason = "not costed".into();
        ballots[3].reason = "clashes with the harvest".into();
        let t = tally(&rules(Method::Consent, 5_000, 0), &flat(5), &ballots).unwrap();
        assert_eq!((t.cast, t.yes, t.quorum_met, t.passed), (4, 2, true, false));
        assert_eq!(
            t.objections,
            vec![
                Objection {
                    member_id: 2,
                    reason: "not costed".into()
                },
                Objection {
                    member_id: 4,
                    reason: "clashes with the harvest".into()
                },
            ]
        );
        assert_eq!(
            t.explanation,
            "failed: members 2 and 4 objected, and a consent decision passes only without \
             objections; 4 of 5 members voted, 50% needed for quorum"
        );
        // One objection alone is enough.
        let t = tally(&rules(Method::Consent, 0, 0), &flat(5), &ballots[1..2]).unwrap();
        assert!(!t.passed);
        assert!(t.explanation.starts_with("failed: member 2 objected"));
    }

    #[test]
    fn validate_ballot_refuses_what_the_method_does_not_allow() {
        use TallyError::*;
        let check = |m: Method, c: Choice, reason: &str| validate_ballot(&m, &c, reason);
        assert_eq!(
            check(Method::Consent, Object, " \n "),
            Err(ObjectionWithoutReason)
        );
        assert_eq!(
            check(Method::Consent, No, "too costly"),
            Err(NoUnderConsent)
        );
        assert_eq!(
            check(Method::OneMemberOneVote, Object, "why"),
            Err(ObjectionOutsideConsent)
        );
        assert_eq!(
            check(Method::CollegeWeighted, Object, "why"),
            Err(ObjectionOutsideConsent)
        );
        assert_eq!(check(Method::Consent, Object, "not costed"), Ok(()));
        assert_eq!(check(Method::Consent, Yes, ""), Ok(()));
        assert_eq!(check(Method::Consent, Abstain, ""), Ok(()));
        assert_eq!(check(Method::OneMemberOneVote, No, ""), Ok(()));
        assert_eq!(check(Method::CollegeWeighted, Abstain, ""), Ok(()));
        assert_eq!(
            NoUnderConsent.to_string(),
            "under consent, object with a reason or consent (yes or abstain): a plain no is not \
             a choice"
        );
        assert_eq!(
            ObjectionOutsideConsent.to_string(),
            "objections are only for consent decisions: vote yes, no or abstain"
        );
        // The tally refuses such a ballot too, naming the member.
        let err = tally(
            &rules(Method::Consent, 0, 0),
            &flat(3),
            &votes(&[Yes, Object]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            InvalidBallot {
                member_id: 2,
                problem: Box::new(ObjectionWithoutReason)
            }
        );
        assert!(
            err.to_string()
                .starts_with("ballot of member 2 is invalid: an objection needs"),
            "{err}"
        );
    }

    #[test]
    fn the_order_of_ballots_does_not_matter() {
        let mut consent = votes(&[Yes, Object, Abstain, Object, Yes]);
        consent[1].reason = "b".into();
        consent[3].reason = "a".into();
        let cases = [
            (
                weighted(5_000, EmptyCollege::Exclude),
                coop(),
                coop_ballots(),
            ),
            (
                weighted(5_000, EmptyCollege::CountsAsNo),
                coop(),
                coop_ballots(),
            ),
            (
                rules(Method::OneMemberOneVote, 5_000, 5_000),
                flat(10),
                votes(&[Yes, No, Abstain, Yes, Yes, No]),
            ),
            (rules(Method::Consent, 5_000, 0), flat(8), consent),
        ];
        for (rules, electorate, ballots) in cases {
            let expected = tally(&rules, &electorate, &ballots).unwrap();
            let n = ballots.len();
            let mut permutations = vec![ballots.iter().rev().cloned().collect::<Vec<_>>()];
            for k in 1..n {
                let mut rotated = ballots.clone();
                rotated.rotate_left(k);
                permutations.push(rotated);
            }
            // Odd positions first, then even ones.
            permutations.push(
                ballots
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .chain(ballots.iter().step_by(2))
                    .cloned()
                    .collect(),
            );
            for shuffled in permutations {
                assert_ne!(shuffled, ballots);
                assert_eq!(tally(&rules, &electorate, &shuffled).unwrap(), expected);
            }
        }
    }

    #[test]
    fn a_member_with_two_ballots_is_refused() {
        let mut ballots = votes(&[Yes, No, Yes]);
        ballots.push(Ballot {
            choice: No,
            ..ballots[1].clone()
        });
        let err = tally(
            &rules(Method::OneMemberOneVote, 0, 5_000),
            &flat(10),
            &ballots,
        )
        .unwrap_err();
        assert_eq!(err, TallyError::DuplicateBallot { member_id: 2 });
        assert_eq!(
            err.to_string(),
            "member 2 has more than one ballot: keep only their last one"
        );
    }

    #[test]
    fn rules_beyond_one_hundred_percent_are_refused() {
        let bad_quorum = rules(Method::OneMemberOneVote, 10_001, 5_000);
        assert_eq!(
            bad_quorum.validate(),
            Err(TallyError::QuorumOutOfRange(10_001))
        );
        assert_eq!(
            tally(&bad_quorum, &flat(1), &[]).unwrap_err().to_string(),
            "quorum_bp is 10001 but must be at most 10000 (100%)"
        );
        assert_eq!(
            rules(Method::Consent, 0, 20_000).validate(),
            Err(TallyError::ThresholdOutOfRange(20_000))
        );
        assert_eq!(rules(Method::Consent, 10_000, 10_000).validate(), Ok(()));
    }

    #[test]
    fn duplicate_college_names_are_refused() {
        let electorate = Electorate {
            members: None,
            eligible: 2,
            colleges: vec![college("workers", 5_000, 1), college("workers", 5_000, 1)],
        };
        assert_eq!(
            tally(&weighted(5_000, EmptyCollege::Exclude), &electorate, &[]).unwrap_err(),
            TallyError::DuplicateCollege {
                name: "workers".into()
            }
        );
    }

    #[test]
    fn an_unrepresentable_weighted_score_is_refused_not_rounded() {
        // 20 colleges of 5% whose yes + no counts are 20 distinct primes
        // from 53 to 149, with 1 yes each: the exact score's denominator is
        // their product, about 10^39, beyond i128.
        let primes = [
            53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139,
            149,
        ];
        let mut electorate = Electorate {
            members: None,
            eligible: 0,
            colleges: Vec::new(),
        };
        let mut ballots = Vec::new();
        let mut id = 0;
        for (i, p) in primes.iter().enumerate() {
            let name = format!("college-{i}");
            electorate.colleges.push(college(&name, 500, *p));
            electorate.eligible += p;
            for v in 0..*p {
                id += 1;
                ballots.push(in_college(id, &name, if v == 0 { Yes } else { No }));
            }
        }
        assert_eq!(
            tally(
                &weighted(5_000, EmptyCollege::Exclude),
                &electorate,
                &ballots
            ),
            Err(TallyError::TooPreciseToCompare)
        );
        // The first 8 of them still fit. Each then weighs 500 / 4000 = 1/8,
        // so the score is (1/53 + 1/59 + ... + 1/83) / 8 = 0.014953...
        electorate.colleges.truncate(8);
        let kept: u32 = primes[..8].iter().sum();
        ballots.truncate(kept as usize);
        electorate.eligible = kept;
        let t = tally(&weighted(0, EmptyCollege::Exclude), &electorate, &ballots).unwrap();
        assert!(t.passed);
        // That is 149.53... bp, shown as 149.
        assert_eq!(t.score_bp, Some(149));
    }

    #[test]
    fn rules_and_choices_use_kebab_case_names() {
        let rules: VoteRules = serde_json::from_str(
            r#"{"method": "college-weighted", "quorum_bp": 3000, "threshold_bp": 5000}"#,
        )
        .unwrap();
        assert_eq!(rules, weighted(5_000, EmptyCollege::Exclude));
        let rules: VoteRules = serde_json::from_str(
            r#"{"method": "one-member-one-vote", "quorum_bp": 0, "threshold_bp": 0,
                "empty_college": "counts-as-no"}"#,
        )
        .unwrap();
        assert_eq!(
            (rules.method, rules.empty_college),
            (Method::OneMemberOneVote, EmptyCollege::CountsAsNo)
        );
        assert_eq!(
            serde_json::to_string(&[Yes, No, Abstain, Object]).unwrap(),
            r#"["yes","no","abstain","object"]"#
        );
        assert_eq!(
            serde_json::to_string(&Method::Consent).unwrap(),
            r#""consent""#
        );
        let t = tally(
            &weighted(5_000, EmptyCollege::Exclude),
            &coop(),
            &coop_ballots(),
        )
        .unwrap();
        let back: Tally = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn a_ballot_cast_before_its_member_left_counts_and_so_do_they() {
        // Members 1 and 2 are active at the close; 3 voted while active and
        // was suspended before it. Three ballots of three counted: 100%.
        let electorate = Electorate {
            members: Some(vec![1, 2]),
            ..flat(2)
        };
        let t = tally(
            &rules(Method::OneMemberOneVote, 10_000, 5_000),
            &electorate,
            &votes(&[Yes, No, No]),
        )
        .unwrap();
        assert_eq!((t.eligible, t.cast), (3, 3));
        assert!(t.quorum_met);
        assert!(!t.passed, "2 no to 1 yes: {}", t.explanation);
        // Without the ids (a caller that cannot say who was active), the
        // electorate is taken as given.
        let t = tally(
            &rules(Method::OneMemberOneVote, 0, 5_000),
            &flat(2),
            &votes(&[Yes, No]),
        )
        .unwrap();
        assert_eq!(t.eligible, 2);
    }

    #[test]
    fn an_earlier_voter_counts_in_the_college_their_ballot_names() {
        // Workers has 1 active member (id 1); member 9 voted as a worker and
        // left before the close.
        let electorate = Electorate {
            members: Some(vec![1, 2]),
            eligible: 2,
            colleges: vec![college("workers", 5_000, 1), college("users", 5_000, 1)],
        };
        let ballots = [
            in_college(1, "workers", Yes),
            in_college(9, "workers", Yes),
            in_college(2, "users", No),
        ];
        let t = tally(
            &weighted(5_000, EmptyCollege::Exclude),
            &electorate,
            &ballots,
        )
        .unwrap();
        assert_eq!((t.eligible, t.cast), (3, 3));
        let workers = t.colleges.iter().find(|c| c.name == "workers").unwrap();
        assert_eq!((workers.eligible, workers.yes), (2, 2));
    }
}
