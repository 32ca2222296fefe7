//! The hub: one model of members, rooms and fan-out shared by both wire protocols.
//!
//! A *member* is whatever can receive frames: a Socket.IO socket (one per namespace on an
//! Engine.IO connection) or a plain WebSocket connection. Members are grouped in *rooms*, and
//! every room belongs to a *scope* (a Socket.IO namespace, or a plain-WebSocket app), so that
//! equal room names in two apps never meet.
//!
//! Apps never write to another member's outbox. They hand a [`Delivery`] to [`Hub::deliver`],
//! which goes through the [`Broker`]: the memory broker fans out on this node at once; a
//! cluster broker also carries it to the other nodes. That single path is what makes adding a
//! node possible without touching the apps.

mod broker;
mod local;
mod outbox;
mod state;

pub use broker::{Broker, BrokerError, MemoryBroker};
pub use local::LocalHub;
pub use outbox::{CloseRequest, Frame, Outbox, Push};
pub use state::{MemoryStateStore, StateError, StateStore};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use smallvec::SmallVec;

/// Identifies a member on this node.
pub type MemberId = u64;

/// A room, qualified by its scope. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey(Arc<str>);

/// Separates scope from room name inside a [`RoomKey`]; a control character, so no app-given
/// name can forge another scope's key.
const SCOPE_SEP: char = '\u{1}';

impl RoomKey {
    pub fn new(scope: &str, room: &str) -> RoomKey {
        let mut s = String::with_capacity(scope.len() + room.len() + 1);
        s.push_str(scope);
        s.push(SCOPE_SEP);
        s.push_str(room);
        RoomKey(s.into())
    }

    /// The room every member of a scope is in: a broadcast to a whole namespace uses it.
    pub fn everyone(scope: &str) -> RoomKey {
        let mut s = String::with_capacity(scope.len() + 2);
        s.push_str(scope);
        s.push(SCOPE_SEP);
        s.push(SCOPE_SEP);
        RoomKey(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The room's name within its scope.
    pub fn room(&self) -> &str {
        self.0.split_once(SCOPE_SEP).map(|(_, r)| r).unwrap_or("")
    }

    pub fn scope(&self) -> &str {
        self.0.split_once(SCOPE_SEP).map(|(s, _)| s).unwrap_or("")
    }
}

/// The frames of one message: one frame, or a group that must stay together.
#[derive(Clone, Debug)]
pub enum Frames {
    One(Frame),
    Group(Arc<[Frame]>),
}

impl Frames {
    pub fn as_slice(&self) -> &[Frame] {
        match self {
            Frames::One(f) => std::slice::from_ref(f),
            Frames::Group(g) => g,
        }
    }

    pub fn byte_len(&self) -> usize {
        self.as_slice().iter().map(Frame::len).sum()
    }
}

/// Who a delivery is for.
#[derive(Clone, Debug)]
pub enum Target {
    Member(MemberId),
    /// Every member of any of these rooms, each once.
    Rooms(SmallVec<[RoomKey; 1]>),
}

/// A message on its way to members, already encoded.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub target: Target,
    pub except_members: SmallVec<[MemberId; 1]>,
    pub except_rooms: SmallVec<[RoomKey; 1]>,
    pub frames: Frames,
    /// After the frames, close the recipients' connections (a kick, a room closed by an
    /// admin). Carried like any delivery, so it reaches members on other nodes too.
    pub close: Option<CloseRequest>,
}

impl Delivery {
    pub fn to_room(room: RoomKey, frames: Frames) -> Delivery {
        Delivery {
            target: Target::Rooms(smallvec::smallvec![room]),
            except_members: SmallVec::new(),
            except_rooms: SmallVec::new(),
            frames,
            close: None,
        }
    }

    pub fn to_member(member: MemberId, frames: Frames) -> Delivery {
        Delivery {
            target: Target::Member(member),
            except_members: SmallVec::new(),
            except_rooms: SmallVec::new(),
            frames,
            close: None,
        }
    }

    /// Closes the recipients' connections after delivering the frames.
    pub fn then_close(mut self, request: CloseRequest) -> Delivery {
        self.close = Some(request);
        self
    }

    pub fn except(mut self, member: MemberId) -> Delivery {
        self.except_members.push(member);
        self
    }
}

/// The hub as apps and protocols see it.
#[derive(Clone)]
pub struct Hub {
    local: Arc<LocalHub>,
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
    next_member: Arc<AtomicU64>,
}

impl Hub {
    /// A single-node hub: memory broker and memory state store.
    pub fn in_memory() -> Hub {
        let local = Arc::new(LocalHub::default());
        let broker = Arc::new(MemoryBroker::new(local.clone()));
        Hub::new(local, broker, Arc::new(MemoryStateStore::default()))
    }

    pub fn new(local: Arc<LocalHub>, broker: Arc<dyn Broker>, state: Arc<dyn StateStore>) -> Hub {
        Hub {
            local,
            broker,
            state,
            next_member: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Registers a member that receives through `outbox`, in the scope's everyone-room.
    pub fn register(&self, scope: &str, outbox: Arc<Outbox>) -> MemberId {
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        self.local.add_member(id, outbox);
        self.local.join(id, RoomKey::everyone(scope));
        id
    }

    /// Removes a member from every room it is in.
    pub fn unregister(&self, member: MemberId) {
        self.local.remove_member(member);
    }

    pub fn join(&self, member: MemberId, room: RoomKey) {
        self.local.join(member, room);
    }

    pub fn leave(&self, member: MemberId, room: &RoomKey) {
        self.local.leave(member, room);
    }

    pub fn rooms_of(&self, member: MemberId) -> Vec<RoomKey> {
        self.local.rooms_of(member)
    }

    pub fn is_member_of(&self, member: MemberId, room: &RoomKey) -> bool {
        self.local.is_in(member, room)
    }

    /// Members of a room on this node (a cluster-wide count comes with cluster brokers).
    pub fn room_size(&self, room: &RoomKey) -> usize {
        self.local.room_size(room)
    }

    /// Sends a delivery through the broker.
    pub fn deliver(&self, delivery: Delivery) {
        self.broker.publish(delivery);
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }

    pub fn local(&self) -> &Arc<LocalHub> {
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(o: &Outbox) -> Vec<Frame> {
        let mut v = Vec::new();
        o.drain(&mut v);
        v
    }

    #[test]
    fn room_broadcast_skips_excepted_and_other_scopes() {
        let hub = Hub::in_memory();
        let (a, b, c) = (
            Arc::new(Outbox::new(8)),
            Arc::new(Outbox::new(8)),
            Arc::new(Outbox::new(8)),
        );
        let ida = hub.register("/x", a.clone());
        let idb = hub.register("/x", b.clone());
        let idc = hub.register("/y", c.clone());
        hub.join(ida, RoomKey::new("/x", "r"));
        hub.join(idb, RoomKey::new("/x", "r"));
        hub.join(idc, RoomKey::new("/y", "r"));
        hub.deliver(
            Delivery::to_room(RoomKey::new("/x", "r"), Frames::One(Frame::text("hi"))).except(ida),
        );
        assert!(drained(&a).is_empty());
        assert_eq!(drained(&b), vec![Frame::text("hi")]);
        assert!(drained(&c).is_empty());
    }

    #[test]
    fn several_rooms_deliver_once_and_except_rooms_apply() {
        let hub = Hub::in_memory();
        let (a, b) = (Arc::new(Outbox::new(8)), Arc::new(Outbox::new(8)));
        let ida = hub.register("/x", a.clone());
        let idb = hub.register("/x", b.clone());
        for id in [ida, idb] {
            hub.join(id, RoomKey::new("/x", "r1"));
            hub.join(id, RoomKey::new("/x", "r2"));
        }
        hub.join(idb, RoomKey::new("/x", "muted"));
        let mut d = Delivery::to_room(RoomKey::new("/x", "r1"), Frames::One(Frame::text("m")));
        if let Target::Rooms(r) = &mut d.target {
            r.push(RoomKey::new("/x", "r2"));
        }
        d.except_rooms.push(RoomKey::new("/x", "muted"));
        hub.deliver(d);
        assert_eq!(drained(&a).len(), 1);
        assert!(drained(&b).is_empty());
    }

    #[test]
    fn members_of_a_room_share_its_key() {
        let hub = Hub::in_memory();
        let a = hub.register("/x", Arc::new(Outbox::new(8)));
        let b = hub.register("/x", Arc::new(Outbox::new(8)));
        hub.join(a, RoomKey::new("/x", "r"));
        hub.join(b, RoomKey::new("/x", "r"));
        let (ra, rb) = (hub.rooms_of(a), hub.rooms_of(b));
        assert_eq!(ra.len(), 2);
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x, y);
            assert!(Arc::ptr_eq(&x.0, &y.0), "one allocation per room");
        }
        // Joining twice changes nothing.
        hub.join(a, RoomKey::new("/x", "r"));
        assert_eq!(hub.rooms_of(a).len(), 2);
        assert_eq!(hub.room_size(&RoomKey::new("/x", "r")), 2);
    }

    #[test]
    fn unregister_leaves_every_room() {
        let hub = Hub::in_memory();
        let a = Arc::new(Outbox::new(8));
        let id = hub.register("/x", a);
        hub.join(id, RoomKey::new("/x", "r"));
        assert_eq!(hub.room_size(&RoomKey::new("/x", "r")), 1);
        hub.unregister(id);
        assert_eq!(hub.room_size(&RoomKey::new("/x", "r")), 0);
        assert!(hub.rooms_of(id).is_empty());
    }
}
