//! Client sockets: TCP connections bound round-robin to several loopback source addresses
//! (127.0.0.1 .. 127.0.0.N), so one generator can hold far more than the ~28k ephemeral ports
//! of a single source address, and WebSocket upgrades with small buffers.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Where and how the generator connects.
pub struct Net {
    pub server: SocketAddr,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Net {
    /// `sources` loopback source addresses: 127.0.0.1 .. 127.0.0.`sources`.
    pub fn new(port: u16, sources: usize) -> Net {
        let sources = (1..=sources.clamp(1, 250) as u8)
            .map(|i| Ipv4Addr::new(127, 0, 0, i))
            .collect();
        Net {
            server: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
            sources,
            next: AtomicUsize::new(0),
        }
    }

    /// Opens a TCP connection to the server from the next source address.
    pub async fn tcp(&self) -> anyhow::Result<TcpStream> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let src = self.sources[i % self.sources.len()];
        let socket = TcpSocket::new_v4()?;
        // Lets a port still in TIME_WAIT from an earlier cell be bound again.
        socket.set_reuseaddr(true)?;
        socket
            .bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))
            .with_context(|| format!("bind {src}:0"))?;
        let stream = socket
            .connect(self.server)
            .await
            .with_context(|| format!("connect {} from {src}", self.server))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Opens a WebSocket to `path_and_query` (e.g. `/signal`).
    pub async fn ws(&self, path_and_query: &str) -> anyhow::Result<Ws> {
        let stream = self.tcp().await?;
        let url = format!("ws://{}{}", self.server, path_and_query);
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
                .await
                .context("WebSocket upgrade")?;
        Ok(ws)
    }
}

/// Small buffers: thousands of connections live in one generator process. The read buffer
/// stays at 4 KiB even for connections that receive a lot: tungstenite zero-fills the whole
/// read buffer before every read, and with 64 KiB that memset was 43 % of the generator's CPU
/// in fan-out (and inflated every server's measured latency).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(4 << 20))
        .max_frame_size(Some(4 << 20))
}

/// A generous limit for one connection's whole setup (connect, upgrade, handshakes, join).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
