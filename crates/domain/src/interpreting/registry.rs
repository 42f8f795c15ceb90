//! The interpreter registry as types: who interprets which languages, how well, in which modalities, for
//! which provider. Contact details are a separate type ([`InterpreterContact`]) so that the record handed to
//! schedulers, experts and the room never carries them.

use super::InterpretingError;
use crate::ids::SubjectId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The longest tag accepted, as in the store's columns (`length(language) <= 35`).
pub const MAX_TAG_LEN: usize = 35;

/// Primary language subtags of sign languages Väylä knows by name: Finnish Sign Language and Finland-Swedish
/// Sign Language (both with legal status in Finland), the generic `sgn`, and the sign languages of the
/// neighbours most often met (Swedish, Norwegian, Danish, Estonian, American, British, International Sign).
/// Sign language is only ever interpreted over video.
const SIGN_LANGUAGES: &[&str] = &["fse", "fss", "sgn", "swl", "nsl", "dsl", "eso", "ase", "bfi", "ils"];

/// A BCP 47 language tag (`fi`, `sv-FI`, `se`, `fse`, `ar-SY`, `zh-Hant`), syntax-checked and in canonical case:
/// the language subtag lower case, a 4-letter script subtag title case, a 2-letter region upper case, everything
/// else lower case. Only the syntax is checked (subtags of 1–8 letters or digits, a primary language subtag of
/// 2–3 or 5–8 letters, at most [`MAX_TAG_LEN`] characters), not the IANA registry: a registry-valid tag that we
/// have not heard of must still be bookable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn new(value: impl AsRef<str>) -> Result<LanguageTag, InterpretingError> {
        let raw = value.as_ref();
        let bad = || InterpretingError::InvalidLanguageTag(raw.to_owned());
        if raw.is_empty() || raw.len() > MAX_TAG_LEN {
            return Err(bad());
        }
        let mut out = Vec::new();
        for (i, sub) in raw.split('-').enumerate() {
            if sub.is_empty() || sub.len() > 8 || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad());
            }
            let lower = sub.to_ascii_lowercase();
            if i == 0 {
                let letters = sub.bytes().all(|b| b.is_ascii_alphabetic());
                if !letters || !matches!(sub.len(), 2 | 3 | 5..=8) {
                    return Err(bad());
                }
                out.push(lower);
            } else if sub.len() == 4 && sub.bytes().all(|b| b.is_ascii_alphabetic()) {
                let mut script = lower;
                script[..1].make_ascii_uppercase();
                out.push(script);
            } else if sub.len() == 2 && sub.bytes().all(|b| b.is_ascii_alphabetic()) {
                out.push(sub.to_ascii_uppercase());
            } else {
                out.push(lower);
            }
        }
        Ok(LanguageTag(out.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`sv` of `sv-FI`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// Whether this is a sign language (see the list in this module): such a request needs video.
    pub fn is_sign_language(&self) -> bool {
        SIGN_LANGUAGES.contains(&self.primary())
    }

    /// RFC 4647 basic filtering with `self` as the language *range* (what a request asks for) and `skill` as the
    /// tag (what an interpreter has): equal, or `skill` continues `self` at a subtag boundary. So a request for
    /// `sv` is served by an interpreter listed with `sv` or `sv-FI`, but a request for `ar-SY` (Syrian Arabic)
    /// only by `ar-SY…`, never by a plain `ar`: a specific request needs a specific skill.
    pub fn is_served_by(&self, skill: &LanguageTag) -> bool {
        skill.0 == self.0 || (skill.0.starts_with(&self.0) && skill.0.as_bytes().get(self.0.len()) == Some(&b'-'))
    }
}

impl TryFrom<String> for LanguageTag {
    type Error = InterpretingError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        LanguageTag::new(value)
    }
}

impl From<LanguageTag> for String {
    fn from(tag: LanguageTag) -> String {
        tag.0
    }
}

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How qualified an interpreter is in one language, lowest first (the order is the comparison):
/// - `Basic` (level 1): trained or experienced, without an interpreting qualification (community interpreting of
///   everyday matters);
/// - `Professional` (level 2): a professional interpreter (a degree in interpreting, or the sign-language
///   interpreter qualification);
/// - `Certified` (level 3): on an official register that authorities require for legal matters (the Finnish
///   legal-interpreter register, or an authorised translator's certification).
///
/// A request names a minimum; anyone at or above it qualifies. The store keeps the level as the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Competence {
    Basic,
    Professional,
    Certified,
}

impl Competence {
    pub const ALL: [Competence; 3] = [Competence::Basic, Competence::Professional, Competence::Certified];

    /// 1, 2 or 3.
    pub fn level(self) -> u8 {
        match self {
            Competence::Basic => 1,
            Competence::Professional => 2,
            Competence::Certified => 3,
        }
    }

    /// The inverse of [`Competence::level`].
    pub fn from_level(level: u8) -> Option<Competence> {
        match level {
            1 => Some(Competence::Basic),
            2 => Some(Competence::Professional),
            3 => Some(Competence::Certified),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Competence::Basic => "basic",
            Competence::Professional => "professional",
            Competence::Certified => "certified",
        }
    }
}

/// How the interpreting is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// The interpreter joins the device's room with video (a seat in the session). The only one for sign language.
    RemoteVideo,
    /// The interpreter is on the phone (audio only).
    Phone,
    /// The interpreter comes to the service point.
    OnSite,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Modality::RemoteVideo, Modality::Phone, Modality::OnSite];

    /// The word used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::RemoteVideo => "remote_video",
            Modality::Phone => "phone",
            Modality::OnSite => "on_site",
        }
    }

    /// The inverse of [`Modality::as_str`].
    pub fn parse(s: &str) -> Option<Modality> {
        Modality::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether sign language can be interpreted this way: it needs to be seen.
    pub fn carries_sign_language(self) -> bool {
        matches!(self, Modality::RemoteVideo | Modality::OnSite)
    }
}

/// One language an interpreter works in, and how well.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LanguageSkill {
    pub language: LanguageTag,
    pub level: Competence,
}

/// An interpreter as every role may see them: the registry entry without contact details. `id` is the same
/// subject id they sign in with and that their reservations carry; `provider` is the organisation that employs
/// or dispatches them (an interpreting agency, a wellbeing services county's interpreting centre), for invoicing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    pub id: SubjectId,
    pub provider: SubjectId,
    pub languages: Vec<LanguageSkill>,
    pub modalities: BTreeSet<Modality>,
}

impl Interpreter {
    /// The highest level at which the interpreter serves `language` (see [`LanguageTag::is_served_by`]), if any.
    pub fn level_for(&self, language: &LanguageTag) -> Option<Competence> {
        self.languages.iter().filter(|s| language.is_served_by(&s.language)).map(|s| s.level).max()
    }
}

/// How to reach an interpreter. Kept out of [`Interpreter`] on purpose: only the interpreter themself, their
/// provider and the coordinators who dispatch them need it, and it never goes into an audit entry or a log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterpreterContact {
    pub id: SubjectId,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}
