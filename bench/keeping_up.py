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
"""

# What ``Timeline.receive`` did with a message (str).
SHOWN = "shown"  # shown now: it was the next in sequence
OLD = "old"  # dropped: its seq was already shown (or its id, twice)
HELD = "held"  # held until the catch-up under way (or due) ends
GAP = "gap"  # held, and a gap appeared: the caller must start a catch-up now


def _seq_of_held(item):
    return item[1]["seq"]


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
    """

    __slots__ = (
        "on_show",
        "keep_shown",
        "last_id",
        "last_seq",
        "shown",
        "shown_set",
        "count",
        "duplicates",
        "pending",
        "arrivals",
        "catching_up",
        "catch_up_due",
        "started_at",
    )

    def __init__(self, on_show=None, keep_shown=True, last_id=0, last_seq=0):
        self.on_show = on_show
        self.keep_shown = keep_shown
        self.last_id = last_id
        self.last_seq = last_seq
        self.shown = []
        self.shown_set = set()
        self.count = 0
        self.duplicates = 0
        self.pending = []
        self.arrivals = 0
        self.catching_up = False
        self.catch_up_due = False
        # ``arrivals`` when the current catch-up began.
        self.started_at = 0

    def receive(self, message):
        """Take one live message (dict). Returns ``SHOWN``, ``OLD``,
        ``HELD`` or ``GAP``; on ``GAP`` the caller starts a catch-up
        (``begin_catch_up``) as soon as it can. docs/protocol.md, "Keeping
        up", step 2."""
        self.arrivals += 1
        return self._take(self.arrivals, message)

    def _take(self, arrival, message):
        if self.catching_up or self.catch_up_due:
            self.pending.append((arrival, message))
            return HELD
        seq = message["seq"]
        if seq <= self.last_seq:
            return OLD
        if seq == self.last_seq + 1:
            return SHOWN if self._append(message) else OLD
        # A gap: something was lost on the way. Fetch it, then go on.
        self.pending.append((arrival, message))
        self.catch_up_due = True
        return GAP

    def _append(self, message):
        """Show ``message`` as the next in sequence (the page's ``append()``).
        Returns False when its id was shown already."""
        message_id = message["id"]
        self.last_id = message_id
        self.last_seq = message["seq"]
        if self.keep_shown:
            if message_id in self.shown_set:
                self.duplicates += 1
                return False
            self.shown.append(message_id)
            self.shown_set.add(message_id)
        self.count += 1
        if self.on_show is not None:
            self.on_show(message)
        return True

    def begin_catch_up(self):
        """Start a catch-up: from now on live messages are held. Returns the
        id (int) to fetch ``after``. Raises ``RuntimeError`` if one is
        already under way (callers run one at a time, as the page does)."""
        if self.catching_up:
            raise RuntimeError("A catch-up is already under way")
        self.catching_up = True
        self.catch_up_due = False
        self.started_at = self.arrivals
        return self.last_id

    def show_page(self, messages):
        """Show one fetched page's ``messages`` (list of dicts, oldest
        first). Returns the id (int) to fetch the next page ``after``."""
        if not self.catching_up:
            raise RuntimeError("No catch-up is under way")
        for message in messages:
            self._append(message)
        return self.last_id

    def end_catch_up(self):
        """The catch-up fetched its last page: replay the held messages in
        ``seq`` order. One that arrived before the catch-up began and still
        leaves a gap is shown anyway: it was stored after all its
        predecessors, so the catch-up saw them, and the gap is a hole in
        the history itself (a deleted message), not a loss. Any other goes
        through ``receive``'s rules again.

        Returns True when that revealed another gap: the caller must catch
        up again (``begin_catch_up``)."""
        if not self.catching_up:
            raise RuntimeError("No catch-up is under way")
        self.catching_up = False
        started_at = self.started_at
        held = sorted(self.pending, key=_seq_of_held)
        self.pending = []
        for arrival, message in held:
            if arrival <= started_at and message["seq"] > self.last_seq + 1:
                self._append(message)
            else:
                self._take(arrival, message)
        return self.catch_up_due

    def abort_catch_up(self):
        """A fetch of the catch-up failed: stop it. Held messages stay held
        for the next catch-up; live messages are taken as usual meanwhile
        (the page retries after a while)."""
        self.catching_up = False
