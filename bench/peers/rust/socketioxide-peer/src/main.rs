//! Minimal socketioxide 0.18 server (axum 0.8 + tokio) implementing the Socket.IO handlers of
//! `bench/CONTRACT.md`: `join` (ack "ok"), `to-room` (room minus sender), `to-room-all`
//! (room including sender). socketioxide defaults apart from `max_payload` (see below).
//!
//! Usage: `socketioxide-peer --port PORT` -> listens on 127.0.0.1:PORT, prints `ready`.

use serde_json::Value;
use socketioxide::{
    extract::{AckSender, Data, SocketRef},
    SocketIo,
};

fn parse_port() -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().position(|a| a == "--port") {
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage()),
        None => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: socketioxide-peer --port PORT");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = parse_port();

    // Defaults everywhere (ping 25000/20000 ms, /socket.io path, 128-packet socket buffer,
    // websocket + polling) except `max_payload`: socketioxide's default is 100 000 bytes,
    // the contract (and socket.io's default maxHttpBufferSize) is 1 000 000. In engineioxide it
    // only bounds polling bodies and the handshake's advertised `maxPayload`; WebSocket frames
    // are bounded by `ws_max_message_size` (default 64 MiB), so this does not change WS behaviour.
    let (layer, io) = SocketIo::builder().max_payload(1_000_000).build_layer();

    io.ns("/", async |s: SocketRef| {
        s.on(
            "join",
            async |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
                s.join(room);
                ack.send("ok").ok();
            },
        );

        s.on(
            "to-room",
            async |s: SocketRef, Data((room, payload)): Data<(String, Value)>| {
                s.to(room).emit("msg", &payload).await.ok();
            },
        );

        s.on(
            "to-room-all",
            async |io: SocketIo, Data((room, payload)): Data<(String, Value)>| {
                io.to(room).emit("msg", &payload).await.ok();
            },
        );
    });

    let app = axum::Router::new().layer(layer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("ready");
    axum::serve(listener, app).await?;
    Ok(())
}
