//! Shared state: values every node must see (room state, presence), behind one interface with
//! an in-memory implementation for a single node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait StateStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError>;
    /// Sets a value, replacing any; with `ttl` it disappears after that long.
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), StateError>;
    /// Sets a value only if the key is absent; true when it was set.
    async fn set_if_absent(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool, StateError>;
    async fn delete(&self, key: &str) -> Result<bool, StateError>;
    /// Adds or replaces one field of a hash (presence: field = member, value = its info).
    async fn hash_set(&self, key: &str, field: &str, value: Bytes) -> Result<(), StateError>;
    async fn hash_delete(&self, key: &str, field: &str) -> Result<bool, StateError>;
    async fn hash_all(&self, key: &str) -> Result<Vec<(String, Bytes)>, StateError>;
    async fn ping(&self) -> Result<(), StateError>;
    fn name(&self) -> &'static str;
}

#[derive(Default)]
pub struct MemoryStateStore {
    values: Mutex<HashMap<String, (Bytes, Option<Instant>)>>,
    hashes: Mutex<HashMap<String, HashMap<String, Bytes>>>,
}

fn live(entry: &(Bytes, Option<Instant>), now: Instant) -> bool {
    entry.1.is_none_or(|deadline| deadline > now)
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError> {
        let now = Instant::now();
        let mut values = self.values.lock();
        match values.get(key) {
            Some(e) if live(e, now) => Ok(Some(e.0.clone())),
            Some(_) => {
                values.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), StateError> {
        let deadline = ttl.map(|t| Instant::now() + t);
        self.values.lock().insert(key.to_owned(), (value, deadline));
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool, StateError> {
        let now = Instant::now();
        let mut values = self.values.lock();
        if values.get(key).is_some_and(|e| live(e, now)) {
            return Ok(false);
        }
        values.insert(key.to_owned(), (value, ttl.map(|t| now + t)));
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, StateError> {
        Ok(self.values.lock().remove(key).is_some())
    }

    async fn hash_set(&self, key: &str, field: &str, value: Bytes) -> Result<(), StateError> {
        self.hashes
            .lock()
            .entry(key.to_owned())
            .or_default()
            .insert(field.to_owned(), value);
        Ok(())
    }

    async fn hash_delete(&self, key: &str, field: &str) -> Result<bool, StateError> {
        let mut hashes = self.hashes.lock();
        let Some(h) = hashes.get_mut(key) else {
            return Ok(false);
        };
        let removed = h.remove(field).is_some();
        if h.is_empty() {
            hashes.remove(key);
        }
        Ok(removed)
    }

    async fn hash_all(&self, key: &str) -> Result<Vec<(String, Bytes)>, StateError> {
        Ok(self
            .hashes
            .lock()
            .get(key)
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_expire_and_set_if_absent_respects_live_keys() {
        let s = MemoryStateStore::default();
        s.set(
            "k",
            Bytes::from_static(b"v"),
            Some(Duration::from_millis(20)),
        )
        .await
        .unwrap();
        assert!(!s
            .set_if_absent("k", Bytes::from_static(b"w"), None)
            .await
            .unwrap());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(s.get("k").await.unwrap(), None);
        assert!(s
            .set_if_absent("k", Bytes::from_static(b"w"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn hashes_hold_fields_and_vanish_when_empty() {
        let s = MemoryStateStore::default();
        s.hash_set("p", "a", Bytes::from_static(b"1"))
            .await
            .unwrap();
        s.hash_set("p", "b", Bytes::from_static(b"2"))
            .await
            .unwrap();
        assert_eq!(s.hash_all("p").await.unwrap().len(), 2);
        assert!(s.hash_delete("p", "a").await.unwrap());
        assert!(s.hash_delete("p", "b").await.unwrap());
        assert!(s.hash_all("p").await.unwrap().is_empty());
    }
}
