// Who is in the room and who is typing, from the presence frames
// (docs/protocol.md): the roster ("Here now"), with the reader marked
// "(you)" or, in a large room, only counts; and the typing line ("ann is
// typing…").

// How long "ann is typing…" stays after her last typing frame, ms.
const TYPING_SHOWN_MS = 3000;

function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many);
}

export class Roster {
  // `roster`: the <details> #roster; `memberList`: #members; `othersLine`:
  // #others; `onlineCount`: #online; `typingLine`: #typing. `myHandle`: the
  // reader's own handle ("" without one).
  constructor({roster, memberList, othersLine, onlineCount, typingLine, myHandle}) {
    this.memberList = memberList;
    this.othersLine = othersLine;
    this.onlineCount = onlineCount;
    this.typingLine = typingLine;
    this.myHandle = myHandle;
    // The handles present, when the room is small enough to name them; else null.
    this.members = [];
    this.counted = 0;  // with members null: how many handles are present
    this.anonymous = 0;
    // Handle -> the timer that takes it off the typing line.
    this.typing = new Map();

    // The roster sits beside the messages on a wide screen and folds away
    // on a narrow one, where the reader opens it on demand.
    const wide = window.matchMedia("(min-width: 56rem)");
    roster.open = wide.matches;
    wide.addEventListener("change", (event) => {
      roster.open = event.matches;
    });
  }

  show() {
    const members = this.members;
    const anonymous = this.anonymous;
    const othersLine = this.othersLine;
    let total;
    this.memberList.replaceChildren();
    if (members) {
      members.forEach((handle) => {
        const li = document.createElement("li");
        li.textContent = handle;
        if (handle === this.myHandle) {
          li.className = "me";
          const you = document.createElement("span");
          you.className = "you";
          you.textContent = " (you)";
          li.append(you);
        }
        this.memberList.append(li);
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
      total = this.counted + anonymous;
      othersLine.textContent = plural(this.counted, "person", "people") +
        (anonymous ? " and " + plural(anonymous, "other", "others") : "") + " here";
    }
    othersLine.hidden = !othersLine.textContent;
    this.onlineCount.textContent = total + " online";
  }

  // A {"type": "presence"} frame: everyone present, named or counted.
  onPresence(frame) {
    this.anonymous = Number(frame.anonymous) || 0;
    if (Array.isArray(frame.members)) {
      this.members = frame.members.slice().sort();
    } else {
      this.members = null;
      this.counted = Number(frame.count) || 0;
    }
    this.show();
  }

  onJoin(frame) {
    if (this.members && this.members.indexOf(frame.handle) < 0) {
      this.members.push(frame.handle);
      this.members.sort();
      this.show();
    }
  }

  onLeave(frame) {
    if (this.members && this.members.indexOf(frame.handle) >= 0) {
      this.members.splice(this.members.indexOf(frame.handle), 1);
      this.show();
    }
    this.stopTyping(frame.handle);
  }

  showTyping() {
    const names = Array.from(this.typing.keys());
    let text = "";
    if (names.length === 1) {
      text = names[0] + " is typing…";
    } else if (names.length === 2 || names.length === 3) {
      text = names.slice(0, -1).join(", ") + " and " + names[names.length - 1] + " are typing…";
    } else if (names.length > 3) {
      text = "Several people are typing…";
    }
    if (this.typingLine.textContent !== text) {
      this.typingLine.textContent = text;
    }
  }

  // A {"type": "typing"} frame: show its handle on the typing line for a while.
  onTyping(frame) {
    if (!frame.handle || frame.handle === this.myHandle) {
      return;
    }
    window.clearTimeout(this.typing.get(frame.handle));
    this.typing.set(frame.handle, window.setTimeout(() => {
      this.stopTyping(frame.handle);
    }, TYPING_SHOWN_MS));
    this.showTyping();
  }

  // `handle` has stopped typing (it sent its message, or left).
  stopTyping(handle) {
    if (this.typing.has(handle)) {
      window.clearTimeout(this.typing.get(handle));
      this.typing.delete(handle);
      this.showTyping();
    }
  }

  // Nobody is known to be typing until the socket is back.
  clearTyping() {
    this.typing.forEach((timer) => window.clearTimeout(timer));
    this.typing.clear();
    this.showTyping();
  }
}
