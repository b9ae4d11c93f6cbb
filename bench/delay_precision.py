"""How late messages sent later are posted (``manage.py chatdelaybench``;
docs/performance.md, "Messages sent later").

A split of its own (Daphne, ``workers`` workers and the delay process,
``rundelay``, on a scratch PostgreSQL database and its own Redis prefix)
is started; one signed-in socket schedules ``count`` messages with
``schedule`` frames, their times spread evenly over ``over_s`` seconds
from ``lead_s`` seconds on; a second socket in the room, with no
identity, notes when each arrives. A message's lateness is its arrival
minus its time, both read on this machine's clock, in ms; the database's
timestamp of each (when its worker stored it) gives the same measure
without the last hop.
"""

import datetime
import os
import time
import uuid

import numpy

from bench import services
from bench.chat_client import ChatClient, unique_label, user_sessions
from bench.split import production_env, running


def _summary(values_ms):
    """``{"p50", "p99", "max", "min"}`` of ``values_ms`` (list of float), in ms."""
    values = numpy.array(values_ms, dtype=float)
    return {
        "min": round(float(values.min()), 1),
        "p50": round(float(numpy.percentile(values, 50)), 1),
        "p99": round(float(numpy.percentile(values, 99)), 1),
        "max": round(float(values.max()), 1),
    }


def measure(count=100, over_s=60.0, lead_s=5.0, workers=2, progress=None):
    """Schedule ``count`` messages over ``over_s`` seconds, ``lead_s``
    seconds from now, on a split of its own, and wait for them all
    (up to ``over_s + lead_s + 60`` s). Returns a dict: ``count``,
    ``received`` and ``stored`` (how many arrived live and how many the
    database holds, each text counted once), ``duplicates`` (texts that
    arrived or were stored more than once), and ``late_ms`` and
    ``stored_late_ms`` (``_summary`` of the lateness at arrival and at
    storing). ``progress`` (a callable taking a str, or None) hears what
    it does."""
    say = progress or (lambda line: None)
    redis_url = services.default_redis_url()
    postgres_url = services.default_postgres_url()
    tag = uuid.uuid4().hex[:6]
    prefix = "asgi-delaybench-%s:" % tag
    with services.scratch_database(postgres_url, "chat_delaybench_%s" % tag) as database_url:
        env = production_env(
            database_url,
            redis_url,
            prefix,
            # One socket schedules them all, at once: neither its frame
            # rate nor its author's cap of pending messages is the subject.
            CHAT_RATE_LIMIT_PER_MINUTE="0",
            CHAT_SCHEDULED_MAX_PENDING=str(count),
        )
        try:
            with running(env, workers=workers, delay=True) as split:
                say("split ready; scheduling %d messages" % count)
                return _run(split, env, database_url, count, over_s, lead_s, say)
        finally:
            services.delete_redis_prefix(redis_url, prefix)


def _run(split, env, database_url, count, over_s, lead_s, say):
    label = unique_label("delaybench")
    (session_key,) = user_sessions(dict(os.environ, **env), "delaybench_%s" % uuid.uuid4().hex[:6])
    author = ChatClient(split, label, session_key=session_key)
    reader = ChatClient(split, label)
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead_s)
    due = {}
    for n in range(count):
        at = start + datetime.timedelta(seconds=over_s * n / max(1, count - 1))
        text = "later %03d" % n
        due[text] = at
        author.send_frame(type="schedule", message=text, at=at.isoformat().replace("+00:00", "Z"))
        author.receive_until(lambda f: f.get("type") in ("scheduled", "error"))
    author.close()
    say("scheduled; waiting %.0f s" % (lead_s + over_s))
    arrivals = {}
    duplicates = 0
    deadline = time.monotonic() + lead_s + over_s + 60
    while len(arrivals) < count and time.monotonic() < deadline:
        try:
            frame = reader.receive(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        text = frame.get("message")
        if text in due:
            if text in arrivals:
                duplicates += 1
            else:
                arrivals[text] = datetime.datetime.now(datetime.UTC)
    # Anything more would be a duplicate: listen a little longer.
    settle = time.monotonic() + 3
    while time.monotonic() < settle:
        try:
            frame = reader.receive(timeout=settle - time.monotonic())
        except TimeoutError:
            break
        if frame.get("message") in arrivals:
            duplicates += 1
    reader.close()
    columns = ("message", "timestamp")
    stored = services.stored_messages(database_url, labels=[label], columns=columns)
    stored_at = {}
    for _, text, timestamp in stored:
        if text in stored_at:
            duplicates += 1
        stored_at[text] = timestamp

    def late(times):
        return [(times[text] - due[text]).total_seconds() * 1000 for text in times]

    return {
        "count": count,
        "over_s": over_s,
        "workers": len(split.workers),
        "received": len(arrivals),
        "stored": len(stored_at),
        "duplicates": duplicates,
        "late_ms": _summary(late(arrivals)) if arrivals else None,
        "stored_late_ms": _summary(late(stored_at)) if stored_at else None,
    }
