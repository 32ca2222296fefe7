//! A conference room: who is in it, who runs it, and its settings.
//!
//! Pure state and rules, no I/O: the app locks a room, asks it what a command does, and
//! delivers the resulting messages through the hub while still holding the lock, so every
//! member sees a room's events in the order the room changed.

use std::time::Instant;

use serde_json::{json, Value};

use crate::hub::MemberId;

#[derive(Debug, Clone)]
pub struct Participant {
    pub peer_id: String,
    pub username: String,
    pub user_id: Option<String>,
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
    pub member: MemberId,
}

#[derive(Debug, Clone)]
pub struct Ban {
    pub peer_id: String,
    pub user_id: Option<String>,
    pub until: Instant,
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

    pub fn is_banned(&self, peer_id: &str, user_id: Option<&str>, now: Instant) -> bool {
        self.bans.iter().any(|b| {
            b.until > now
                && (b.peer_id == peer_id || (user_id.is_some() && b.user_id.as_deref() == user_id))
        })
    }

    pub fn is_designated_host(&self, peer_id: &str, user_id: Option<&str>) -> bool {
        self.designated_host_peer.as_deref() == Some(peer_id)
            || (user_id.is_some() && self.designated_host_user.as_deref() == user_id)
    }

    /// Adds a participant; returns whether it became host. The first joiner of a room
    /// without a host becomes host; a designated host takes the role when it arrives.
    pub fn admit(
        &mut self,
        peer_id: String,
        username: String,
        user_id: Option<String>,
        member: MemberId,
    ) -> bool {
        let designated = self.is_designated_host(&peer_id, user_id.as_deref());
        self.waiting.retain(|w| w.peer_id != peer_id);
        self.next_arrival += 1;
        self.participants.push(Participant {
            peer_id: peer_id.clone(),
            username,
            user_id,
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

    #[test]
    fn first_joiner_hosts_and_designated_host_takes_over() {
        let mut r = room();
        r.designated_host_peer = Some("boss".into());
        assert!(r.admit("a".into(), "A".into(), None, 1));
        assert!(!r.admit("b".into(), "B".into(), None, 2));
        assert!(r.admit("boss".into(), "Boss".into(), None, 3));
        assert_eq!(r.host.as_deref(), Some("boss"));
    }

    #[test]
    fn host_passes_to_longest_present_co_host_else_longest_present_peer() {
        let mut r = room();
        r.admit("a".into(), "A".into(), None, 1);
        r.admit("b".into(), "B".into(), None, 2);
        r.admit("c".into(), "C".into(), None, 3);
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

    #[test]
    fn bans_match_peer_or_user_until_they_expire() {
        let mut r = room();
        let now = Instant::now();
        r.bans.push(Ban {
            peer_id: "x".into(),
            user_id: Some("u".into()),
            until: now + std::time::Duration::from_secs(5),
        });
        assert!(r.is_banned("x", None, now));
        assert!(r.is_banned("y", Some("u"), now));
        assert!(!r.is_banned("y", None, now));
        assert!(!r.is_banned("x", None, now + std::time::Duration::from_secs(6)));
    }
}
