"""The JSON record of one run: counts, rates, latency percentiles, errors,
and which process was busiest. docs/benchmark.md defines every field.
"""

import json
import os
from datetime import UTC, datetime

import numpy

from bench import monitor

# A process at or above this share of one core (percent) counts as
# saturated: an event loop or a worker that busy has no slack left, and
# sampling over a few seconds rarely reads a full 100.
SATURATION_PCT = 90.0

# Decimal places kept in the record for milliseconds, seconds and percentages.
DIGITS = 3


def percentiles(samples):
    """Summarise ``samples`` (a sequence of floats, ms): a dict with ``p50``,
    ``p90``, ``p99``, ``max`` and ``mean`` (ms) and ``count``. The
    percentiles interpolate linearly between samples, so p50 <= p90 <= p99
    <= max always holds. With no samples every value but ``count`` is None."""
    if len(samples) == 0:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None, "count": 0}
    values = numpy.asarray(samples, dtype=float)
    p50, p90, p99 = numpy.percentile(values, [50, 90, 99])
    return {
        "p50": round(float(p50), DIGITS),
        "p90": round(float(p90), DIGITS),
        "p99": round(float(p99), DIGITS),
        "max": round(float(values.max()), DIGITS),
        "mean": round(float(values.mean()), DIGITS),
        "count": int(values.size),
    }


def _rate(count, seconds):
    return round(count / seconds, DIGITS) if seconds and seconds > 0 else None


def cpu_report(first, second):
    """The CPU section of a record from two ``monitor.Snapshot``s.

    Returns ``(cpu, saturation)``. ``cpu`` holds ``processes`` (name to
    percent of one core; PostgreSQL backends summed as ``postgres``),
    ``postgres_backends`` (how many), ``postgres_max_pct`` (the busiest
    one), ``host_pct`` (share of all cores, 0 to 100), ``cpus`` and
    ``window_s``. ``saturation`` names the single process closest to 100 %
    of one core (``process``, ``cpu_pct``), says whether it reached
    ``SATURATION_PCT`` (``saturated``), and whether the whole host did
    (``host_saturated``).
    """
    _, cpu_pct, host_pct = monitor.cpu_between(first, second)
    processes = {}
    backends = []
    for name, pct in sorted(cpu_pct.items()):
        if name.startswith(monitor.POSTGRES_PREFIX):
            backends.append(pct)
        else:
            processes[name] = round(pct, 1)
    if backends:
        processes["postgres"] = round(sum(backends), 1)
    # Each process here does its work on one thread (the event loops, the
    # workers, Redis, each PostgreSQL backend), so one core is its ceiling,
    # and backends count one by one rather than summed.
    busiest = max(cpu_pct, key=cpu_pct.get) if cpu_pct else None
    if busiest is not None and busiest.startswith(monitor.POSTGRES_PREFIX):
        label = "postgres backend %s" % busiest[len(monitor.POSTGRES_PREFIX) :]
    else:
        label = busiest
    cpu = {
        "window_s": round(second.monotonic - first.monotonic, DIGITS),
        "processes": processes,
        "postgres_backends": len(backends),
        "postgres_max_pct": round(max(backends), 1) if backends else None,
        "host_pct": round(host_pct, 1),
        "cpus": os.cpu_count(),
    }
    saturation = {
        "process": label,
        "cpu_pct": round(cpu_pct[busiest], 1) if busiest else None,
        "saturated": bool(busiest) and cpu_pct[busiest] >= SATURATION_PCT,
        "threshold_pct": SATURATION_PCT,
        "host_saturated": host_pct >= SATURATION_PCT,
    }
    return cpu, saturation


def worker_cpu_ms_per_message(first, second, handled):
    """The workers' CPU time per handled message (ms): the CPU seconds
    spent by every process named ``worker.*`` between two snapshots,
    divided by ``handled`` (int). None with no workers watched or no
    message handled."""
    cpu_s, _, _ = monitor.cpu_between(first, second)
    spent = [seconds for name, seconds in cpu_s.items() if name.startswith("worker.")]
    if not spent or not handled:
        return None
    return round(sum(spent) * 1000.0 / handled, DIGITS)


def daphne_bytes_per_connection(first, second, sockets):
    """Daphne's resident memory growth per open socket (bytes, int) between
    two snapshots, or None when Daphne was not watched or no socket opened."""
    early = first.processes.get("daphne")
    late = second.processes.get("daphne")
    if early is None or late is None or early.pid != late.pid or not sockets:
        return None
    return int((late.rss - early.rss) / sockets)


def stream_section(result):
    """The ``/stream/`` sockets of a ``stream`` scenario, for its record
    (dict): ``sockets`` opened (and ``failed``); ``frames``, the ``rooms``
    frames they received from the start of the sending to the end of the
    drain; ``frames_per_socket_per_s``, their mean over sockets and that
    time, and ``max_frames_per_socket_per_s``, the busiest socket's; and
    ``final_exact``, how many sockets' last payload counted every message
    the run sent as unread (the trailing flush: a count must not stay
    stale once the sending stops)."""
    phases = result.phases
    span_s = phases.drain_end - phases.send_start
    frames = sum(result.stream_frames.values())
    sockets = result.stream_sockets
    busiest = max(result.stream_frames.values(), default=0)
    return {
        "sockets": sockets,
        "failed": result.stream_failed,
        "frames": frames,
        "span_s": round(span_s, DIGITS),
        "frames_per_socket_per_s": _rate(frames / sockets, span_s) if sockets else None,
        "max_frames_per_socket_per_s": _rate(busiest, span_s),
        "final_exact": sum(
            1 for payload in result.stream_last.values() if payload.get("unread") == result.sent
        ),
    }


def build_record(
    scenario, result, snapshots, target, duration, drain, message_size, stored=None, backlog=None
):
    """The JSON record (dict) of one run.

    Takes the ``Scenario``, its ``client.LoadResult``, ``snapshots`` (a
    dict of phase name to ``monitor.Snapshot``), the ``sweep.Target``, and
    the conditions: ``duration`` and ``drain`` (s) and ``message_size``
    (characters). ``stored`` (messages the database holds for the run) and
    ``backlog`` (messages still queued in the layer when the drain ended)
    are ints when the server side could be seen, else None.
    """
    phases = result.phases
    send_s = phases.send_end - phases.send_start
    active_s = (result.last_delivery - phases.send_start) if result.last_delivery else None
    expected = result.expected
    record = {
        "scenario": scenario.name,
        "layer": target.layer,
        "workers": target.workers,
        "started_at": datetime.fromtimestamp(result.started_at, UTC).isoformat(timespec="seconds"),
        "conditions": dict(
            scenario.conditions(),
            duration_s=duration,
            drain_s=drain,
            sockets=scenario.sockets,
            message_chars=message_size or None,
        ),
        "sent": result.sent,
        "expected": expected,
        "delivered": result.delivered,
        "delivered_pct": round(result.delivered / expected * 100.0, 2) if expected else None,
        "handled": result.handled,
        # Presence, join, leave, typing and pong frames the members took.
        "presence_frames": result.presence_frames,
        "stored": stored,
        "backlog": backlog,
        # One broadcast has no rate to speak of; only its spread does.
        "sent_per_s": None if scenario.idle else _rate(result.sent, send_s),
        "messages_per_s": None if scenario.idle else _rate(result.handled, active_s),
        "deliveries_per_s": _rate(result.delivered, active_s),
        "latency_ms": percentiles(result.latencies_ms),
        "send_lag_ms": percentiles(result.send_lag_ms) if scenario.rate else None,
        "connect_time_s": round(phases.connected - phases.connect_start, DIGITS),
        "connect_ms": percentiles(result.connect_ms),
        "joined": result.joined,
        "errors": {
            "error_frames": sum(result.error_codes.values()),
            "error_codes": dict(result.error_codes),
            "failed_pages": result.failed_pages,
            "failed_connects": result.failed_connects,
            "disconnects": result.disconnects,
            "close_codes": dict(result.close_codes),
            "send_failures": result.send_failures,
            "duplicates": result.duplicates,
            "gaps": result.gaps,
            "foreign_frames": result.foreign_frames,
            "echo_timeouts": result.echo_timeouts,
        },
    }
    if scenario.stream:
        record["stream"] = stream_section(result)
    # The saturation window is the steady load: the sending for message
    # scenarios, the connecting for the idle one (its single broadcast is
    # too short to sample).
    if scenario.idle:
        window = (snapshots["connect_start"], snapshots["connected"])
    else:
        window = (snapshots["send_start"], snapshots["send_end"])
    record["cpu"], record["saturation"] = cpu_report(*window)
    # Per-message cost counts the drain as well, so that messages handled
    # after the sending stopped are paid for; and it divides by what the
    # workers stored when that is known, since a message can be handled
    # and still wait in Daphne's queue, unseen by any client.
    # One broadcast among thousands of joins has no per-message cost to
    # speak of, as it has no rate.
    record["worker_cpu_ms_per_message"] = (
        None
        if scenario.idle
        else worker_cpu_ms_per_message(
            snapshots["send_start"],
            snapshots["drain_end"],
            stored if stored is not None else result.handled,
        )
    )
    if scenario.idle:
        record["daphne_bytes_per_connection"] = daphne_bytes_per_connection(
            snapshots["connect_start"], snapshots["held"], result.joined
        )
    if scenario.change_every:
        record["changes"] = {
            "sent": result.changes_sent,
            "expected": result.changes_expected,
            "delivered": result.changes_delivered,
            "delivered_pct": (
                round(result.changes_delivered / result.changes_expected * 100.0, 2)
                if result.changes_expected
                else None
            ),
        }
    record["target"] = target.describe()
    return record


def curve_point(record):
    """The ``curve`` section of a record made on a saturation curve
    (``--rates``): the figures the curve draws, from the record itself.

    ``offered_per_s``: the rate the scenario offered (messages/s, the
    schedule's); ``sent_per_s``: what the load generator managed to hand to
    its sockets (messages/s); ``delivered_messages_per_s``: distinct
    messages that reached at least one member, over the time from the start
    of sending to the last delivery (``messages_per_s``): what the chat
    stored and broadcast, as its clients saw it; ``deliveries_per_s``: the
    same counting every member's copy; ``delivered_pct``; ``p50_ms`` and
    ``p99_ms``, the delivery latency; ``closed_by_server``: sockets the
    server closed (``errors.disconnects``); ``stored`` and ``backlog`` as
    in the record.
    """
    latency = record["latency_ms"]
    return {
        "offered_per_s": record["conditions"]["rate"],
        "sent_per_s": record["sent_per_s"],
        "delivered_messages_per_s": record["messages_per_s"],
        "deliveries_per_s": record["deliveries_per_s"],
        "delivered_pct": record["delivered_pct"],
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "closed_by_server": record["errors"]["disconnects"],
        "stored": record["stored"],
        "backlog": record["backlog"],
    }


def workers_cpu_pct(cpu):
    """The CPU of every worker summed (percent of one core, float) from a
    record's ``cpu`` section, or None when no worker was watched."""
    shares = [pct for name, pct in cpu["processes"].items() if name.startswith("worker.")]
    return round(sum(shares), 1) if shares else None


def flood_allowance(burst, per_minute, seconds):
    """The most frames (float) a socket's token bucket lets through in
    ``seconds``: ``burst`` at once plus ``per_minute`` / 60 a second; None
    when a limit is unknown or the rate limit is off (``per_minute`` 0)."""
    if burst is None or per_minute is None or seconds is None or not per_minute:
        return None
    return burst + per_minute / 60.0 * seconds


def flood_section(flood, stored, record, baseline, limits):
    """The ``flood`` section of a flood run's record (dict).

    ``flood`` is the run's ``client.FloodResult``; ``stored`` how many of
    its frames the workers stored (int, or None when unseen). ``record``
    is the run's own record and ``baseline`` the record of the same
    scenario run without the flooder, just before on the same split.
    ``limits`` is the split's environment overrides (dict of str), whence
    ``CHAT_RATE_LIMIT_BURST`` and ``CHAT_RATE_LIMIT_PER_MINUTE``.

    Holds the flooder's counts (``frames``, ``sent``, ``error_codes``,
    ``close_code``, ``duration_s``, ``stored``, ``allowed``: what its
    bucket admits over ``duration_s``), the room's latency with and without
    it (``latency_ms``, ``baseline_latency_ms``, ``p99_ratio``), the
    workers' CPU during each sending window (``workers_cpu_pct``,
    ``baseline_workers_cpu_pct``, percent of one core) and the two targets:
    ``p99_within_2x`` and ``stored_within_allowance`` (bool, or None when
    a figure is missing).
    """

    def limit(name):
        value = limits.get(name)
        return int(value) if value is not None else None

    duration = flood.duration_s
    allowed = flood_allowance(
        limit("CHAT_RATE_LIMIT_BURST"), limit("CHAT_RATE_LIMIT_PER_MINUTE"), duration
    )
    p99 = record["latency_ms"]["p99"]
    baseline_p99 = baseline["latency_ms"]["p99"]
    ratio = round(p99 / baseline_p99, 2) if p99 is not None and baseline_p99 else None
    return {
        "frames": flood.frames,
        "joined": flood.joined,
        "sent": flood.sent,
        "error_codes": dict(flood.error_codes),
        "close_code": flood.close_code,
        "duration_s": round(duration, DIGITS) if duration is not None else None,
        "stored": stored,
        "allowed": round(allowed, 1) if allowed is not None else None,
        "stored_within_allowance": (
            stored <= allowed if stored is not None and allowed is not None else None
        ),
        "latency_ms": record["latency_ms"],
        "baseline_latency_ms": baseline["latency_ms"],
        "p99_ratio": ratio,
        "p99_within_2x": ratio <= 2.0 if ratio is not None else None,
        "baseline_delivered_pct": baseline["delivered_pct"],
        "workers_cpu_pct": workers_cpu_pct(record["cpu"]),
        "baseline_workers_cpu_pct": workers_cpu_pct(baseline["cpu"]),
        "host_pct": record["cpu"]["host_pct"],
        "baseline_host_pct": baseline["cpu"]["host_pct"],
    }


def write_line(record, stream):
    """Write ``record`` (dict) to ``stream`` as one JSON line and flush."""
    stream.write(json.dumps(record) + "\n")
    stream.flush()


def append_to_file(record, path):
    """Append ``record`` (dict) as one JSON line to the file at ``path``."""
    with open(path, "a") as output:
        write_line(record, output)
