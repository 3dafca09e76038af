//! What each mail says.
//!
//! Mails are bilingual, French then English: an account has no language of
//! its own (the web's language is a per-browser choice), so a mail cannot
//! know its reader's, and the host's two catalog languages cover everyone
//! the web pages do. Texts are plain text: no HTML, no remote images, no
//! tracking; links point at the host's own pages.

use serde::{Deserialize, Serialize};

use crate::identity::email::{RESET_TOKEN_TTL_MS, VERIFY_TOKEN_TTL_MS, WELCOME_TOKEN_TTL_MS};
use crate::moderation::utc;

/// One mail, as queued: what its subject and body are rendered from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Message {
    /// Confirm the address given with an application (a `verify` link).
    VerifyApplication {
        /// The one-time token.
        token: String,
        /// The coop's slug and name.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
    },
    /// A link to choose a new password.
    PasswordReset {
        /// The one-time token.
        token: String,
    },
    /// An admin added the address to a coop: a link to choose a first
    /// password (no admin ever chooses it).
    Welcome {
        /// The one-time token.
        token: String,
        /// The coop's slug.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
    },
    /// An invitation to join a coop; accepting it proves the address.
    Invitation {
        /// The invitation's one-time token.
        token: String,
        /// The coop's slug.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
        /// The roles offered.
        roles: Vec<String>,
        /// Until when it can be accepted.
        expires_at: i64,
    },
    /// New terms published, with their date of effect.
    TermsPublished {
        /// The coop's slug.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
        /// The new version.
        version: i64,
        /// When it takes effect.
        effective_at: i64,
    },
    /// The member was suspended or removed.
    Deactivated {
        /// The coop's slug.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
        /// `suspended` or `removed`.
        status: String,
        /// The admin's reason.
        reason: String,
        /// Until when the member may appeal.
        appeal_until: i64,
    },
    /// The account's second factor changed: the owner hears of every
    /// change, so one they did not make (a stolen session) is seen.
    SecurityChange {
        /// What changed.
        change: SecurityChange,
    },
    /// An appeal was reviewed.
    AppealReviewed {
        /// The coop's slug.
        coop: String,
        /// Display name of the coop.
        coop_name: String,
        /// The appeal's id.
        appeal: i64,
        /// `upheld` or `overturned`.
        outcome: String,
        /// The reviewer's reason.
        reason: String,
    },
}

/// A change to how an account logs in, told to its owner by mail.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityChange {
    /// A second factor was enrolled and confirmed.
    SecondFactorOn,
    /// The second factor was turned off (with a code).
    SecondFactorOff,
    /// New recovery codes replaced the old ones.
    RecoveryCodesReplaced,
    /// The host operator removed the second factor (a lost device) and
    /// logged every session out.
    SecondFactorResetByOperator,
}

/// Control characters out (a name cannot add a header line).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn hours(ms: i64) -> i64 {
    ms / 3_600_000
}

fn days(ms: i64) -> i64 {
    ms / 86_400_000
}

impl Message {
    /// The kind, as stored in the outbox (`verify-application`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::VerifyApplication { .. } => "verify-application",
            Message::PasswordReset { .. } => "password-reset",
            Message::Welcome { .. } => "welcome",
            Message::Invitation { .. } => "invitation",
            Message::TermsPublished { .. } => "terms-published",
            Message::Deactivated { .. } => "deactivated",
            Message::AppealReviewed { .. } => "appeal-reviewed",
            Message::SecurityChange { .. } => "security-change",
        }
    }

    /// The subject line (it never holds a token).
    pub fn subject(&self) -> String {
        clean(&match self {
            Message::VerifyApplication { coop_name, .. } => format!(
                "Confirmez votre adresse pour {coop_name} / Confirm your address for {coop_name}"
            ),
            Message::PasswordReset { .. } => {
                "Choisir un nouveau mot de passe / Choose a new password".to_string()
            }
            Message::Welcome { coop_name, .. } => format!(
                "Bienvenue dans {coop_name} : choisissez votre mot de passe / Welcome to {coop_name}: choose your password"
            ),
            Message::Invitation { coop_name, .. } => {
                format!("Invitation à rejoindre {coop_name} / Invitation to join {coop_name}")
            }
            Message::TermsPublished {
                coop_name, version, ..
            } => format!(
                "{coop_name} : nouvelles conditions (version {version}) / {coop_name}: new terms (version {version})"
            ),
            Message::Deactivated { coop_name, .. } => format!(
                "{coop_name} : une décision vous concerne / {coop_name}: a decision about you"
            ),
            Message::AppealReviewed { coop_name, .. } => format!(
                "{coop_name} : votre recours a été examiné / {coop_name}: your appeal was reviewed"
            ),
            Message::SecurityChange { .. } => {
                "Sécurité de votre compte / Your account's security".to_string()
            }
        })
    }

    /// The plain-text body, its links under `base` (the host's public URL).
    pub fn body(&self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        let (fr, en) = match self {
            Message::VerifyApplication {
                token, coop_name, ..
            } => {
                let link = format!("{base}/verify-email?token={token}");
                let h = hours(VERIFY_TOKEN_TTL_MS);
                (
                    format!(
                        "Quelqu'un (vous, sans doute) a demandé à rejoindre {coop_name} avec cette adresse. \
                         Pour confirmer qu'elle est la vôtre, ouvrez ce lien et entrez le mot de passe \
                         choisi en faisant la demande :\n\n{link}\n\n\
                         Le lien est valable {h} heures et ne sert qu'une fois. Si vous n'avez rien demandé, \
                         ignorez ce message : sans confirmation, la demande n'est pas transmise et elle est effacée."
                    ),
                    format!(
                        "Someone (you, most likely) applied to join {coop_name} with this address. \
                         To confirm it is yours, open this link and enter the password you chose \
                         when applying:\n\n{link}\n\n\
                         The link works for {h} hours, once. If you did not apply, ignore this \
                         message: unconfirmed, the application goes nowhere and is deleted."
                    ),
                )
            }
            Message::PasswordReset { token } => {
                let link = format!("{base}/reset-password?token={token}");
                let h = hours(RESET_TOKEN_TTL_MS);
                (
                    format!(
                        "Quelqu'un a demandé un nouveau mot de passe pour le compte lié à cette adresse. \
                         Pour le choisir, ouvrez ce lien (valable {h} heure, une seule fois) :\n\n{link}\n\n\
                         Toutes les sessions ouvertes du compte seront alors fermées. Si vous n'avez rien \
                         demandé, ignorez ce message : votre mot de passe ne change pas."
                    ),
                    format!(
                        "Someone asked for a new password for the account of this address. To choose \
                         it, open this link (it works for {h} hour, once):\n\n{link}\n\n\
                         Every open session of the account is then logged out. If you did not ask, \
                         ignore this message: your password does not change."
                    ),
                )
            }
            Message::Welcome {
                token, coop_name, ..
            } => {
                let link = format!("{base}/reset-password?token={token}");
                let d = days(WELCOME_TOKEN_TTL_MS);
                (
                    format!(
                        "Un administrateur de {coop_name} vous a inscrit·e comme membre avec cette adresse. \
                         Choisissez votre mot de passe avec ce lien (valable {d} jours, une seule fois) :\n\n\
                         {link}\n\nPuis connectez-vous sur {base}/login. Si le lien a expiré, demandez-en un \
                         autre sur {base}/forgot-password."
                    ),
                    format!(
                        "An admin of {coop_name} added you as a member with this address. Choose your \
                         password with this link (it works for {d} days, once):\n\n{link}\n\n\
                         Then log in at {base}/login. If the link has expired, ask for another at \
                         {base}/forgot-password."
                    ),
                )
            }
            Message::Invitation {
                token,
                coop,
                coop_name,
                roles,
                expires_at,
            } => {
                let link = format!("{base}/invitation/{coop}?token={token}");
                let until = utc(*expires_at);
                let roles = roles.join(", ");
                (
                    format!(
                        "{coop_name} vous invite à devenir membre (rôles : {roles}). Pour accepter, ouvrez \
                         ce lien avant le {until} :\n\n{link}\n\n\
                         Sans compte sur cet hébergeur, vous y choisirez votre mot de passe ; avec un \
                         compte, il ne change pas. Si vous ne voulez pas rejoindre {coop_name}, ignorez ce message."
                    ),
                    format!(
                        "{coop_name} invites you to become a member (roles: {roles}). To accept, open \
                         this link before {until}:\n\n{link}\n\n\
                         Without an account on this host you choose your password there; with one, it \
                         stays as it is. If you do not want to join {coop_name}, ignore this message."
                    ),
                )
            }
            Message::TermsPublished {
                coop,
                coop_name,
                version,
                effective_at,
            } => {
                let link = format!("{base}/c/{coop}/governance");
                let at = utc(*effective_at);
                (
                    format!(
                        "{coop_name} a publié la version {version} de ses conditions. Elle prend effet le \
                         {at}. Lisez-la, avec ce qui change par rapport à la version précédente :\n\n{link}"
                    ),
                    format!(
                        "{coop_name} published version {version} of its terms. It takes effect on {at}. \
                         Read it, with what changes from the previous version:\n\n{link}"
                    ),
                )
            }
            Message::Deactivated {
                coop,
                coop_name,
                status,
                reason,
                appeal_until,
            } => {
                let link = format!("{base}/c/{coop}/data");
                let until = utc(*appeal_until);
                let (fr_what, en_what) = if status == "removed" {
                    (
                        "vous a retiré·e de la coopérative",
                        "removed you from the coop",
                    )
                } else {
                    ("vous a suspendu·e", "suspended you")
                };
                (
                    format!(
                        "Un administrateur de {coop_name} {fr_what}. Motif : {reason}\n\n\
                         Vous pouvez toujours vous connecter, lire cette décision et la contester jusqu'au \
                         {until} ; un autre administrateur examinera votre recours :\n\n{link}"
                    ),
                    format!(
                        "An admin of {coop_name} {en_what}. Reason: {reason}\n\n\
                         You can still log in, read this decision and appeal it until {until}; another \
                         admin will review your appeal:\n\n{link}"
                    ),
                )
            }
            Message::AppealReviewed {
                coop,
                coop_name,
                appeal,
                outcome,
                reason,
            } => {
                let link = format!("{base}/c/{coop}/data");
                let (fr_out, en_out) = if outcome == "overturned" {
                    ("la décision est annulée", "the decision is overturned")
                } else {
                    ("la décision est maintenue", "the decision stands")
                };
                (
                    format!(
                        "Votre recours {appeal} auprès de {coop_name} a été examiné : {fr_out}. \
                         Motif : {reason}\n\nDétails :\n\n{link}"
                    ),
                    format!(
                        "Your appeal {appeal} to {coop_name} was reviewed: {en_out}. Reason: {reason}\n\n\
                         Details:\n\n{link}"
                    ),
                )
            }
            Message::SecurityChange { change } => {
                let link = format!("{base}/account/security");
                let (fr, en) = match change {
                    SecurityChange::SecondFactorOn => (
                        "Une seconde étape de connexion (application d'authentification) a été activée sur votre compte.",
                        "A second login step (authenticator app) was turned on for your account.",
                    ),
                    SecurityChange::SecondFactorOff => (
                        "La seconde étape de connexion de votre compte a été désactivée.",
                        "The second login step of your account was turned off.",
                    ),
                    SecurityChange::RecoveryCodesReplaced => (
                        "De nouveaux codes de secours ont remplacé les anciens, qui ne marchent plus.",
                        "New recovery codes replaced the old ones, which no longer work.",
                    ),
                    SecurityChange::SecondFactorResetByOperator => (
                        "L'opérateur de l'hébergeur a retiré la seconde étape de connexion de votre compte                          (appareil perdu) et fermé toutes ses sessions.",
                        "The host operator removed the second login step of your account (a lost device)                          and logged every session out.",
                    ),
                };
                (
                    format!(
                        "{fr}\n\nSi c'est vous, rien à faire. Sinon, changez votre mot de passe sur                          {base}/forgot-password puis vérifiez votre compte :\n\n{link}"
                    ),
                    format!(
                        "{en}\n\nIf this was you, there is nothing to do. If not, change your password                          at {base}/forgot-password, then check your account:\n\n{link}"
                    ),
                )
            }
        };
        format!(
            "(English below)\n\nBonjour,\n\n{fr}\n\n-- \n\nHello,\n\n{en}\n\n-- \ncoophost, {base}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cannot_add_a_header_line_and_links_sit_under_the_public_url() {
        let m = Message::VerifyApplication {
            token: "ver_abc".into(),
            coop: "velo".into(),
            coop_name: "Vélo\r\nBcc: x@evil.example".into(),
        };
        assert!(!m.subject().contains('\n') && !m.subject().contains('\r'));
        assert!(!m.subject().contains("ver_abc"), "no token in a subject");
        let body = m.body("https://coops.example/");
        assert!(body.contains("https://coops.example/verify-email?token=ver_abc"));
        assert!(body.contains("Bonjour") && body.contains("Hello"));
    }

    #[test]
    fn messages_round_trip_through_the_outbox_json() {
        let m = Message::Deactivated {
            coop: "velo".into(),
            coop_name: "Vélo".into(),
            status: "removed".into(),
            reason: "r".into(),
            appeal_until: 0,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"kind\":\"deactivated\""));
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
        assert_eq!(m.kind(), "deactivated");
    }
}
