//! Members and rooms on this node, and the fan-out that queues a delivery to each recipient.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use smallvec::SmallVec;

use super::{Delivery, MemberId, Outbox, Push, RoomKey, Target};
use crate::metrics::metrics;

struct Member {
    outbox: Arc<Outbox>,
    /// Inline for three: a Socket.IO socket is in its namespace's everyone-room, its own id's
    /// room and usually one more.
    rooms: SmallVec<[RoomKey; 3]>,
}

/// Rooms map to their members' outboxes directly, so a broadcast touches each recipient's
/// queue without a second lookup per member.
#[derive(Default)]
pub struct LocalHub {
    members: DashMap<MemberId, Member>,
    rooms: DashMap<RoomKey, HashMap<MemberId, Arc<Outbox>>>,
}

impl LocalHub {
    pub fn add_member(&self, id: MemberId, outbox: Arc<Outbox>) {
        self.members.insert(
            id,
            Member {
                outbox,
                rooms: SmallVec::new(),
            },
        );
    }

    pub fn remove_member(&self, id: MemberId) {
        let Some((_, member)) = self.members.remove(&id) else {
            return;
        };
        for room in &member.rooms {
            self.remove_from_room(id, room);
        }
    }

    pub fn join(&self, id: MemberId, room: RoomKey) {
        let outbox = {
            let Some(member) = self.members.get(&id) else {
                return;
            };
            if member.rooms.contains(&room) {
                return;
            }
            member.outbox.clone()
        };
        // The member keeps the room's own key (one allocation per room, not per member).
        let key = {
            let mut entry = self.rooms.entry(room).or_insert_with(|| {
                metrics().rooms.fetch_add(1, Ordering::Relaxed);
                HashMap::new()
            });
            entry.insert(id, outbox);
            entry.key().clone()
        };
        match self.members.get_mut(&id) {
            Some(mut member) => {
                if !member.rooms.contains(&key) {
                    member.rooms.push(key);
                }
            }
            // Removed meanwhile: do not leave it behind in the room.
            None => self.remove_from_room(id, &key),
        }
    }

    pub fn leave(&self, id: MemberId, room: &RoomKey) {
        if let Some(mut member) = self.members.get_mut(&id) {
            member.rooms.retain(|r| r != room);
        }
        self.remove_from_room(id, room);
    }

    fn remove_from_room(&self, id: MemberId, room: &RoomKey) {
        let removed = self
            .rooms
            .remove_if_mut(room, |_, members| {
                members.remove(&id);
                members.is_empty()
            })
            .is_some();
        if removed {
            metrics().rooms.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn rooms_of(&self, id: MemberId) -> Vec<RoomKey> {
        self.members
            .get(&id)
            .map(|m| m.rooms.to_vec())
            .unwrap_or_default()
    }

    pub fn is_in(&self, id: MemberId, room: &RoomKey) -> bool {
        self.rooms.get(room).is_some_and(|m| m.contains_key(&id))
    }

    pub fn room_size(&self, room: &RoomKey) -> usize {
        self.rooms.get(room).map(|m| m.len()).unwrap_or(0)
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Every member of the room, for presence listings.
    pub fn room_members(&self, room: &RoomKey) -> Vec<MemberId> {
        self.rooms
            .get(room)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Queues the delivery's frames to every local recipient. Returns how many got it.
    pub fn fan_out(&self, delivery: &Delivery) -> usize {
        let started = Instant::now();
        let frames = delivery.frames.as_slice();
        let excluded = |id: &MemberId| -> bool {
            delivery.except_members.contains(id)
                || delivery.except_rooms.iter().any(|r| self.is_in(*id, r))
        };
        let mut sent = 0usize;
        let push = |outbox: &Outbox| -> bool {
            let queued = outbox.push_group(frames) == Push::Queued;
            if let Some(close) = &delivery.close {
                outbox.close(close.clone());
            }
            queued
        };
        match &delivery.target {
            Target::Member(id) => {
                let outbox = self.members.get(id).map(|m| m.outbox.clone());
                if let Some(outbox) = outbox {
                    if !excluded(id) && push(&outbox) {
                        sent = 1;
                    }
                }
            }
            Target::Rooms(rooms) if rooms.len() == 1 => {
                // Collect first so no room lock is held while checking except-rooms (which
                // takes other room locks) or pushing.
                let recipients: Vec<(MemberId, Arc<Outbox>)> = match self.rooms.get(&rooms[0]) {
                    Some(members) => members.iter().map(|(id, o)| (*id, o.clone())).collect(),
                    None => Vec::new(),
                };
                for (id, outbox) in recipients {
                    if !excluded(&id) && push(&outbox) {
                        sent += 1;
                    }
                }
            }
            Target::Rooms(rooms) => {
                let mut seen = HashSet::new();
                for room in rooms {
                    let recipients: Vec<(MemberId, Arc<Outbox>)> = match self.rooms.get(room) {
                        Some(members) => members.iter().map(|(id, o)| (*id, o.clone())).collect(),
                        None => continue,
                    };
                    for (id, outbox) in recipients {
                        if seen.insert(id) && !excluded(&id) && push(&outbox) {
                            sent += 1;
                        }
                    }
                }
            }
        }
        let m = metrics();
        m.fanout_deliveries
            .fetch_add(sent as u64, Ordering::Relaxed);
        m.fanout_latency.observe(started.elapsed());
        sent
    }
}

impl LocalHub {
    /// Asks every member's writer to close (server shutdown).
    pub fn close_all(&self, request: super::CloseRequest) {
        for m in self.members.iter() {
            m.outbox.close(request.clone());
        }
    }
}
