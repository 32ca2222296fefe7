//! The broker carries deliveries to every node that may hold recipients.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Delivery, LocalHub};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Broker: Send + Sync {
    /// Hands a delivery to every node (this one included). Never blocks: a cluster broker
    /// queues it for its publisher.
    fn publish(&self, delivery: Delivery);

    /// Answers when the broker can carry messages (for `/readyz`).
    async fn ping(&self) -> Result<(), BrokerError>;

    fn name(&self) -> &'static str;
}

/// The single-node broker: fans out on this node, synchronously.
pub struct MemoryBroker {
    local: Arc<LocalHub>,
}

impl MemoryBroker {
    pub fn new(local: Arc<LocalHub>) -> MemoryBroker {
        MemoryBroker { local }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn publish(&self, delivery: Delivery) {
        self.local.fan_out(&delivery);
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
