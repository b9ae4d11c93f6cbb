// The room page's client, loaded by templates/chat/room.html as a module.
// docs/protocol.md describes what it speaks: one WebSocket to
// /chat/<label>/, reconnected with backoff when it drops, and the
// /<label>/messages endpoint to catch up on whatever the socket missed, so
// every message the room stored is shown once, in order. Around that it
// keeps the roster and the typing line from the presence frames, sends the
// heartbeat, and, for a signed-in reader, the read marks.
//
// Each module does one job; this one finds the page's elements and wires
// the modules together.

import {Composer} from "./composer.mjs";
import {Connection} from "./connection.mjs";
import {History} from "./history.mjs";
import {Timeline} from "./keeping-up.mjs";
import {ReadMarks} from "./read-marks.mjs";
import {renderMessage, showTimes} from "./render.mjs";
import {Roster} from "./roster.mjs";
import {Pane} from "./scrolling.mjs";
import {Status} from "./status.mjs";
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
    onScroll: () => readMarks.soon(),
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
        history.receive(frame);
      },
      error: (frame) => status.showError(frame.detail || frame.error),
      presence: (frame) => roster.onPresence(frame),
      join: (frame) => roster.onJoin(frame),
      leave: (frame) => roster.onLeave(frame),
      typing: (frame) => roster.onTyping(frame)
    },
    onOpen: () => {
      history.sync();
      readMarks.soon();
      if (!identityKind) {
        // A socket without an identity hears presence once it sends a typed frame.
        connection.send({type: "ping"});
      }
    },
    onCheck: () => history.check(),
    onClose: () => roster.clearTyping(),
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
  const form = element("chatform");
  const composer = new Composer({
    form,
    messageInput: element("message"),
    handleInput: element("handle"),  // absent with a server-set handle
    connection,
    status,
    pane,
    typingIntervalMs: Number(data.typingIntervalMs) || 2000
  });
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
    if (message.image) {
      uploads.imageArrived();
    }
    readMarks.soon();
  }

  pane.start(element("unread"));
  connection.connect();
}

const page = document.getElementById("room");
const list = document.getElementById("messages");
// Without them, a members-only room turned this visitor away: no socket.
if (page && list) {
  start(page, list);
}
