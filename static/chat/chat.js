// The room page's client: one WebSocket to /chat/<label>/, reconnecting
// with backoff when it drops. docs/protocol.md describes the frames.
(function () {
  "use strict";

  var list = document.getElementById("messages");
  var form = document.getElementById("chatform");
  var handleInput = document.getElementById("handle");
  var messageInput = document.getElementById("message");
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var label = list.dataset.label;
  var scheme = window.location.protocol === "https:" ? "wss" : "ws";
  var url = scheme + "://" + window.location.host + "/chat/" + label + "/";

  var MIN_DELAY_MS = 500;
  var MAX_DELAY_MS = 10000;
  var delayMs = MIN_DELAY_MS;
  var socket = null;

  // Ids already on the page, so a message is never shown twice.
  var shown = new Set();
  list.querySelectorAll("li[data-id]").forEach(function (li) {
    shown.add(Number(li.dataset.id));
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
  function append(message) {
    if (shown.has(message.id)) {
      return;
    }
    shown.add(message.id);
    var li = document.createElement("li");
    li.className = "message";
    li.dataset.id = message.id;
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
    list.appendChild(li);
    li.scrollIntoView({block: "end"});
  }

  function connect() {
    setStatus("Connecting…");
    socket = new WebSocket(url);
    socket.onopen = function () {
      delayMs = MIN_DELAY_MS;
      setStatus("Connected");
      document.body.dataset.connected = "true";
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
      } else {
        append(data);
      }
    };
    socket.onclose = function () {
      document.body.dataset.connected = "false";
      // Full jitter, so that a room full of clients does not reconnect at once.
      var wait = Math.random() * delayMs;
      delayMs = Math.min(delayMs * 2, MAX_DELAY_MS);
      setStatus("Disconnected; reconnecting in " + Math.ceil(wait / 1000) + " s…");
      window.setTimeout(connect, wait);
    };
  }

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
