// The messages the reader has sent that the room has not yet echoed back,
// as rules with no DOM and no I/O. Each gets a client nonce, so that the
// server stores it once however often it is sent (docs/protocol.md,
// "Sending"): it is queued while there is no open socket, sent when there
// is one, in the order written, and sent again, with the same nonce, on
// the next socket if the echo did not come on this one. The message frame
// that echoes the nonce ends it; a refusal keeps it for the reader to
// send again or take back into the composer.
//
//   const entry = outbox.add(text);       // then, when the socket is open:
//   outbox.flush(send);                   // send(frame) -> whether it went
//   outbox.echoed(frame.nonce);           // the message frame came back
//   outbox.refused(frame);                // an error frame came instead
//   outbox.disconnected();                // the socket closed: send again later

// An entry's state.
export const QUEUED = "queued";  // waiting for an open socket
export const SENT = "sent";  // sent on the current socket; no echo yet
export const REFUSED = "refused";  // the server refused it; the reader decides

// The error codes with which the server refuses a chat message frame
// (docs/protocol.md, "Errors"). An error frame names no nonce, so one of
// these is taken as the answer to the oldest message sent and not yet
// echoed: a socket's frames are answered in the order they were sent.
// Others (NOT_JOINED, ROOM_ACCESS_DENIED, and those of frames other than
// messages) belong to no message.
export const MESSAGE_REFUSALS = new Set([
  "FRAME_TOO_LARGE",
  "INVALID_JSON",
  "INVALID_FRAME",
  "MISSING_FIELD",
  "INVALID_FIELD",
  "HANDLE_EMPTY",
  "HANDLE_TOO_LONG",
  "HANDLE_TAKEN",
  "MESSAGE_EMPTY",
  "MESSAGE_TOO_LONG",
  "RATE_LIMITED",
  "UNAVAILABLE"
]);

// A fresh nonce: a random UUID (36 characters). crypto.randomUUID is
// only there in a secure context (https, or this machine); elsewhere the
// same 122 random bits come from crypto.getRandomValues.
export function randomNonce() {
  if (typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)]
    .join("-");
}

export class Outbox {
  // `newNonce()`: a fresh nonce (a string of 1 to 64 characters), such as
  // randomNonce().
  constructor(newNonce) {
    this.newNonce = newNonce;
    // {nonce, text, state, error, sentAs, refusedAfter}, in the order written.
    this.entries = [];
    // How many frames flush() has sent; an entry's `sentAs` is the count
    // when it was last sent, and a refusal can answer only those sent
    // before it came.
    this.sends = 0;
  }

  // Queue `text` (a string) as a new message; returns its entry, with
  // `nonce` and `text`, `state` QUEUED and `error` null (the refusal's
  // error frame, while REFUSED).
  add(text) {
    const entry = {
      nonce: this.newNonce(),
      text,
      state: QUEUED,
      error: null,
      sentAs: 0,
      refusedAfter: 0
    };
    this.entries.push(entry);
    return entry;
  }

  find(nonce) {
    return this.entries.find((entry) => entry.nonce === nonce) || null;
  }

  // The chat frame of `entry`: {"type": "message", "message", "nonce"}.
  static frame(entry) {
    return {type: "message", message: entry.text, nonce: entry.nonce};
  }

  // Send the queued entries, oldest first, through `send(frame)`, which
  // returns whether the frame went; stops at the first that did not.
  // Returns the entries sent (an array).
  flush(send) {
    const sent = [];
    for (const entry of this.entries) {
      if (entry.state !== QUEUED) {
        continue;
      }
      if (!send(Outbox.frame(entry))) {
        break;
      }
      this.sends += 1;
      entry.state = SENT;
      entry.sentAs = this.sends;
      sent.push(entry);
    }
    return sent;
  }

  // The message frame that echoes `nonce` has come: its entry is done and
  // taken out. Returns the entry, or null for a nonce not in the outbox
  // (another tab's, or one already echoed).
  //
  // An entry echoed after all was not the one a refusal answered: frames
  // are answered in order, so the refusal passes to the oldest entry sent
  // after it. (The interface server answers RATE_LIMITED at once, ahead of
  // the workers' answers to earlier frames.)
  echoed(nonce) {
    const entry = this.find(nonce);
    if (!entry) {
      return null;
    }
    this.entries.splice(this.entries.indexOf(entry), 1);
    if (entry.state === REFUSED) {
      this.refused(entry.error, entry.refusedAfter);
    }
    return entry;
  }

  // An error frame has come (`frame`, {error, detail}). For a code in
  // MESSAGE_REFUSALS, the oldest entry sent and not echoed is marked
  // REFUSED, with `error` set to the frame; returns that entry, or null
  // when the frame belongs to none. (`sends` is for echoed(): a refusal
  // passed on goes only to an entry sent before the refusal came.)
  //
  // Should the frame in fact have answered a later message, or another
  // frame (an edit refused at the same moment), the entry's echo still
  // ends it when it comes (see echoed), and sending it again cannot store
  // it twice: it keeps its nonce.
  refused(frame, sends = this.sends) {
    if (!frame || !MESSAGE_REFUSALS.has(frame.error)) {
      return null;
    }
    const entry = this.entries.find(
      (candidate) => candidate.state === SENT && candidate.sentAs <= sends
    );
    if (!entry) {
      return null;
    }
    entry.state = REFUSED;
    entry.error = frame;
    entry.refusedAfter = sends;
    return entry;
  }

  // The reader sends a refused entry again: queued, keeping its nonce.
  // Returns the entry, or null.
  retry(nonce) {
    const entry = this.find(nonce);
    if (!entry || entry.state !== REFUSED) {
      return null;
    }
    entry.state = QUEUED;
    entry.error = null;
    entry.refusedAfter = 0;
    return entry;
  }

  // Take a refused entry out without sending it (the reader took it back
  // into the composer). Returns the entry, or null.
  remove(nonce) {
    const entry = this.find(nonce);
    if (!entry || entry.state !== REFUSED) {
      return null;
    }
    this.entries.splice(this.entries.indexOf(entry), 1);
    return entry;
  }

  // The socket has closed: what was sent on it without an echo is sent
  // again on the next one (the server may or may not have stored it; the
  // nonce makes that the same).
  disconnected() {
    this.entries.forEach((entry) => {
      if (entry.state === SENT) {
        entry.state = QUEUED;
      }
    });
  }
}
