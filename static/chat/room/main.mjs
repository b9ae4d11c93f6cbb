// The room page's client, loaded by templates/chat/room.html as a module.
// docs/protocol.md describes what it speaks: one WebSocket to
// /chat/<label>/, reconnected with backoff when it drops, and the
// /<label>/messages endpoint to catch up on whatever the socket missed, so
// every message the room stored is shown once, in order. Around that it
// keeps the roster and the typing line from the presence frames, sends the
// heartbeat, and, for a signed-in reader, the read marks; what the reader
// writes goes through an outbox, each message with a nonce, shown pending
// until the room echoes it back; and a hidden tab counts what came in its
// title.
//
// Each module does one job; this one finds the page's elements and wires
// the modules together.

import {Composer} from "./composer.mjs";
import {Connection} from "./connection.mjs";
import {History} from "./history.mjs";
import {Timeline} from "./keeping-up.mjs";
import {Outbox, randomNonce} from "./outbox.mjs";
import {Pending} from "./pending.mjs";
import {ReadMarks} from "./read-marks.mjs";
import {renderMessage, showTimes} from "./render.mjs";
import {Roster} from "./roster.mjs";
import {Pane} from "./scrolling.mjs";
import {Status} from "./status.mjs";
import {TabTitle} from "./tab-title.mjs";
import {Uploads} from "./uploads.mjs";

function start(page, list) {
  const element = (id) => document.getElementById(id);
  const data = page.dataset;
  // Who this page speaks as: "user", "guest" or "" (each message names its sender).
  const identityKind = data.identityKind;
  const myHandle = data.handle;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";

  const status = new Status(element("status"), element("error"));
  const render = (message) => renderMessage(message, identityKind, myHandle);

  // What the server rendered is shown already, each message once.
  const rendered = Array.from(list.querySelectorAll("li[data-id]"));
  const newest = rendered[rendered.length - 1];
  const timeline = new Timeline({
    onShow: (message) => showNewest(message),
    lastId: newest ? Number(newest.dataset.id) : 0,
    lastSeq: newest ? Number(newest.dataset.seq) : 0,
    shown: rendered.map((li) => Number(li.dataset.id))
  });
  showTimes(list);

  const scroller = element("scroller");
  const pane = new Pane({
    scroller,
    list,
    jumpButton: element("jump"),
    onScroll: () => {
      readMarks.soon();
      tabTitle.seen();
    },
    onJump: () => composer.focus()
  });
  const roster = new Roster({
    roster: element("roster"),
    memberList: element("members"),
    othersLine: element("others"),
    onlineCount: element("online"),
    typingLine: element("typing"),
    myHandle
  });
  const connection = new Connection({
    url: scheme + "://" + window.location.host + "/chat/" + list.dataset.label + "/",
    pingIntervalMs: Number(data.pingIntervalMs) || 20000,
    status,
    handlers: {
      message: (frame) => {
        roster.stopTyping(frame.handle);
        // One of this page's own messages, echoed with its nonce (live, or
        // as the answer to sending it again). The echo goes to the whole
        // room, so a nonce is matched only on a message in the reader's own
        // name: another socket that repeats a nonce it saw stores its own
        // message, which must not pass for this reader's.
        const own = typeof frame.nonce === "string" && frame.handle === myHandle &&
          !frame.bot && outbox.echoed(frame.nonce);
        if (own) {
          ownIds.add(Number(frame.id));
        }
        history.receive(frame);
        if (own) {
          pending.echoed(frame.nonce, frame.id);
          pending.update();
        }
      },
      error: (frame) => {
        // What a socket answered no longer holds once another opens.
        status.showError(frame.detail || frame.error, {connection: true});
        if (outbox.refused(frame)) {
          pending.update();
        }
      },
      presence: (frame) => roster.onPresence(frame),
      join: (frame) => roster.onJoin(frame),
      leave: (frame) => roster.onLeave(frame),
      typing: (frame) => roster.onTyping(frame)
    },
    onOpen: () => {
      history.sync();
      composer.flush();
      readMarks.soon();
      if (!identityKind) {
        // A socket without an identity hears presence once it sends a typed frame.
        connection.send({type: "ping"});
      }
    },
    onCheck: () => history.check(),
    onClose: () => {
      roster.clearTyping();
      outbox.disconnected();
      pending.update();
    },
    onLeave: () => readMarks.send(true)
  });
  const history = new History({
    messagesUrl: list.dataset.messagesUrl,
    timeline,
    connection,
    pane,
    render,
    olderButton: element("older"),
    status
  });
  const readMarks = new ReadMarks({
    identityKind,
    readSeq: Number(data.readSeq) || 0,
    intervalMs: Number(data.readIntervalMs) || 5000,
    list,
    scroller,
    timeline,
    send: (frame) => connection.send(frame)
  });
  const outbox = new Outbox(randomNonce);
  // The ids of this page's own messages echoed back: not counted as unread.
  const ownIds = new Set();
  const pending = new Pending({
    list: element("outbox"),
    messages: list,
    outbox,
    myHandle,
    onRetry: (nonce) => composer.retry(nonce),
    onEdit: (nonce) => composer.takeBack(nonce)
  });
  const form = element("chatform");
  const guestForm = element("guestform");  // only for a visitor without a name
  const composer = new Composer({
    form,
    messageInput: element("message"),
    sendButton: form.querySelector("button[type=submit]"),
    counter: element("counter"),
    guestForm,
    guestNameInput: guestForm && guestForm.querySelector("input[name=name]"),
    maxLength: Number(data.messageMaxLength) || 2000,
    label: list.dataset.label,
    connection,
    outbox,
    pending,
    status,
    pane,
    typingIntervalMs: Number(data.typingIntervalMs) || 2000
  });
  const tabTitle = new TabTitle({doc: document, isSeen: () => pane.following});
  const uploads = new Uploads({
    form,
    attachButton: element("attach"),
    imageInput: element("image-input"),
    uploadList: element("uploads"),
    composer,
    status,
    pane
  });

  // The next message in sequence, live or caught up.
  function showNewest(message) {
    pane.addNewest(render(message));
    pending.shown(message.id);
    if (!ownIds.has(Number(message.id))) {
      tabTitle.arrived();
    }
    if (message.image) {
      uploads.imageArrived();
    }
    readMarks.soon();
  }

  pane.start(element("unread"));
  composer.start();
  connection.connect();
}

const page = document.getElementById("room");
const list = document.getElementById("messages");
// Without them, a members-only room turned this visitor away: no socket.
if (page && list) {
  start(page, list);
}
