//! A conference room: who is in it, who runs it, and its settings.
//!
//! Pure state and rules, no I/O: the app locks a room, asks it what a command does, and
//! delivers the resulting messages through the hub while still holding the lock, so every
//! member sees a room's events in the order the room changed.

use std::net::IpAddr;
use std::time::Instant;

use serde_json::{json, Value};

use crate::hub::MemberId;

#[derive(Debug, Clone)]
pub struct Participant {
    pub peer_id: String,
    pub username: String,
    pub user_id: Option<String>,
    /// The client's address when it joined.
    pub address: Option<IpAddr>,
    /// The live connection; `None` while the peer is in its reconnect grace.
    pub member: Option<MemberId>,
    /// Order of arrival: lower is longer present.
    pub arrived: u64,
    pub hand_raised: bool,
    pub muted: bool,
    pub sharing: bool,
    pub dropped_at: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Waiter {
    pub peer_id: String,
    pub username: String,
    pub user_id: Option<String>,
    pub address: Option<IpAddr>,
    pub member: MemberId,
}

/// Who asks to join: what a ban can be matched against.
#[derive(Debug, Clone, Copy)]
pub struct Joiner<'a> {
    pub peer_id: &'a str,
    pub user_id: Option<&'a str>,
    pub username: &'a str,
    pub address: Option<IpAddr>,
}

/// What a kick bans of a peer that has no authenticated user (`kick_ban_by_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanRule {
    pub by_username: bool,
    pub by_address: bool,
}

/// A kicked peer kept out of the room until `until`.
#[derive(Debug, Clone)]
pub struct Ban {
    pub peer_id: String,
    pub user_id: Option<String>,
    pub username: String,
    pub address: Option<IpAddr>,
    pub until: Instant,
}

impl Ban {
    pub fn of(p: &Participant, until: Instant) -> Ban {
        Ban {
            peer_id: p.peer_id.clone(),
            user_id: p.user_id.clone(),
            username: p.username.clone(),
            address: p.address,
            until,
        }
    }

    /// Whether this ban keeps `who` out. The same peer id or the same authenticated user is
    /// always kept out. A joiner with a user of its own is someone else. Anyone else is kept
    /// out when every criterion the rule enables matches: with both, the same username from
    /// the same address, which stops a client that rejoins under a fresh peer id without
    /// shutting out other people behind that address.
    pub fn keeps_out(&self, who: &Joiner, rule: BanRule) -> bool {
        if self.peer_id == who.peer_id
            || (self.user_id.is_some() && self.user_id.as_deref() == who.user_id)
        {
            return true;
        }
        if who.user_id.is_some() || !(rule.by_username || rule.by_address) {
            return false;
        }
        let same_name = || self.username.to_lowercase() == who.username.to_lowercase();
        let same_address = || self.address.is_some() && self.address == who.address;
        (!rule.by_username || same_name()) && (!rule.by_address || same_address())
    }
}

#[derive(Debug, Clone)]
pub struct Breakout {
    pub id: String,
    pub name: String,
    pub peer_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Host,
    CoHost,
    Member,
}

#[derive(Debug)]
pub struct Room {
    pub id: String,
    pub host: Option<String>,
    pub co_hosts: Vec<String>,
    /// In order of arrival.
    pub participants: Vec<Participant>,
    pub waiting: Vec<Waiter>,
    pub locked: bool,
    pub chat_enabled: bool,
    pub waiting_room: bool,
    pub recording: bool,
    pub max_participants: usize,
    pub designated_host_user: Option<String>,
    pub designated_host_peer: Option<String>,
    pub bans: Vec<Ban>,
    pub breakouts: Vec<Breakout>,
    pub screen_requests: Vec<String>,
    pub empty_since: Option<Instant>,
    pub created_at_ms: i64,
    /// Set (under the room's lock) when the room is being removed from the directory; a
    /// joiner that finds it set starts over with a fresh room.
    pub deleted: bool,
    next_arrival: u64,
}

impl Room {
    pub fn new(id: &str, max_participants: usize, now_ms: i64) -> Room {
        Room {
            id: id.to_owned(),
            host: None,
            co_hosts: Vec::new(),
            participants: Vec::new(),
            waiting: Vec::new(),
            locked: false,
            chat_enabled: true,
            waiting_room: false,
            recording: false,
            max_participants,
            designated_host_user: None,
            designated_host_peer: None,
            bans: Vec::new(),
            breakouts: Vec::new(),
            screen_requests: Vec::new(),
            empty_since: Some(Instant::now()),
            created_at_ms: now_ms,
            deleted: false,
            next_arrival: 0,
        }
    }

    pub fn participant(&self, peer_id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.peer_id == peer_id)
    }

    pub fn participant_mut(&mut self, peer_id: &str) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.peer_id == peer_id)
    }

    /// The participant whose live connection is `member`.
    pub fn by_member(&self, member: MemberId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.member == Some(member))
    }

    pub fn role(&self, peer_id: &str) -> Role {
        if self.host.as_deref() == Some(peer_id) {
            Role::Host
        } else if self.co_hosts.iter().any(|c| c == peer_id) {
            Role::CoHost
        } else {
            Role::Member
        }
    }

    /// The ban that keeps `who` out now, if any.
    pub fn ban_on(&self, who: &Joiner, rule: BanRule, now: Instant) -> Option<&Ban> {
        self.bans
            .iter()
            .find(|b| b.until > now && b.keeps_out(who, rule))
    }

    /// Whether the room has no seat left.
    pub fn is_full(&self) -> bool {
        self.participants.len() >= self.max_participants
    }

    pub fn is_designated_host(&self, peer_id: &str, user_id: Option<&str>) -> bool {
        self.designated_host_peer.as_deref() == Some(peer_id)
            || (user_id.is_some() && self.designated_host_user.as_deref() == user_id)
    }

    /// Adds a participant; returns whether it became host. The first joiner of a room
    /// without a host becomes host; a designated host takes the role when it arrives.
    pub fn admit(&mut self, w: Waiter) -> bool {
        let Waiter {
            peer_id,
            username,
            user_id,
            address,
            member,
        } = w;
        let designated = self.is_designated_host(&peer_id, user_id.as_deref());
        self.waiting.retain(|w| w.peer_id != peer_id);
        self.next_arrival += 1;
        self.participants.push(Participant {
            peer_id: peer_id.clone(),
            username,
            user_id,
            address,
            member: Some(member),
            arrived: self.next_arrival,
            hand_raised: false,
            muted: false,
            sharing: false,
            dropped_at: None,
        });
        self.empty_since = None;
        if self.host.is_none() || designated {
            self.co_hosts.retain(|c| c != &peer_id);
            self.host = Some(peer_id);
            return true;
        }
        false
    }

    /// Removes a participant for good; returns it and, if the host role moved, the new host.
    pub fn remove(&mut self, peer_id: &str) -> Option<(Participant, Option<String>)> {
        let index = self
            .participants
            .iter()
            .position(|p| p.peer_id == peer_id)?;
        let gone = self.participants.remove(index);
        self.co_hosts.retain(|c| c != peer_id);
        self.screen_requests.retain(|r| r != peer_id);
        let mut new_host = None;
        if self.host.as_deref() == Some(peer_id) {
            self.host = self.successor();
            if let Some(h) = &self.host {
                self.co_hosts.retain(|c| c != h);
            }
            new_host = self.host.clone();
        }
        if self.participants.is_empty() {
            self.empty_since = Some(Instant::now());
        }
        Some((gone, new_host))
    }

    /// The longest-present co-host, else the longest-present peer.
    fn successor(&self) -> Option<String> {
        let present = |p: &&Participant| p.member.is_some() || p.dropped_at.is_some();
        self.participants
            .iter()
            .filter(present)
            .filter(|p| self.co_hosts.contains(&p.peer_id))
            .min_by_key(|p| p.arrived)
            .or_else(|| {
                self.participants
                    .iter()
                    .filter(present)
                    .min_by_key(|p| p.arrived)
            })
            .map(|p| p.peer_id.clone())
    }

    pub fn live_members(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.participants.iter().filter_map(|p| p.member)
    }

    /// Members of the host and co-hosts, for notices only they get.
    pub fn moderators(&self) -> Vec<MemberId> {
        self.participants
            .iter()
            .filter(|p| self.role(&p.peer_id) != Role::Member)
            .filter_map(|p| p.member)
            .collect()
    }

    /// What a joiner needs to know, from `you`'s point of view.
    pub fn peers_message(&self, you: &str) -> Value {
        let others: Vec<Value> = self
            .participants
            .iter()
            .filter(|p| p.peer_id != you)
            .map(|p| json!({"peerId": p.peer_id, "username": p.username}))
            .collect();
        let hands: Vec<Value> = self
            .participants
            .iter()
            .filter(|p| p.hand_raised)
            .map(|p| json!({"peerId": p.peer_id, "username": p.username}))
            .collect();
        let pick = |f: fn(&Participant) -> bool| -> Vec<&str> {
            self.participants
                .iter()
                .filter(|p| f(p))
                .map(|p| p.peer_id.as_str())
                .collect()
        };
        json!({
            "yourId": you,
            "peers": others,
            "isHost": self.host.as_deref() == Some(you),
            "hostId": self.host,
            "roomLocked": self.locked,
            "coHosts": self.co_hosts,
            "raisedHands": hands,
            "chatEnabled": self.chat_enabled,
            "screenSharers": pick(|p| p.sharing),
            "mutedPeers": pick(|p| p.muted),
            "recording": self.recording,
            "waitingRoomEnabled": self.waiting_room,
            "breakoutRooms": self.breakouts_json(),
        })
    }

    pub fn breakouts_json(&self) -> Vec<Value> {
        self.breakouts
            .iter()
            .map(|b| json!({"breakoutRoomId": b.id, "name": b.name, "peerIds": b.peer_ids}))
            .collect()
    }

    /// The room as the REST API shows it.
    pub fn state_json(&self) -> Value {
        let participants: Vec<Value> = self
            .participants
            .iter()
            .map(|p| {
                json!({
                    "peerId": p.peer_id,
                    "username": p.username,
                    "userId": p.user_id,
                    "isHost": self.host.as_deref() == Some(&p.peer_id),
                    "isCoHost": self.co_hosts.contains(&p.peer_id),
                    "muted": p.muted,
                    "handRaised": p.hand_raised,
                    "sharingScreen": p.sharing,
                    "connected": p.member.is_some(),
                })
            })
            .collect();
        let waiting: Vec<Value> = self
            .waiting
            .iter()
            .map(|w| json!({"peerId": w.peer_id, "username": w.username}))
            .collect();
        json!({
            "roomId": self.id,
            "hostId": self.host,
            "participants": participants,
            "locked": self.locked,
            "chatEnabled": self.chat_enabled,
            "waitingRoomEnabled": self.waiting_room,
            "waiting": waiting,
            "recording": self.recording,
            "maxParticipants": self.max_participants,
            "breakoutRooms": self.breakouts_json(),
            "createdAt": self.created_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Room {
        Room::new("r", 10, 0)
    }

    fn waiter(peer_id: &str, member: MemberId) -> Waiter {
        Waiter {
            peer_id: peer_id.into(),
            username: peer_id.to_uppercase(),
            user_id: None,
            address: None,
            member,
        }
    }

    #[test]
    fn first_joiner_hosts_and_designated_host_takes_over() {
        let mut r = room();
        r.designated_host_peer = Some("boss".into());
        assert!(r.admit(waiter("a", 1)));
        assert!(!r.admit(waiter("b", 2)));
        assert!(r.admit(waiter("boss", 3)));
        assert_eq!(r.host.as_deref(), Some("boss"));
    }

    #[test]
    fn host_passes_to_longest_present_co_host_else_longest_present_peer() {
        let mut r = room();
        r.admit(waiter("a", 1));
        r.admit(waiter("b", 2));
        r.admit(waiter("c", 3));
        r.co_hosts.push("c".into());
        let (_, new_host) = r.remove("a").unwrap();
        assert_eq!(new_host.as_deref(), Some("c"));
        assert!(r.co_hosts.is_empty());
        let (_, new_host) = r.remove("c").unwrap();
        assert_eq!(new_host.as_deref(), Some("b"));
        let (_, new_host) = r.remove("b").unwrap();
        assert_eq!(new_host, None);
        assert!(r.empty_since.is_some());
    }

    fn joiner<'a>(
        peer_id: &'a str,
        user_id: Option<&'a str>,
        username: &'a str,
        address: &str,
    ) -> Joiner<'a> {
        Joiner {
            peer_id,
            user_id,
            username,
            address: Some(address.parse().unwrap()),
        }
    }

    const BOTH: BanRule = BanRule {
        by_username: true,
        by_address: true,
    };

    #[test]
    fn bans_match_peer_or_user_until_they_expire() {
        let mut r = room();
        let now = Instant::now();
        r.bans.push(Ban {
            peer_id: "x".into(),
            user_id: Some("u".into()),
            username: "Ux".into(),
            address: Some("10.0.0.1".parse().unwrap()),
            until: now + std::time::Duration::from_secs(5),
        });
        let later = now + std::time::Duration::from_secs(6);
        assert!(r
            .ban_on(&joiner("x", None, "Other", "10.9.9.9"), BOTH, now)
            .is_some());
        assert!(r
            .ban_on(&joiner("y", Some("u"), "Other", "10.9.9.9"), BOTH, now)
            .is_some());
        assert!(r
            .ban_on(&joiner("y", Some("v"), "Ux", "10.0.0.1"), BOTH, now)
            .is_none());
        assert!(r
            .ban_on(&joiner("x", None, "Ux", "10.0.0.1"), BOTH, later)
            .is_none());
    }

    #[test]
    fn an_anonymous_ban_needs_every_enabled_criterion_to_match() {
        let ban = Ban {
            peer_id: "peer_old".into(),
            user_id: None,
            username: "Bob".into(),
            address: Some("10.0.0.1".parse().unwrap()),
            until: Instant::now(),
        };
        let back = joiner("peer_new", None, "bob", "10.0.0.1");
        let colleague = joiner("peer_c", None, "Carol", "10.0.0.1");
        let namesake = joiner("peer_n", None, "Bob", "10.0.0.2");
        assert!(ban.keeps_out(&back, BOTH));
        assert!(!ban.keeps_out(&colleague, BOTH));
        assert!(!ban.keeps_out(&namesake, BOTH));
        let by_address = BanRule {
            by_username: false,
            by_address: true,
        };
        assert!(ban.keeps_out(&colleague, by_address));
        assert!(!ban.keeps_out(&namesake, by_address));
        let by_name = BanRule {
            by_username: true,
            by_address: false,
        };
        assert!(ban.keeps_out(&namesake, by_name));
        assert!(!ban.keeps_out(&colleague, by_name));
        let none = BanRule {
            by_username: false,
            by_address: false,
        };
        assert!(!ban.keeps_out(&back, none));
        assert!(ban.keeps_out(&joiner("peer_old", None, "X", "10.9.9.9"), none));
        // Someone signed in is someone else.
        assert!(!ban.keeps_out(&joiner("peer_new", Some("u2"), "Bob", "10.0.0.1"), BOTH));
    }
}
