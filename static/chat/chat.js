// The room page's client. docs/protocol.md describes what it speaks:
// one WebSocket to /chat/<label>/, reconnected with backoff when it drops,
// and the /<label>/messages endpoint to catch up on whatever the socket
// missed, so every message the room stored is shown once, in order. Around
// that it keeps the roster and the typing line from the presence frames,
// sends the heartbeat, and, for a signed-in reader, the read marks.
(function () {
  "use strict";

  var page = document.getElementById("room");
  var list = document.getElementById("messages");
  if (!page || !list) {
    return;  // a members-only room turned this visitor away: no socket
  }
  var scroller = document.getElementById("scroller");
  var form = document.getElementById("chatform");
  var handleInput = document.getElementById("handle");  // absent with a server-set handle
  var messageInput = document.getElementById("message");
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var olderButton = document.getElementById("older");
  var jumpButton = document.getElementById("jump");
  var typingLine = document.getElementById("typing");
  var roster = document.getElementById("roster");
  var memberList = document.getElementById("members");
  var othersLine = document.getElementById("others");
  var onlineCount = document.getElementById("online");
  var label = list.dataset.label;
  var messagesUrl = list.dataset.messagesUrl;
  var scheme = window.location.protocol === "https:" ? "wss" : "ws";
  var socketUrl = scheme + "://" + window.location.host + "/chat/" + label + "/";

  // Who this page speaks as: "user", "guest" or "" (each message names its sender).
  var identityKind = page.dataset.identityKind;
  var myHandle = page.dataset.handle;
  var PING_INTERVAL_MS = Number(page.dataset.pingIntervalMs) || 20000;
  var TYPING_INTERVAL_MS = Number(page.dataset.typingIntervalMs) || 2000;
  var READ_INTERVAL_MS = Number(page.dataset.readIntervalMs) || 5000;

  // Reconnection backoff, in ms: doubled after each failure, with full jitter.
  var MIN_DELAY_MS = 500;
  var MAX_DELAY_MS = 10000;
  // How often an open socket checks that it has not silently stopped
  // receiving (for instance after the channel layer lost the room's Group), ms.
  var CHECK_EVERY_MS = 30000;
  // How long a stored message may take to arrive live before it counts as missed, ms.
  var ARRIVAL_GRACE_MS = 5000;
  var PAGE_SIZE = 100;
  // How long "ann is typing…" stays after her last typing frame, ms.
  var TYPING_SHOWN_MS = 3000;
  // How close to the bottom of the pane still counts as reading the newest, px.
  var BOTTOM_SLACK_PX = 48;

  var delayMs = MIN_DELAY_MS;
  var socket = null;
  var checkTimer = null;
  var pingTimer = null;
  var reconnectTimer = null;
  // Set once the server has closed the socket for good (a members-only room).
  var refused = false;

  // Ids on the page, so a message is never shown twice.
  var shown = new Set();
  // The newest message shown with all its predecessors: {id, seq}.
  var last = {id: 0, seq: 0};
  // Live messages that arrived while catching up, or after a gap.
  var pending = [];
  var syncing = false;
  // Live messages received so far; each is stamped with its number.
  var arrivals = 0;

  list.querySelectorAll("li[data-id]").forEach(function (li) {
    shown.add(Number(li.dataset.id));
    last = {id: Number(li.dataset.id), seq: Number(li.dataset.seq)};
  });

  if (handleInput) {
    handleInput.value = window.localStorage.getItem("chat-handle") || "";
  }

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
  }

  function clearError() {
    errorLine.textContent = "";
    errorLine.hidden = true;
  }

  // Sends one frame if the socket is open; returns whether it did.
  function sendFrame(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  // ---- Times, in the reader's own time zone -------------------------------

  var clockFormat = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit"});
  var dayFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
  });
  var fullFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "full", timeStyle: "long"});

  function showTime(element, iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return;
    }
    var today = new Date().toDateString() === date.toDateString();
    element.textContent = (today ? clockFormat : dayFormat).format(date);
    element.title = fullFormat.format(date);
  }

  list.querySelectorAll("time[datetime]").forEach(function (time) {
    showTime(time, time.getAttribute("datetime"));
  });

  // ---- Scrolling ----------------------------------------------------------

  // Messages appended while the reader was scrolled up, not yet seen.
  var unseen = 0;
  // Whether the reader is following the newest messages (at the bottom).
  var following = true;

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    following = true;
  }

  function showJump() {
    jumpButton.textContent = unseen + (unseen === 1 ? " new message" : " new messages") + " ↓";
    jumpButton.hidden = unseen === 0;
  }

  scroller.addEventListener("scroll", function () {
    following = atBottom();
    if (unseen && following) {
      unseen = 0;
      showJump();
    }
    readSoon();
  }, {passive: true});

  // A pane that shrinks (a rotated phone, a growing composer) keeps a
  // reader who was following at the newest message.
  new ResizeObserver(function () {
    if (following) {
      scrollToBottom();
    }
  }).observe(scroller);

  jumpButton.addEventListener("click", function () {
    scrollToBottom();
    unseen = 0;
    showJump();
    messageInput.focus();
  });

  // ---- Messages -----------------------------------------------------------

  // Built with textContent only: whatever a message holds is shown as text.
  function render(message) {
    var li = document.createElement("li");
    li.className = "message";
    // Only a signed-in reader has messages of their own: a guest message
    // under their username is someone else's, and guest names are nobody's.
    if (identityKind === "user" && message.guest !== true && message.handle === myHandle) {
      li.classList.add("mine");
    }
    li.dataset.id = message.id;
    li.dataset.seq = message.seq;
    var handle = document.createElement("span");
    handle.className = "handle";
    handle.textContent = message.handle;
    var time = document.createElement("time");
    time.dateTime = message.timestamp;
    showTime(time, message.timestamp);
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = message.message;
    li.append(handle, " ");
    if (message.bot === true) {
      // Posted through the HTTP API: say so beside the handle.
      li.classList.add("bot");
      li.append(tag("bot-label", "bot"), " ");
    }
    if (message.guest === true) {
      // Sent by someone not signed in: the handle is theirs to pick.
      li.classList.add("guest");
      li.append(tag("guest-label", "guest"), " ");
    }
    li.append(time, " ");
    var image = renderImage(message);
    if (image) {
      li.append(image, " ");
    }
    li.append(text);
    return li;
  }

  function tag(className, text) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  }

  // Only a path on this site or an https:// address may be an image's
  // source or link: never javascript:, data: or a protocol-relative //host.
  function safeUrl(url) {
    if (typeof url !== "string") {
      return false;
    }
    if (url.charAt(0) === "/") {
      return url.charAt(1) !== "/" && url.charAt(1) !== "\\";
    }
    return url.slice(0, 8).toLowerCase() === "https://";
  }

  // An image message's thumbnail, linked to the original; null when the
  // message has no image, or one whose addresses are not to be trusted.
  // width and height are set so that the list does not jump as it loads.
  function renderImage(message) {
    var image = message.image;
    if (!image || typeof image !== "object" ||
        !safeUrl(image.url) || !safeUrl(image.thumbnail_url)) {
      return null;
    }
    var link = document.createElement("a");
    link.className = "image";
    link.setAttribute("href", image.url);
    link.setAttribute("target", "_blank");
    link.setAttribute("rel", "noopener noreferrer");
    var img = document.createElement("img");
    img.setAttribute("src", image.thumbnail_url);
    img.setAttribute("alt", typeof message.message === "string" ? message.message : "");
    img.setAttribute("loading", "lazy");
    var width = Number(image.width);
    var height = Number(image.height);
    if (Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) {
      img.setAttribute("width", String(width));
      img.setAttribute("height", String(height));
    }
    link.append(img);
    return link;
  }

  // Show the next message in sequence (seq == last.seq + 1).
  function append(message) {
    last = {id: message.id, seq: message.seq};
    if (shown.has(message.id)) {
      return;
    }
    shown.add(message.id);
    var follow = atBottom();
    list.appendChild(render(message));
    if (message.image) {
      imageArrived();
    }
    if (follow) {
      scrollToBottom();
    } else {
      unseen += 1;
      showJump();
    }
    readSoon();
  }

  function fetchPage(query) {
    return window.fetch(messagesUrl + "?" + query, {headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      });
  }

  // Fetch every stored message after the last one shown, page by page.
  function catchUp() {
    return fetchPage("after=" + last.id + "&limit=" + PAGE_SIZE).then(function (page) {
      page.messages.forEach(append);
      if (page.has_more) {
        return catchUp();
      }
    });
  }

  function sync() {
    if (syncing) {
      return;
    }
    syncing = true;
    var startedAt = arrivals;
    catchUp().then(function () {
      syncing = false;
      var held = pending.sort(function (a, b) { return a.seq - b.seq; });
      pending = [];
      held.forEach(function (message) {
        // A message that arrived before this catch-up began was stored after
        // all its predecessors, so the catch-up saw them: a gap left before it
        // is a hole in the history itself (a deleted message), not a loss.
        if (message.arrival <= startedAt && message.seq > last.seq + 1) {
          append(message);
        } else {
          receive(message);
        }
      });
    }, function () {
      syncing = false;
      window.setTimeout(sync, MIN_DELAY_MS + Math.random() * MAX_DELAY_MS);
    });
  }

  function receive(message) {
    if (syncing) {
      pending.push(message);
    } else if (message.seq <= last.seq) {
      return;  // already shown
    } else if (message.seq === last.seq + 1) {
      append(message);
    } else {
      // A gap: something was lost on the way. Fetch it, then go on.
      pending.push(message);
      sync();
    }
  }

  // Has the socket silently stopped receiving? If a stored message has not
  // arrived live within the grace period, catch up and rejoin the room.
  function check() {
    fetchPage("after=" + last.id + "&limit=1").then(function (page) {
      if (!page.messages.length) {
        return;
      }
      var missing = page.messages[0].id;
      window.setTimeout(function () {
        if (!shown.has(missing) && socket) {
          sync();
          socket.close();
        }
      }, ARRIVAL_GRACE_MS);
    }, function () {});
  }

  // ---- Read marks (signed-in readers only) --------------------------------

  var readSent = Number(page.dataset.readSeq) || 0;
  var readSentAt = -Infinity;
  var readTimer = null;

  // Is the newest message shown at least partly inside the pane?
  function newestOnScreen() {
    var newest = list.lastElementChild;
    if (!newest) {
      return false;
    }
    var item = newest.getBoundingClientRect();
    var pane = scroller.getBoundingClientRect();
    return item.top < pane.bottom && item.bottom > pane.top;
  }

  // Send {"type": "read"} when the reader has seen further than last time,
  // at most once every READ_INTERVAL_MS (unless `now`).
  function sendRead(now) {
    if (identityKind !== "user" || last.seq <= readSent || !newestOnScreen()) {
      return;
    }
    var wait = readSentAt + READ_INTERVAL_MS - Date.now();
    if (!now && wait > 0) {
      if (!readTimer) {
        readTimer = window.setTimeout(function () {
          readTimer = null;
          readSoon();
        }, wait);
      }
      return;
    }
    if (sendFrame({type: "read", seq: last.seq})) {
      readSent = last.seq;
      readSentAt = Date.now();
    }
  }

  function readSoon() {
    if (document.visibilityState === "visible") {
      sendRead(false);
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      sendRead(true);
    } else {
      readSoon();
    }
  });

  // ---- Presence: the roster ------------------------------------------------

  // The handles present, when the room is small enough to name them; else null.
  var members = [];
  var counted = 0;  // with members null: how many handles are present
  var anonymous = 0;

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  function showRoster() {
    var total;
    memberList.replaceChildren();
    if (members) {
      members.forEach(function (handle) {
        var li = document.createElement("li");
        li.textContent = handle;
        if (handle === myHandle) {
          li.className = "me";
          var you = document.createElement("span");
          you.className = "you";
          you.textContent = " (you)";
          li.append(you);
        }
        memberList.append(li);
      });
      total = members.length + anonymous;
      if (!anonymous) {
        othersLine.textContent = "";
      } else if (members.length) {
        othersLine.textContent = "and " + plural(anonymous, "other", "others") + " without a name";
      } else {
        othersLine.textContent = plural(anonymous, "person", "people") + " without a name";
      }
    } else {
      total = counted + anonymous;
      othersLine.textContent = plural(counted, "person", "people") +
        (anonymous ? " and " + plural(anonymous, "other", "others") : "") + " here";
    }
    othersLine.hidden = !othersLine.textContent;
    onlineCount.textContent = total + " online";
  }

  function onPresence(frame) {
    anonymous = Number(frame.anonymous) || 0;
    if (Array.isArray(frame.members)) {
      members = frame.members.slice().sort();
    } else {
      members = null;
      counted = Number(frame.count) || 0;
    }
    showRoster();
  }

  function onJoin(frame) {
    if (members && members.indexOf(frame.handle) < 0) {
      members.push(frame.handle);
      members.sort();
      showRoster();
    }
  }

  function onLeave(frame) {
    if (members && members.indexOf(frame.handle) >= 0) {
      members.splice(members.indexOf(frame.handle), 1);
      showRoster();
    }
    stopTyping(frame.handle);
  }

  // The roster sits beside the messages on a wide screen and folds away on
  // a narrow one, where the reader opens it on demand.
  var wide = window.matchMedia("(min-width: 56rem)");
  roster.open = wide.matches;
  wide.addEventListener("change", function (event) {
    roster.open = event.matches;
  });

  // ---- Typing -------------------------------------------------------------

  // Handle -> the timer that takes it off the typing line.
  var typing = new Map();

  function showTyping() {
    var names = Array.from(typing.keys());
    var text = "";
    if (names.length === 1) {
      text = names[0] + " is typing…";
    } else if (names.length === 2 || names.length === 3) {
      text = names.slice(0, -1).join(", ") + " and " + names[names.length - 1] + " are typing…";
    } else if (names.length > 3) {
      text = "Several people are typing…";
    }
    if (typingLine.textContent !== text) {
      typingLine.textContent = text;
    }
  }

  function onTyping(frame) {
    if (!frame.handle || frame.handle === myHandle) {
      return;
    }
    window.clearTimeout(typing.get(frame.handle));
    typing.set(frame.handle, window.setTimeout(function () {
      stopTyping(frame.handle);
    }, TYPING_SHOWN_MS));
    showTyping();
  }

  function stopTyping(handle) {
    if (typing.has(handle)) {
      window.clearTimeout(typing.get(handle));
      typing.delete(handle);
      showTyping();
    }
  }

  var typingSentAt = -Infinity;

  messageInput.addEventListener("input", function () {
    fitComposer();
    if (!messageInput.value.trim() || Date.now() - typingSentAt < TYPING_INTERVAL_MS) {
      return;
    }
    if (sendFrame({type: "typing"})) {
      typingSentAt = Date.now();
    }
  });

  // ---- The socket ---------------------------------------------------------

  function onError(frame) {
    showError(frame.detail || frame.error);
    if (frame.error === "NOT_JOINED") {
      socket.close();
    } else if (frame.error === "ROOM_ACCESS_DENIED") {
      refused = true;
    }
  }

  function connect() {
    setStatus("Connecting…");
    socket = new WebSocket(socketUrl);
    socket.onopen = function () {
      delayMs = MIN_DELAY_MS;
      setStatus("Connected");
      document.body.dataset.connected = "true";
      sync();
      checkTimer = window.setInterval(check, CHECK_EVERY_MS * (0.75 + Math.random() / 2));
      pingTimer = window.setInterval(function () {
        sendFrame({type: "ping"});
      }, PING_INTERVAL_MS);
      readSoon();
      if (!identityKind) {
        // A socket without an identity hears presence once it sends a typed frame.
        sendFrame({type: "ping"});
      }
    };
    socket.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (data === null || typeof data !== "object") {
        return;
      }
      // Frames from before 2026-11-30 carry no type: an error or a message.
      var type = data.type || ("error" in data ? "error" : "message");
      if (type === "message") {
        stopTyping(data.handle);
        arrivals += 1;
        data.arrival = arrivals;
        receive(data);
      } else if (type === "error") {
        onError(data);
      } else if (type === "presence") {
        onPresence(data);
      } else if (type === "join") {
        onJoin(data);
      } else if (type === "leave") {
        onLeave(data);
      } else if (type === "typing") {
        onTyping(data);
      }
      // "pong", and any type added later, needs nothing.
    };
    socket.onclose = function (event) {
      document.body.dataset.connected = "false";
      window.clearInterval(checkTimer);
      window.clearInterval(pingTimer);
      // Nobody is known to be typing until the socket is back.
      typing.forEach(function (timer) { window.clearTimeout(timer); });
      typing.clear();
      showTyping();
      if (refused || event.code === 4003) {
        setStatus("This room is for signed-in members only.");
        return;
      }
      // Full jitter, so that a room full of clients does not reconnect at once.
      var wait = Math.random() * delayMs;
      delayMs = Math.min(delayMs * 2, MAX_DELAY_MS);
      setStatus("Disconnected; reconnecting in " + Math.ceil(wait / 1000) + " s…");
      reconnectTimer = window.setTimeout(connect, wait);
    };
  }

  // A page left for another may be kept, frozen, for the Back button, and
  // its socket with it: the reader would stay in the roster, and the read
  // mark unwritten, until the browser dropped the page. So the socket is
  // closed on the way out and a new one opened if the page comes back.
  window.addEventListener("pagehide", function () {
    sendRead(true);
    var leaving = socket;
    socket = null;
    window.clearInterval(checkTimer);
    window.clearInterval(pingTimer);
    window.clearTimeout(reconnectTimer);
    if (leaving) {
      leaving.onclose = null;
      leaving.close();
    }
    document.body.dataset.connected = "false";
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted && !socket) {
      connect();
    }
  });

  // ---- History and the composer ---------------------------------------------

  olderButton.addEventListener("click", function () {
    var first = list.querySelector("li[data-id]");
    var query = "limit=" + PAGE_SIZE + (first ? "&before=" + first.dataset.id : "");
    fetchPage(query).then(function (page) {
      // Keep the messages the reader is looking at where they are.
      var fromBottom = scroller.scrollHeight - scroller.scrollTop;
      var anchor = list.firstChild;
      page.messages.forEach(function (message) {
        if (!shown.has(message.id)) {
          shown.add(message.id);
          list.insertBefore(render(message), anchor);
        }
      });
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      olderButton.hidden = !page.has_more;
    }, function () {
      showError("Older messages could not be loaded; try again.");
    });
  });

  // The composer grows with what is typed, up to the height its CSS allows.
  function fitComposer() {
    messageInput.style.height = "auto";
    messageInput.style.height = messageInput.scrollHeight + "px";
  }

  messageInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected yet; your message was not sent.");
      return;
    }
    clearError();
    var frame;
    if (handleInput) {
      window.localStorage.setItem("chat-handle", handleInput.value);
      frame = {handle: handleInput.value, message: messageInput.value};
    } else {
      frame = {type: "message", message: messageInput.value};
    }
    socket.send(JSON.stringify(frame));
    messageInput.value = "";
    fitComposer();
    messageInput.focus();
    // Whoever speaks wants to see the answer.
    scrollToBottom();
    unseen = 0;
    showJump();
  });

  // ---- Images: attach, paste or drop one to send it -------------------------

  // POST /<label>/upload/ stores the image and queues the job that makes
  // its thumbnail; the page then polls the job's status until it is done
  // (the image's message arrives like any other, over the socket) or has
  // failed (shown beside the composer, with Retry when the job allows it).
  var uploadUrl = form.dataset.uploadUrl;
  var attachButton = document.getElementById("attach");
  var imageInput = document.getElementById("image-input");
  var uploadList = document.getElementById("uploads");
  // Polling a job's status: every POLL_MIN_MS at first, backing off to POLL_MAX_MS.
  var POLL_MIN_MS = 1000;
  var POLL_MAX_MS = 5000;

  // The CSRF token: from the composer's own hidden field, else the cookie.
  function csrfToken() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) {
      return field.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The body of an answer as JSON, or null when it is not JSON.
  function answerJson(response) {
    return response.json().catch(function () { return null; });
  }

  // POST `body` (a FormData) to `url` with XMLHttpRequest, which, unlike
  // fetch, reports how much of a request body has gone: calls
  // onProgress(fraction sent, 0 to 1) as the browser sends it. Resolves to
  // {ok, status, body}, the answer's body parsed as JSON (null when it is
  // not JSON); rejects when no answer comes (network error or abort).
  function postWithProgress(url, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var request = new XMLHttpRequest();
      request.open("POST", url);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable && event.total > 0) {
          onProgress(Math.min(event.loaded / event.total, 1));
        }
      });
      request.addEventListener("load", function () {
        var answer = null;
        try {
          answer = JSON.parse(request.responseText);
        } catch (error) {
          answer = null;
        }
        resolve({
          ok: request.status >= 200 && request.status < 300,
          status: request.status,
          body: answer
        });
      });
      request.addEventListener("error", reject);
      request.addEventListener("abort", reject);
      request.send(body);
    });
  }

  function refusal(response, body) {
    if (body && typeof body.detail === "string" && body.detail) {
      return body.detail;
    }
    if (response.status === 413) {
      return "That file is too large to send.";
    }
    return "The image could not be sent (HTTP " + response.status + ").";
  }

  function isImage(file) {
    return Boolean(file) && /^image\//.test(file.type || "");
  }

  // The images whose jobs are being followed.
  var followedUploads = new Set();

  function showUploads() {
    uploadList.hidden = !uploadList.firstElementChild;
  }

  // An image message has arrived: it may be one of ours, so ask at once
  // rather than at the next poll, to take its item away as it shows.
  function imageArrived() {
    followedUploads.forEach(function (upload) {
      if (upload.timer !== null) {
        window.clearTimeout(upload.timer);
        upload.timer = null;
        upload.poll();
      }
    });
  }

  // One image being sent, shown beside the composer while its job runs.
  function Upload(file) {
    this.name = file.name || "image";
    this.statusUrl = null;
    this.timer = null;
    this.delayMs = POLL_MIN_MS;
    this.item = document.createElement("li");
    this.item.className = "upload";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = this.name;
    this.state = document.createElement("span");
    this.state.className = "upload-state";
    // How much of the file has gone, while it is being sent. The bar and
    // the figure are not text of the live list, so they are not read out
    // at every step; a screen reader finds the bar by its label.
    this.progress = document.createElement("progress");
    this.progress.className = "upload-progress";
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", "Sent of " + this.name);
    this.percent = document.createElement("span");
    this.percent.className = "upload-percent";
    this.percent.setAttribute("aria-hidden", "true");
    this.percent.textContent = "0 %";
    this.retryButton = document.createElement("button");
    this.retryButton.type = "button";
    this.retryButton.className = "retry";
    this.retryButton.textContent = "Retry";
    this.retryButton.hidden = true;
    this.dismissButton = document.createElement("button");
    this.dismissButton.type = "button";
    this.dismissButton.className = "dismiss";
    this.dismissButton.textContent = "Dismiss";
    this.dismissButton.hidden = true;
    this.item.append(
      name, " ", this.state, " ", this.progress, " ", this.percent, " ",
      this.retryButton, " ", this.dismissButton
    );
    this.retryButton.addEventListener("click", this.retry.bind(this));
    this.dismissButton.addEventListener("click", function () {
      this.remove();
      messageInput.focus();
    }.bind(this));
    uploadList.append(this.item);
    showUploads();
  }

  Upload.prototype.show = function (state, text) {
    this.item.dataset.state = state;
    this.state.textContent = text;
    var failed = state === "failed";
    this.retryButton.hidden = !(failed && this.retryable);
    this.dismissButton.hidden = !failed;
    this.progress.hidden = this.percent.hidden = state !== "uploading";
  };

  // `fraction` (0 to 1) of the file has been sent.
  Upload.prototype.sent = function (fraction) {
    var percent = Math.floor(fraction * 100);
    this.progress.value = percent;
    this.percent.textContent = percent + " %";
  };

  Upload.prototype.remove = function () {
    window.clearTimeout(this.timer);
    this.timer = null;
    followedUploads.delete(this);
    this.item.remove();
    showUploads();
  };

  // A 202 from the upload or the retry endpoint: the job is queued.
  Upload.prototype.queued = function (body) {
    if (!body || typeof body.status_url !== "string" || !safeUrl(body.status_url) ||
        body.status_url.charAt(0) !== "/") {
      this.fail("The server's answer was not understood.", false);
      return;
    }
    this.statusUrl = body.status_url;
    this.delayMs = POLL_MIN_MS;
    followedUploads.add(this);
    this.update(body);
  };

  // Show a status answer ({"status", "error", "retryable"}) and poll on.
  Upload.prototype.update = function (body) {
    var status = body && body.status;
    window.clearTimeout(this.timer);
    this.timer = null;
    if (status === "done") {
      // The message itself comes over the socket, or in the next catch-up.
      this.remove();
    } else if (status === "failed") {
      this.fail(typeof body.error === "string" && body.error ? body.error
        : "Could not process image.", body.retryable === true);
    } else {
      this.show("processing", "Processing image…");
      this.timer = window.setTimeout(this.poll.bind(this), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 1.5, POLL_MAX_MS);
    }
  };

  Upload.prototype.fail = function (text, retryable) {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.retryable = retryable;
    this.show("failed", text);
  };

  Upload.prototype.poll = function () {
    var upload = this;
    window.fetch(upload.statusUrl, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        return answerJson(response).then(function (body) {
          if (response.ok) {
            upload.update(body);
          } else if (response.status >= 400 && response.status < 500 && response.status !== 429) {
            upload.fail(refusal(response, body), false);
          } else {
            upload.update({status: "processing"});  // the server is busy: ask again later
          }
        });
      }, function () {
        upload.update({status: "processing"});  // offline for now: ask again later
      });
  };

  Upload.prototype.retry = function () {
    var upload = this;
    upload.retryButton.hidden = true;
    upload.show("processing", "Processing image…");
    window.fetch(upload.statusUrl + "retry/", {
      method: "POST",
      headers: {Accept: "application/json", "X-CSRFToken": csrfToken()},
      credentials: "same-origin"
    }).then(function (response) {
      return answerJson(response).then(function (body) {
        if (response.ok) {
          upload.queued(Object.assign({status_url: upload.statusUrl}, body));
        } else if (response.status === 409) {
          // Done or running after all: the status says which.
          upload.delayMs = POLL_MIN_MS;
          upload.poll();
        } else {
          upload.fail(refusal(response, body), true);
        }
      });
    }, function () {
      upload.fail("The image could not be sent again; check the connection and retry.", true);
    });
  };

  // Send one image file, with `caption` (str, may be empty) as its message.
  // Resolves to whether the server took it.
  function sendImage(file, caption) {
    var upload = new Upload(file);
    upload.show("uploading", "Uploading image…");
    var body = new FormData();
    body.append("image", file, upload.name);
    if (caption) {
      body.append("message", caption);
    }
    if (handleInput) {
      body.append("handle", handleInput.value);
    }
    return postWithProgress(uploadUrl, body, upload.sent.bind(upload)).then(function (response) {
      if (response.ok) {
        upload.queued(response.body);
        return true;
      }
      upload.remove();
      showError(refusal(response, response.body));
      return false;
    }, function () {
      upload.remove();
      showError("The image could not be sent; check the connection and try again.");
      return false;
    });
  }

  // Send the images among `files`; what is typed goes with the first as
  // its caption, and comes back to the composer if that one is refused.
  function sendImages(files) {
    files = Array.from(files || []);
    if (!files.length) {
      return;
    }
    clearError();
    if (handleInput && !handleInput.value.trim()) {
      showError("Type a name for this message before sending an image.");
      handleInput.focus();
      return;
    }
    if (handleInput) {
      window.localStorage.setItem("chat-handle", handleInput.value);
    }
    var caption = messageInput.value.trim() ? messageInput.value : "";
    messageInput.value = "";
    fitComposer();
    files.forEach(function (file, index) {
      sendImage(file, index === 0 ? caption : "").then(function (taken) {
        if (!taken && index === 0 && caption && !messageInput.value) {
          messageInput.value = caption;
          fitComposer();
        }
      });
    });
    // Whoever sends wants to see it arrive.
    scrollToBottom();
    unseen = 0;
    showJump();
  }

  attachButton.addEventListener("click", function () {
    imageInput.click();
  });

  imageInput.addEventListener("change", function () {
    var files = Array.from(imageInput.files);
    // Cleared, so that picking the same file again still sends it.
    imageInput.value = "";
    sendImages(files);
  });

  // A pasted image is sent; pasted text is typed as usual.
  form.addEventListener("paste", function (event) {
    var files = Array.from((event.clipboardData && event.clipboardData.files) || []).filter(isImage);
    if (files.length) {
      event.preventDefault();
      sendImages(files);
    }
  });

  function carriesFiles(event) {
    return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types).indexOf("Files") >= 0;
  }

  form.addEventListener("dragover", function (event) {
    if (carriesFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("dropping");
    }
  });

  form.addEventListener("dragleave", function (event) {
    if (!form.contains(event.relatedTarget)) {
      form.classList.remove("dropping");
    }
  });

  form.addEventListener("drop", function (event) {
    form.classList.remove("dropping");
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    var files = Array.from(event.dataTransfer.files);
    var images = files.filter(isImage);
    if (images.length) {
      sendImages(images);
    } else if (files.length) {
      showError("Only images can be sent.");
    }
  });

  // A file dropped beside the composer would make the browser leave the
  // room to open it: refuse the drop there instead.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (event) {
      if (carriesFiles(event) && !form.contains(event.target)) {
        event.preventDefault();
        if (event.type === "dragover") {
          event.dataTransfer.dropEffect = "none";
        }
      }
    });
  });

  // ---- Start ----------------------------------------------------------------

  var divider = document.getElementById("unread");
  if (divider) {
    divider.scrollIntoView({block: "start"});
    following = atBottom();
  } else {
    scrollToBottom();
  }
  connect();
}());
