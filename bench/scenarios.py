"""The benchmark's named loads.

A scenario says how many rooms, how many members per room, how many of
each room's members send, and how fast: an open-loop total rate in
messages/s, or a closed loop with a window of messages in flight per
sender. ``connections`` instead holds its members idle and ends with one
broadcast. ``flood`` adds one more socket to the first room that sends
as fast as it can, and runs its split with the chat's default rate limits.
docs/benchmark.md describes each one.
"""

import dataclasses
from dataclasses import dataclass

# How many idle sockets ``connections`` opens unless told otherwise.
DEFAULT_CONNECTIONS = 5000

# The chat's default per-socket limits (chat/conf.py): a split booted for
# ``flood`` runs with them, where the others turn the rate limit off.
DEFAULT_LIMITS = (("CHAT_RATE_LIMIT_BURST", "10"), ("CHAT_RATE_LIMIT_PER_MINUTE", "120"))


@dataclass(frozen=True)
class Scenario:
    """One load shape.

    ``rooms`` and ``members`` (per room) are counts; the first ``senders``
    members of each room send. ``rate`` is the total send rate across all
    senders in messages/s, or None for a closed loop in which each sender
    keeps at most ``window`` messages waiting for their own echo. ``idle``
    marks the ``connections`` shape: hold the sockets open, then one
    member sends a single message. ``flood_frames`` (int) is how many frames
    one extra socket in the first room sends as fast as it can while the
    members talk; 0 for none. ``env`` is a tuple of (name, value) str pairs
    added to the environment of a split booted for the scenario.
    ``signed_in`` makes every member a signed-in user who follows its room
    (a read mark there); ``stream`` also gives each one a ``/stream/``
    socket, whose ``rooms`` frames are counted (added 2026-12-05).
    """

    name: str
    rooms: int
    members: int
    senders: int
    rate: float | None
    window: int = 1
    idle: bool = False
    flood_frames: int = 0
    change_every: int = 0
    env: tuple = ()
    summary: str = ""
    # Members are signed-in users, each with a read mark in their room
    # (``signed_in``), and each also holds a /stream/ socket (``stream``).
    signed_in: bool = False
    stream: bool = False

    @property
    def sockets(self):
        """The number of WebSockets the scenario opens (int)."""
        return self.rooms * self.members

    def conditions(self):
        """The scenario's load as a dict for the JSON record: rooms, members
        (per room), senders (per room), rate (messages/s, None for a closed
        loop), window (messages in flight per sender, closed loop only)."""
        return {
            "rooms": self.rooms,
            "members": self.members,
            "senders": self.senders,
            "rate": self.rate,
            "window": self.window if self.rate is None and not self.idle else None,
            "flood_frames": self.flood_frames or None,
            "change_every": self.change_every or None,
            "env": dict(self.env) or None,
            "signed_in": self.signed_in or None,
            "stream": self.stream or None,
        }


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario(
            "latency",
            rooms=1,
            members=2,
            senders=2,
            rate=50.0,
            summary="two members talking; round-trip latency under light load",
        ),
        Scenario(
            "fanout-50",
            rooms=1,
            members=50,
            senders=1,
            rate=20.0,
            summary="one speaker, 50 listeners",
        ),
        Scenario(
            "fanout-200",
            rooms=1,
            members=200,
            senders=1,
            rate=20.0,
            summary="one speaker, 200 listeners",
        ),
        Scenario(
            "fanout-1000",
            rooms=1,
            members=1000,
            senders=1,
            rate=5.0,
            summary="one speaker, 1000 listeners",
        ),
        Scenario(
            "rooms",
            rooms=10,
            members=10,
            senders=10,
            rate=200.0,
            summary="ten busy rooms of ten, everyone talking",
        ),
        # docs/conversations.md: edits and reactions mixed into the rooms
        # load, one change for every 10 messages, on top of its rate.
        Scenario(
            "changes",
            rooms=10,
            members=10,
            senders=10,
            rate=200.0,
            change_every=10,
            summary="rooms, with an edit or a reaction after every 10th message of each sender",
        ),
        # Many small rooms in which both members talk, at three times the
        # rooms load: each message reaches only two members, so the load is
        # the path of a message (Daphne, the layer, the workers, the
        # database) rather than the fan-out.
        Scenario(
            "burst",
            rooms=20,
            members=2,
            senders=2,
            rate=600.0,
            summary="20 rooms of two, everyone sending, 600 messages/s",
        ),
        # One sender per room with one message in flight keeps 50 frames
        # queued for the workers: enough to keep any sensible number of them
        # busy, and under half of stock asgi_redis's capacity of 100 per
        # channel, past which Daphne closes sockets (code 1013) instead of
        # queueing, and the run would measure that rather than the workers.
        Scenario(
            "workers",
            rooms=50,
            members=2,
            senders=1,
            rate=None,
            window=1,
            summary="many small rooms sending as fast as the workers answer",
        ),
        # The flooder joins the room that talks: the room a troll floods is
        # the one it wants to silence, and its admitted frames then share
        # that room's fan-out and its order of messages with the members.
        Scenario(
            "flood",
            rooms=1,
            members=20,
            senders=20,
            rate=20.0,
            flood_frames=5000,
            env=DEFAULT_LIMITS,
            summary="one socket floods 5,000 frames into a room of 20 chatting at 20 msg/s",
        ),
        # docs/performance.md, "Live counts": what the /stream/ sockets of
        # a big room's readers cost, against the same readers without them.
        Scenario(
            "stream-1000",
            rooms=1,
            members=1000,
            senders=1,
            rate=20.0,
            signed_in=True,
            stream=True,
            summary="1000 signed-in readers, each with a /stream/ socket, one speaker at 20 msg/s",
        ),
        Scenario(
            "stream-1000-off",
            rooms=1,
            members=1000,
            senders=1,
            rate=20.0,
            signed_in=True,
            summary="stream-1000 without the /stream/ sockets",
        ),
        Scenario(
            "connections",
            rooms=1,
            members=DEFAULT_CONNECTIONS,
            senders=1,
            rate=None,
            idle=True,
            summary="idle sockets held open, then one broadcast to all of them",
        ),
    ]
}


def select(names):
    """The scenarios named in ``names`` (an iterable of str, each possibly
    comma-separated; ``all`` means every one), in the order given, without
    repeats. Returns a list of ``Scenario``.

    Raises ``ValueError`` for an unknown name or an empty selection.
    """
    chosen = []
    for item in names:
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            if name == "all":
                picks = list(SCENARIOS.values())
            elif name in SCENARIOS:
                picks = [SCENARIOS[name]]
            else:
                raise ValueError(
                    "Unknown scenario %r; choose from %s or all."
                    % (name, ", ".join(sorted(SCENARIOS)))
                )
            chosen.extend(pick for pick in picks if pick not in chosen)
    if not chosen:
        raise ValueError("No scenario selected.")
    return chosen


def override(
    scenario, rooms=None, members=None, senders=None, rate=None, window=None, connections=None
):
    """``scenario`` with the given fields replaced; None leaves one as is.

    ``members`` applies to every scenario but ``connections``, whose member
    count is ``connections``. ``rate`` (messages/s) turns a closed-loop
    scenario into an open-loop one. ``senders`` is capped at the member
    count. Returns a new ``Scenario``; raises ``ValueError`` for a count
    below 1 or a rate not above 0.
    """
    changes = {}
    if rooms is not None:
        changes["rooms"] = rooms
    if scenario.idle:
        if connections is not None:
            changes["members"] = connections
    elif members is not None:
        changes["members"] = members
    if senders is not None and not scenario.idle:
        changes["senders"] = senders
    if rate is not None and not scenario.idle:
        changes["rate"] = float(rate)
    if window is not None:
        changes["window"] = window
    result = dataclasses.replace(scenario, **changes)
    for field in ("rooms", "members", "senders", "window"):
        if getattr(result, field) < 1:
            raise ValueError("%s must be at least 1." % field)
    if result.rate is not None and result.rate <= 0:
        raise ValueError("rate must be above 0 messages/s.")
    return dataclasses.replace(result, senders=min(result.senders, result.members))
