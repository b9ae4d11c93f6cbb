// The room page's client, loaded by templates/chat/room.html as a module.
// docs/protocol.md describes what it speaks: one WebSocket to
// /chat/<label>/, reconnected with backoff when it drops, and the
// /<label>/messages endpoint to catch up on whatever the socket missed, so
// every message and every change to one is shown once, in order. Around
// that it keeps the roster and the typing line from the presence frames,
// sends the heartbeat, and, for a signed-in reader, the read marks; what
// the reader writes goes through an outbox, each message with a nonce,
// shown pending until the room echoes it back; what they do to a message
// (react, edit, delete) goes out from its menu; older messages load as
// they scroll up; and a hidden tab counts what came in its title.
//
// Each module does one job; this one finds the page's elements and wires
// the modules together.

import {Actions} from "./actions.mjs";
import {Composer} from "./composer.mjs";
import {Connection} from "./connection.mjs";
import {History} from "./history.mjs";
import {followRooms} from "./live-counts.mjs";
import {MentionComplete} from "./mention-complete.mjs";
import {MentionNotify} from "./mention-notify.mjs";
import {Timeline} from "./keeping-up.mjs";
import {MessageList} from "./message-list.mjs";
import {Outbox, randomNonce} from "./outbox.mjs";
import {Pending} from "./pending.mjs";
import {ReadMarks} from "./read-marks.mjs";
import {renderMessage} from "./render.mjs";
import {Roster} from "./roster.mjs";
import {Schedule} from "./schedule.mjs";
import {startShare} from "./share.mjs";
import {Sidebar} from "./sidebar.mjs";
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
      tabTitle.seen();
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
        mentionNotify.onMessage(frame);
      },
      change: (frame) => {
        history.receive(frame);
        mentionNotify.onChange(frame);
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
      typing: (frame) => roster.onTyping(frame),
      scheduled: (frame) => schedule && schedule.receive(frame)
    },
    onOpen: () => {
      history.sync();
      composer.flush();
      readMarks.soon();
      if (schedule) {
        schedule.opened();
      }
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
  // Names complete from the room's members, who is here, and who wrote.
  new MentionComplete({
    input: element("message"),
    names: () => [
      ...(roster.members || []),
      ...Array.from(document.querySelectorAll(
        ".member-list .member-name, li.message:not(.guest):not(.bot) .handle"),
      (name) => name.textContent)
    ],
    myHandle
  });
  const mentionNotify = new MentionNotify({
    button: element("notify"),
    reader,
    label: list.dataset.label,
    findMessage: (seq) => list.querySelector("li.message[data-seq=\"" + Number(seq) + "\"]")
  });
  // Messages sent later: only for a reader with an identity.
  const schedule = element("later") && new Schedule({
    button: element("later"),
    menu: element("later-menu"),
    customInput: element("later-at"),
    list: element("scheduled"),
    messageInput: element("message"),
    connection,
    status,
    maxLength: Number(data.messageMaxLength) || 2000
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

  // A message first shown, live or caught up, in its place by seq.
  function showNew(message) {
    pane.addNewest(() => messageList.add(render(message)));
    pending.shown(message.id);
    if (!ownIds.has(Number(message.id))) {
      tabTitle.arrived();
    }
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
  composer.start();
  if (schedule) {
    schedule.start();
  }
  connection.connect();

  startShare({button: element("copy-link"), link: element("share-link"), status: element("copy-status")});

  // A signed-in reader's rooms, live over /stream/.
  const nav = element("sidebar");
  if (nav) {
    const sidebar = new Sidebar({
      nav,
      list: element("sidebar-rooms"),
      button: element("rooms-menu"),
      badge: element("rooms-menu-count"),
      current: data.label
    });
    followRooms((payload) => sidebar.update(payload));
  }
}

const page = document.getElementById("room");
const list = document.getElementById("messages");
// Without them, a members-only room turned this visitor away: no socket.
if (page && list) {
  start(page, list);
}
