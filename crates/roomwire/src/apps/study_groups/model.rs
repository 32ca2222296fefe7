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
    fn event_types_are_screaming_snake_case() {
        assert!(valid_event_type("PI_VOTE_SUBMIT"));
        assert!(valid_event_type("A1"));
        assert!(!valid_event_type(""));
        assert!(!valid_event_type("pi_vote"));
        assert!(!valid_event_type(&"A".repeat(65)));
    }
}
