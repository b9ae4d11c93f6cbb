// The /stream/ socket's `rooms` stream (docs/protocol.md, "The /stream/
// socket"), through channels' WebSocketBridge: a signed-in reader's rooms,
// each payload {label, name, unread, mentions?, last_activity, online?}
// or {label, gone: true}, handed to `onRoom`. The bridge is channels'
// own websocketbridge.js, a plain script loaded before the modules, which
// sets `window.channels`; its socket reconnects by itself.

export const STREAM_PATH = "/stream/";

// Opens the socket and calls `onRoom(payload)` for each rooms payload.
// Returns the bridge, or null when channels' script is missing.
export function followRooms(onRoom) {
  const bridge = window.channels && window.channels.WebSocketBridge;
  if (!bridge) {
    return null;
  }
  const socket = new bridge();
  // At most 10 s between attempts; a refused socket (signed out) keeps
  // trying at that pace, which costs a handshake each time, no more.
  socket.connect(STREAM_PATH, undefined, {maxReconnectionDelay: 10000});
  socket.listen();
  socket.demultiplex("rooms", (payload) => {
    if (payload && typeof payload.label === "string") {
      onRoom(payload);
    }
  });
  return socket;
}
