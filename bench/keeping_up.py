"""The client side of the chat's delivery promise, as a state machine with
no I/O: docs/protocol.md, "Keeping up: what a client does". A message that
got an ``id`` reaches every member, live or through a catch-up over
``GET /<label>/messages``; a client shows each one once, in ``seq`` order.

The rules are those of the room page's ``Timeline``, in
``static/chat/room/keeping-up.mjs`` (proven by tests/js/keeping-up.test.mjs);
this is their Python copy, method for method, used by the fault tests'
clients (``tests/faults/harness.py``) and by the load generator
(``bench/client.py``). The caller owns the socket and the HTTP fetches and
tells a ``Timeline`` what came in:

    outcome = timeline.receive(frame)        # every live message frame
    if outcome == GAP:                       # or after a (re)connect
        after = timeline.begin_catch_up()
        try:
            while True:
                page = fetch(after=after)    # {"messages": [...], "has_more": bool}
                after = timeline.show_page(page["messages"])
                if not page["has_more"]:
                    break
        except FetchFailed:
            timeline.abort_catch_up()        # held messages stay held
        else:
            again = timeline.end_catch_up()  # True: catch up once more

A message is a dict of the live shape, ``{"id", "seq", "timestamp",
"handle", "message"}``; only ``id`` and ``seq`` (ints) are read here.

Since 2026-12-05 a room's ``seq`` numbers its events: new messages and
changes to them (docs/conversations.md). A ``Timeline(follow_changes=True)``
keeps the rules of that version: a change frame (``{"type": "change",
"seq", "object"}``) is one more event in the stream, and a catch-up asks
``after_seq=<last seq>`` (``catch_up_parameter``), which returns every
message posted or changed since, in its current state; ``messages`` holds
each message's current state by id. Without it, the rules are those of
2026-11-30: change frames are ignored, as such a client ignores frame
types it does not know, and a catch-up asks ``after=<last id>``; a change
then shows as a gap in ``seq``, which a catch-up finds to be a hole. (The
page's module follows the rules of 2026-11-30 until it learns changes.)
"""

# What ``Timeline.receive`` did with a frame (str).
SHOWN = "shown"  # a message, shown now: it was the next in sequence
CHANGED = "changed"  # a change, applied now: it was the next in sequence
OLD = "old"  # dropped: its seq was already shown (or its id, twice)
HELD = "held"  # held until the catch-up under way (or due) ends
GAP = "gap"  # held, and a gap appeared: the caller must start a catch-up now
IGNORED = "ignored"  # a change frame, which the 2026-11-30 rules ignore


def _seq_of_held(item):
    return item[1]["seq"]


def _is_change(frame):
    return frame.get("type") == "change"


class Timeline:
    """What one client has shown of one room, and what it holds back.

    ``last_id`` and ``last_seq`` (ints) are those of the newest message
    shown with all its predecessors (0 before any; pass them in when the
    client starts from a page that already shows messages). ``shown`` lists
    the ids shown, in the order shown, and ``shown_set`` holds them;
    ``count`` is how many were shown; ``duplicates`` counts messages shown
    twice by id, which the rules never do unless the server sends a stored
    message again where it may not (must stay 0). With ``keep_shown`` False
    neither ``shown`` nor ``shown_set`` is kept, for a client that only
    needs the order and the counts (and ``duplicates`` then stays 0).

    ``pending`` holds ``(arrival, message)`` pairs: live messages held
    during a catch-up or after a gap. ``arrivals`` numbers the live messages
    received so far. ``catching_up`` is True from ``begin_catch_up`` to
    ``end_catch_up`` or ``abort_catch_up``; ``catch_up_due`` is True from a
    gap (``receive`` returned ``GAP``, or ``end_catch_up`` True) until the
    caller begins that catch-up. While either is True, live messages are
    held, as the page holds them while it catches up.

    ``on_show(message)``, when given, is called once for each message as
    it is first shown, live or from a page.

    With ``follow_changes`` (the rules of 2026-12-05), change frames are
    events too: ``receive`` applies one that is next in sequence
    (``CHANGED``), and ``on_change(message)``, when given, is called with
    the message's new state; ``messages`` maps each message's id to its
    current state (dict; kept with ``keep_shown``); ``changes`` counts the
    changes applied, live or from a page. ``catch_up_parameter`` names the
    catch-up's query parameter: ``"after_seq"``, else ``"after"``.
    """

    __slots__ = (
        "on_show",
        "on_change",
        "keep_shown",
        "follow_changes",
        "catch_up_parameter",
        "last_id",
        "last_seq",
        "shown",
        "shown_set",
        "messages",
        "count",
        "changes",
        "duplicates",
        "pending",
        "arrivals",
        "catching_up",
        "catch_up_due",
        "started_at",
        "caught_from",
        "_caught",
    )

    def __init__(
        self,
        on_show=None,
        keep_shown=True,
        last_id=0,
        last_seq=0,
        follow_changes=False,
        on_change=None,
    ):
        self.on_show = on_show
        self.on_change = on_change
        self.keep_shown = keep_shown
        self.follow_changes = follow_changes
        self.catch_up_parameter = "after_seq" if follow_changes else "after"
        self.last_id = last_id
        self.last_seq = last_seq
        self.shown = []
        self.shown_set = set()
        self.messages = {}
        self.count = 0
        self.changes = 0
        self.duplicates = 0
        self.pending = []
        self.arrivals = 0
        self.catching_up = False
        self.catch_up_due = False
        # ``arrivals`` and ``last_seq`` when the current catch-up began, and
        # the ids it has shown.
        self.started_at = 0
        self.caught_from = 0
        self._caught = set()

    def receive(self, frame):
        """Take one live message or change frame (dict). Returns
        ``SHOWN``, ``CHANGED``, ``OLD``, ``HELD``, ``GAP``, or ``IGNORED``
        for a change frame without ``follow_changes``; on ``GAP`` the
        caller starts a catch-up (``begin_catch_up``) as soon as it can.
        docs/protocol.md, "Keeping up", step 2."""
        if _is_change(frame) and not self.follow_changes:
            return IGNORED
        self.arrivals += 1
        return self._take(self.arrivals, frame)

    def _take(self, arrival, frame):
        if self.catching_up or self.catch_up_due:
            self.pending.append((arrival, frame))
            return HELD
        seq = frame["seq"]
        if seq <= self.last_seq:
            return OLD
        if seq == self.last_seq + 1:
            return self._apply(frame)
        # A gap: something was lost on the way. Fetch it, then go on.
        self.pending.append((arrival, frame))
        self.catch_up_due = True
        return GAP

    def _apply(self, frame):
        """Take ``frame``, the next event in sequence: show a message, or
        apply a change. Returns ``SHOWN``, ``CHANGED`` or ``OLD``."""
        if _is_change(frame):
            self.last_seq = frame["seq"]
            self._change(frame["object"])
            return CHANGED
        return SHOWN if self._append(frame) else OLD

    def _append(self, message):
        """Show ``message`` as the next in sequence (the page's ``append()``).
        Returns False when its id was shown already."""
        message_id = message["id"]
        self.last_id = message_id
        self.last_seq = message["seq"]
        return self._show(message)

    def _show(self, message):
        """Show ``message`` for the first time; False when its id was
        shown already."""
        message_id = message["id"]
        if self.keep_shown:
            if message_id in self.shown_set:
                self.duplicates += 1
                return False
            self.shown.append(message_id)
            self.shown_set.add(message_id)
            if self.follow_changes:
                self.messages[message_id] = message
        self.count += 1
        if self.on_show is not None:
            self.on_show(message)
        return True

    def _change(self, message):
        """``message`` (dict) is the new state of a message: replace what
        is kept of it."""
        if self.keep_shown:
            self.messages[message["id"]] = message
        self.changes += 1
        if self.on_change is not None:
            self.on_change(message)

    def begin_catch_up(self):
        """Start a catch-up: from now on live frames are held. Returns the
        number (int) to fetch the first page with, as
        ``catch_up_parameter``: the last seq with ``follow_changes``, else
        the last id. Raises ``RuntimeError`` if one is already under way
        (callers run one at a time, as the page does)."""
        if self.catching_up:
            raise RuntimeError("A catch-up is already under way")
        self.catching_up = True
        self.catch_up_due = False
        self.started_at = self.arrivals
        self.caught_from = self.last_seq
        self._caught = set()
        return self.last_seq if self.follow_changes else self.last_id

    def show_page(self, messages):
        """Show one fetched page's ``messages`` (list of dicts, in the
        endpoint's order). Returns the number (int) to fetch the next page
        with, as ``begin_catch_up`` does.

        With ``follow_changes`` the page is of ``after_seq``: each message,
        in the order of its ``version`` (its ``seq`` when it has none), is
        shown if new, else replaces what is kept of it; the last seq
        becomes its version. A message changed twice while the client was
        away comes once, in its current state: the seq of the earlier
        change is never seen, a hole in the history, not a loss."""
        if not self.catching_up:
            raise RuntimeError("No catch-up is under way")
        if not self.follow_changes:
            for message in messages:
                self._append(message)
            return self.last_id
        for message in messages:
            message_id = message["id"]
            self.last_id = max(self.last_id, message_id)
            self.last_seq = max(self.last_seq, message.get("version", message["seq"]))
            if self._known(message):
                self._change(message)
            else:
                self._caught.add(message_id)
                self._show(message)
        return self.last_seq

    def _known(self, message):
        """Whether a message a catch-up page gives was shown before: by id,
        or, without ``keep_shown``, because it was posted before the
        catch-up began or shown by an earlier page of it."""
        if self.keep_shown:
            return message["id"] in self.shown_set
        return message["seq"] <= self.caught_from or message["id"] in self._caught

    def end_catch_up(self):
        """The catch-up fetched its last page: replay the held frames in
        ``seq`` order. One that arrived before the catch-up began and still
        leaves a gap is shown (or applied) anyway: it was stored after all
        its predecessors, so the catch-up saw them, and the gap is a hole in
        the history itself (a message deleted from the database, a change
        superseded by a later one), not a loss. Any other goes through
        ``receive``'s rules again.

        Returns True when that revealed another gap: the caller must catch
        up again (``begin_catch_up``)."""
        if not self.catching_up:
            raise RuntimeError("No catch-up is under way")
        self.catching_up = False
        started_at = self.started_at
        held = sorted(self.pending, key=_seq_of_held)
        self.pending = []
        for arrival, frame in held:
            if arrival <= started_at and frame["seq"] > self.last_seq + 1:
                self._apply(frame)
            else:
                self._take(arrival, frame)
        return self.catch_up_due

    def abort_catch_up(self):
        """A fetch of the catch-up failed: stop it. Held messages stay held
        for the next catch-up; live messages are taken as usual meanwhile
        (the page retries after a while)."""
        self.catching_up = False
