// The room page's client. docs/protocol.md describes what it speaks:
// one WebSocket to /chat/<label>/, reconnected with backoff when it drops,
// and the /<label>/messages endpoint to catch up on whatever the socket
// missed, so every message the room stored is shown once, in order.
(function () {
  "use strict";

  var list = document.getElementById("messages");
  var form = document.getElementById("chatform");
  var handleInput = document.getElementById("handle");
  var messageInput = document.getElementById("message");
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var olderButton = document.getElementById("older");
  var label = list.dataset.label;
  var messagesUrl = list.dataset.messagesUrl;
  var scheme = window.location.protocol === "https:" ? "wss" : "ws";
  var socketUrl = scheme + "://" + window.location.host + "/chat/" + label + "/";

  // Reconnection backoff, in ms: doubled after each failure, with full jitter.
  var MIN_DELAY_MS = 500;
  var MAX_DELAY_MS = 10000;
  // How often an open socket checks that it has not silently stopped
  // receiving (for instance after the channel layer lost the room's Group), ms.
  var CHECK_EVERY_MS = 30000;
  // How long a stored message may take to arrive live before it counts as missed, ms.
  var ARRIVAL_GRACE_MS = 5000;
  var PAGE_SIZE = 100;

  var delayMs = MIN_DELAY_MS;
  var socket = null;
  var checkTimer = null;

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

  handleInput.value = window.localStorage.getItem("chat-handle") || "";

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

  // Built with textContent only: whatever a message holds is shown as text.
  function render(message) {
    var li = document.createElement("li");
    li.className = "message";
    li.dataset.id = message.id;
    li.dataset.seq = message.seq;
    var time = document.createElement("time");
    time.dateTime = message.timestamp;
    time.textContent = new Date(message.timestamp).toTimeString().slice(0, 8);
    var handle = document.createElement("span");
    handle.className = "handle";
    handle.textContent = message.handle;
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = message.message;
    li.append(time, " ", handle, " ", text);
    return li;
  }

  // Show the next message in sequence (seq == last.seq + 1).
  function append(message) {
    last = {id: message.id, seq: message.seq};
    if (shown.has(message.id)) {
      return;
    }
    shown.add(message.id);
    var li = render(message);
    list.appendChild(li);
    li.scrollIntoView({block: "end"});
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

  function connect() {
    setStatus("Connecting…");
    socket = new WebSocket(socketUrl);
    socket.onopen = function () {
      delayMs = MIN_DELAY_MS;
      setStatus("Connected");
      document.body.dataset.connected = "true";
      sync();
      checkTimer = window.setInterval(check, CHECK_EVERY_MS * (0.75 + Math.random() / 2));
    };
    socket.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (data.error) {
        showError(data.detail || data.error);
        if (data.error === "NOT_JOINED") {
          socket.close();
        }
      } else {
        arrivals += 1;
        data.arrival = arrivals;
        receive(data);
      }
    };
    socket.onclose = function () {
      document.body.dataset.connected = "false";
      window.clearInterval(checkTimer);
      // Full jitter, so that a room full of clients does not reconnect at once.
      var wait = Math.random() * delayMs;
      delayMs = Math.min(delayMs * 2, MAX_DELAY_MS);
      setStatus("Disconnected; reconnecting in " + Math.ceil(wait / 1000) + " s…");
      window.setTimeout(connect, wait);
    };
  }

  olderButton.addEventListener("click", function () {
    var first = list.querySelector("li[data-id]");
    var query = "limit=" + PAGE_SIZE + (first ? "&before=" + first.dataset.id : "");
    fetchPage(query).then(function (page) {
      var anchor = list.firstChild;
      page.messages.forEach(function (message) {
        if (!shown.has(message.id)) {
          shown.add(message.id);
          list.insertBefore(render(message), anchor);
        }
      });
      olderButton.hidden = !page.has_more;
    }, function () {
      showError("Older messages could not be loaded; try again.");
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected yet; your message was not sent.");
      return;
    }
    clearError();
    window.localStorage.setItem("chat-handle", handleInput.value);
    socket.send(JSON.stringify({handle: handleInput.value, message: messageInput.value}));
    messageInput.value = "";
    messageInput.focus();
  });

  connect();
}());
