// Reference Node socket.io 4.8 peer for the Roomwire benchmarks.
// Implements the Socket.IO handlers of bench/CONTRACT.md with the library's defaults
// (pingInterval 25000, pingTimeout 20000, maxHttpBufferSize 1e6, default `ws` engine, no CORS).
// Usage: node server.js --port PORT   -> listens on 127.0.0.1:PORT, prints "ready".
import { createServer } from "node:http";
import { Server } from "socket.io";

function parsePort(argv) {
  const i = argv.indexOf("--port");
  const raw = i >= 0 ? argv[i + 1] : undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error("usage: node server.js --port PORT");
    process.exit(2);
  }
  return port;
}

const port = parsePort(process.argv.slice(2));
const httpServer = createServer();
const io = new Server(httpServer, {});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });

  socket.on("to-room", (room, payload) => {
    socket.to(room).emit("msg", payload);
  });

  socket.on("to-room-all", (room, payload) => {
    io.to(room).emit("msg", payload);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write("ready\n");
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
