//! The study-groups domain: roles, statuses, the round's state machine and event types.

/// Declares an enum stored and sent as its SCREAMING_CASE name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            #[allow(dead_code)] // not every enum needs the whole list
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Every name, for messages and the OpenAPI document.
            #[allow(dead_code)]
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }

            /// A request field: `default` when absent, else one of the names (the error
            /// message names the field and every name).
            #[allow(dead_code)]
            pub fn parse_field(
                value: Option<&str>,
                default: $name,
                field: &str,
            ) -> Result<$name, String> {
                match value {
                    None => Ok(default),
                    Some(v) => $name::parse(v).ok_or_else(|| {
                        format!("`{field}` must be one of {}", Self::names().join(", "))
                    }),
                }
            }
        }
    };
}

named_enum! {
    /// A member's role in a group.
    GroupRole { Owner = "OWNER", Mod = "MOD", Member = "MEMBER" }
}

impl GroupRole {
    /// Owners and moderators run the group: add members, create and run sessions.
    pub fn manages(self) -> bool {
        matches!(self, GroupRole::Owner | GroupRole::Mod)
    }
}

named_enum! {
    /// Where a session is in its life.
    SessionStatus { Created = "CREATED", Running = "RUNNING", Finished = "FINISHED" }
}

impl SessionStatus {
    /// Members may mark their attendance until the session is finished.
    pub fn accepts_attendance(self) -> bool {
        self != SessionStatus::Finished
    }
}

named_enum! {
    /// The activity format of a session (the frontend's `mode`; Roomwire runs every mode with
    /// the same round machine).
    SessionMode { PiSprint = "PI_SPRINT", JigsawMicro = "JIGSAW_MICRO", TblLite = "TBL_LITE" }
}

named_enum! {
    /// The depth of a session's content: `L2` and `L3` get the longer phase timers.
    Layer { L1 = "L1", L2 = "L2", L3 = "L3" }
}

impl Layer {
    pub fn advanced(self) -> bool {
        self != Layer::L1
    }
}

/// How long each phase of a round is meant to last, in seconds (the frontend counts down from
/// these; the server does not end phases by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub vote_sec: i64,
    pub discuss_sec: i64,
    pub revote_sec: i64,
    pub explain_sec: i64,
}

impl Timing {
    /// The configured timers of a layer.
    pub fn for_layer(layer: Layer, config: &crate::config::StudyGroupsConfig) -> Timing {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if layer.advanced() {
            Timing {
                vote_sec: n(config.advanced_vote_seconds),
                discuss_sec: n(config.advanced_discuss_seconds),
                revote_sec: n(config.advanced_revote_seconds),
                explain_sec: n(config.advanced_explain_seconds),
            }
        } else {
            Timing {
                vote_sec: n(config.vote_seconds),
                discuss_sec: n(config.discuss_seconds),
                revote_sec: n(config.revote_seconds),
                explain_sec: n(config.explain_seconds),
            }
        }
    }

    /// `timingJson` as the frontend reads it.
    pub fn json(self) -> serde_json::Value {
        serde_json::json!({
            "voteSec": self.vote_sec,
            "discussSec": self.discuss_sec,
            "revoteSec": self.revote_sec,
            "explainSec": self.explain_sec,
        })
    }
}

/// A member's one role in a session as the frontend shows it (`assignedRole`): the scribe
/// (who writes the group explanation) first, then the facilitator, else a participant.
pub fn assigned_role(facilitator_id: &str, scribe_id: &str, user_id: &str) -> &'static str {
    if scribe_id == user_id {
        "SCRIBE"
    } else if facilitator_id == user_id {
        "FACILITATOR"
    } else {
        "PARTICIPANT"
    }
}

/// The scribe of a session created without one named: the first member (in the order they
/// joined the group) who is not the facilitator, else the facilitator.
pub fn default_scribe<'a>(
    members: impl IntoIterator<Item = &'a str>,
    facilitator: &'a str,
) -> &'a str {
    members
        .into_iter()
        .find(|m| *m != facilitator)
        .unwrap_or(facilitator)
}

/// The card a group explanation makes (`cardJson`), from the explanation's payload as the
/// frontend sends it (`{group_choice, explanation, key_terms, linked_highlight_ids}`, camelCase
/// accepted too; a bare string is the explanation). `prompt` is the round's prompt unless the
/// payload names one.
pub fn shared_card(payload: &serde_json::Value, round_prompt: &str) -> serde_json::Value {
    use serde_json::Value;
    let field = |names: &[&str]| names.iter().find_map(|n| payload.get(*n)).cloned();
    let text = |names: &[&str]| match field(names) {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let list = |names: &[&str]| -> Vec<Value> {
        match field(names) {
            Some(Value::Array(items)) => items.into_iter().filter(Value::is_string).collect(),
            _ => Vec::new(),
        }
    };
    let explanation = match payload {
        Value::String(s) => s.clone(),
        _ => text(&["explanation", "text"]),
    };
    let prompt = match text(&["prompt"]) {
        p if p.is_empty() => round_prompt.to_owned(),
        p => p,
    };
    serde_json::json!({
        "prompt": prompt,
        "groupAnswer": text(&["group_choice", "groupChoice", "groupAnswer", "group_answer"]),
        "explanation": explanation,
        "keyTerms": list(&["key_terms", "keyTerms"]),
        "linkedHighlightIds": list(&["linked_highlight_ids", "linkedHighlightIds"]),
    })
}

named_enum! {
    /// The phases of a round, in order.
    RoundStatus {
        Voting = "VOTING",
        Discussing = "DISCUSSING",
        Revoting = "REVOTING",
        Explaining = "EXPLAINING",
        Done = "DONE",
    }
}

impl RoundStatus {
    /// The only status a round may move to from this one.
    pub fn next(self) -> Option<RoundStatus> {
        match self {
            RoundStatus::Voting => Some(RoundStatus::Discussing),
            RoundStatus::Discussing => Some(RoundStatus::Revoting),
            RoundStatus::Revoting => Some(RoundStatus::Explaining),
            RoundStatus::Explaining => Some(RoundStatus::Done),
            RoundStatus::Done => None,
        }
    }

    /// What must exist before a round may enter this status.
    pub fn gate(self) -> Option<Gate> {
        match self {
            RoundStatus::Discussing => Some(Gate::EveryJoined(EventKind::Vote)),
            RoundStatus::Explaining => Some(Gate::EveryJoined(EventKind::Revote)),
            RoundStatus::Done => Some(Gate::One(EventKind::Explanation)),
            RoundStatus::Voting | RoundStatus::Revoting => None,
        }
    }
}

/// A condition on a round's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Every member whose attendance is JOINED has submitted one of these in the round.
    EveryJoined(EventKind),
    /// At least one of these exists in the round.
    One(EventKind),
}

/// The activity event types the app treats specially; anything else is [`EventKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Vote,
    Revote,
    Explanation,
    Other,
}

pub const PI_VOTE_SUBMIT: &str = "PI_VOTE_SUBMIT";
pub const PI_REVOTE_SUBMIT: &str = "PI_REVOTE_SUBMIT";
pub const GROUP_EXPLANATION_SUBMIT: &str = "GROUP_EXPLANATION_SUBMIT";

impl EventKind {
    pub fn of(event_type: &str) -> EventKind {
        match event_type {
            PI_VOTE_SUBMIT => EventKind::Vote,
            PI_REVOTE_SUBMIT => EventKind::Revote,
            GROUP_EXPLANATION_SUBMIT => EventKind::Explanation,
            _ => EventKind::Other,
        }
    }

    /// The stored event type of the special kinds.
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            EventKind::Vote => Some(PI_VOTE_SUBMIT),
            EventKind::Revote => Some(PI_REVOTE_SUBMIT),
            EventKind::Explanation => Some(GROUP_EXPLANATION_SUBMIT),
            EventKind::Other => None,
        }
    }

    /// The round status in which events of this kind are accepted (`None`: any).
    pub fn phase(self) -> Option<RoundStatus> {
        match self {
            EventKind::Vote => Some(RoundStatus::Voting),
            EventKind::Revote => Some(RoundStatus::Revoting),
            EventKind::Explanation => Some(RoundStatus::Explaining),
            EventKind::Other => None,
        }
    }

    /// The Socket.IO event that announces it.
    pub fn announcement(self) -> &'static str {
        match self {
            EventKind::Vote => "vote.submitted",
            EventKind::Revote => "revote.submitted",
            EventKind::Explanation => "sharedCard.created",
            EventKind::Other => "session.updated",
        }
    }
}

/// An event type a client may send: 1 to 64 characters of `A-Z`, `0-9`, `_`.
pub fn valid_event_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A user id as tokens and bodies carry it: 1 to 128 printable characters without spaces.
pub fn valid_user_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_moves_only_forward_one_step() {
        let mut s = RoundStatus::Voting;
        let mut seen = vec![s];
        while let Some(n) = s.next() {
            s = n;
            seen.push(s);
        }
        assert_eq!(seen, RoundStatus::ALL);
        assert_eq!(RoundStatus::Done.next(), None);
    }

    #[test]
    fn gates_follow_the_document() {
        assert_eq!(
            RoundStatus::Discussing.gate(),
            Some(Gate::EveryJoined(EventKind::Vote))
        );
        assert_eq!(
            RoundStatus::Explaining.gate(),
            Some(Gate::EveryJoined(EventKind::Revote))
        );
        assert_eq!(
            RoundStatus::Done.gate(),
            Some(Gate::One(EventKind::Explanation))
        );
        assert_eq!(RoundStatus::Revoting.gate(), None);
    }

    #[test]
    fn names_round_trip() {
        for r in GroupRole::ALL {
            assert_eq!(GroupRole::parse(r.as_str()), Some(*r));
        }
        for s in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(RoundStatus::parse("voting"), None);
        assert_eq!(
            EventKind::of("PI_VOTE_SUBMIT").event_type(),
            Some(PI_VOTE_SUBMIT)
        );
        assert_eq!(EventKind::of("HINT_REQUESTED"), EventKind::Other);
    }

    #[test]
    fn assigned_roles_put_the_scribe_first() {
        assert_eq!(assigned_role("f", "s", "s"), "SCRIBE");
        assert_eq!(assigned_role("f", "s", "f"), "FACILITATOR");
        assert_eq!(assigned_role("x", "x", "x"), "SCRIBE");
        assert_eq!(assigned_role("f", "s", "m"), "PARTICIPANT");
        assert_eq!(default_scribe(["f", "a", "b"], "f"), "a");
        assert_eq!(default_scribe(["f"], "f"), "f");
    }

    #[test]
    fn timers_follow_the_layer() {
        let c = crate::config::StudyGroupsConfig::default();
        assert_eq!(Timing::for_layer(Layer::L1, &c).vote_sec, 60);
        assert_eq!(Timing::for_layer(Layer::L3, &c).discuss_sec, 240);
        assert_eq!(Timing::for_layer(Layer::L1, &c).json()["explainSec"], 180);
    }

    #[test]
    fn shared_cards_read_the_frontends_payload() {
        let card = shared_card(
            &serde_json::json!({"group_choice": "B", "explanation": "because",
                "key_terms": ["x", 3, "y"], "linked_highlight_ids": ["h1"]}),
            "Q1",
        );
        assert_eq!(
            card,
            serde_json::json!({"prompt": "Q1", "groupAnswer": "B", "explanation": "because",
                "keyTerms": ["x", "y"], "linkedHighlightIds": ["h1"]})
        );
        let bare = shared_card(&serde_json::json!("just text"), "");
        assert_eq!(bare["explanation"], "just text");
        assert_eq!(bare["keyTerms"], serde_json::json!([]));
        assert_eq!(
            shared_card(&serde_json::json!({"prompt": "P"}), "Q")["prompt"],
            "P"
        );
    }

    #[test]
    fn event_types_are_screaming_snake_case() {
        assert!(valid_event_type("PI_VOTE_SUBMIT"));
        assert!(valid_event_type("A1"));
        assert!(!valid_event_type(""));
        assert!(!valid_event_type("pi_vote"));
        assert!(!valid_event_type(&"A".repeat(65)));
    }
}
