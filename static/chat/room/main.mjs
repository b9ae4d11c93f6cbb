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

import {Actions} from "./actions.mjs";
import {Composer} from "./composer.mjs";
import {Connection} from "./connection.mjs";
import {History} from "./history.mjs";
import {Timeline} from "./keeping-up.mjs";
import {MessageList} from "./message-list.mjs";
import {ReadMarks} from "./read-marks.mjs";
import {renderMessage} from "./render.mjs";
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
  const readSeq = data.readSeq === "" || data.readSeq === undefined ? null : Number(data.readSeq);
  const reader = {
    identityKind,
    handle: myHandle,
    roomPath: data.roomPath,
    moderator: data.moderator === "true",
    editWindowMs: (Number(data.editWindowSeconds) || 0) * 1000
  };
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";

  const status = new Status(element("status"), element("error"));
  const render = (message) => renderMessage(message, reader);

  // What the server rendered is shown already, each message once.
  const rendered = Array.from(list.querySelectorAll("li.message[data-id]"));
  const timeline = new Timeline({
    onShow: (message) => showNew(message),
    onChange: (message) => showChange(message),
    lastSeq: Number(list.dataset.lastSeq) || 0,
    firstSeq: rendered.length ? Number(rendered[0].dataset.seq) : 0,
    shown: rendered.map((li) => [Number(li.dataset.id), Number(li.dataset.version)])
  });

  const scroller = element("scroller");
  const pane = new Pane({
    scroller,
    list,
    jumpButton: element("jump"),
    onScroll: () => {
      readMarks.soon();
      history.maybeShowOlder();
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
        history.receive(frame);
      },
      change: (frame) => history.receive(frame),
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
  const actions = new Actions({
    list,
    messageInput: element("message"),
    connection,
    status,
    notice: element("notice"),
    reader,
    onEditEnd: (message) => showChange(message)
  });
  const messageList = new MessageList({
    list,
    readSeq,
    decorate: (li) => actions.decorate(li)
  });
  const history = new History({
    messagesUrl: list.dataset.messagesUrl,
    timeline,
    connection,
    pane,
    messageList,
    render,
    olderButton: element("older"),
    roomStart: element("room-start"),
    status
  });
  const readMarks = new ReadMarks({
    identityKind,
    readSeq: readSeq || 0,
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

  // A message first shown, live or caught up, in its place by seq.
  function showNew(message) {
    pane.addNewest(() => messageList.add(render(message)));
    if (message.image) {
      uploads.imageArrived();
    }
    readMarks.soon();
  }

  // A message shown changed: edited, deleted or reacted to. One being
  // edited here keeps its edit box until it closes.
  function showChange(message) {
    const old = messageList.find(message.id);
    if (old && !actions.hold(message)) {
      const li = render(message);
      pane.keep(() => messageList.replace(old, li));
      actions.replaced(old, li);
    }
  }

  messageList.start();
  pane.start(list.querySelector("li.message.highlighted"), element("unread"),
    list.dataset.hasNewer === "true");
  history.maybeShowOlder();
  connection.connect();
}

const page = document.getElementById("room");
const list = document.getElementById("messages");
// Without them, a members-only room turned this visitor away: no socket.
if (page && list) {
  start(page, list);
}
