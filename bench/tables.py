"""The benchmark's records as a Markdown table, one row per run, as in
docs/performance.md (``manage.py chatbench --table FILE``), and the points
of a saturation curve (``--rates``) as a table of their own."""

import json

COLUMNS = (
    "scenario",
    "layer",
    "W",
    "sent",
    "expected",
    "delivered",
    "delivered %",
    "deliveries/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "connect s",
    "errors",
    "busiest process (CPU %)",
    "worker CPU ms/msg",
)


def read_records(path):
    """The records (list of dict) in the JSON-lines file at ``path``, in file
    order. Raises ``OSError`` if it cannot be read and ``ValueError`` naming
    the line if a line is not a JSON object."""
    records = []
    with open(path, encoding="utf8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ValueError("%s, line %d: %s" % (path, number, error)) from None
            if not isinstance(record, dict):
                raise ValueError("%s, line %d: not a JSON object" % (path, number))
            records.append(record)
    return records


def error_count(errors):
    """The number (int) of errors in a record's ``errors``: its counters
    summed; the per-code breakdowns are already in ``error_frames`` and
    ``disconnects``."""
    return sum(value for value in errors.values() if isinstance(value, int))


def _number(value, digits=1):
    """``value`` (a number or None) with thousands separators and ``digits``
    decimal places; "—" for None."""
    if value is None:
        return "—"
    return "{:,.{}f}".format(value, digits)


def row(record):
    """One table row (list of str) for ``record``, in ``COLUMNS`` order."""
    latency = record.get("latency_ms") or {}
    # An idle scenario (connections) sends one broadcast: it has no rate.
    idle = "sent_per_s" in record and record["sent_per_s"] is None
    saturation = record.get("saturation") or {}
    busiest = "—"
    if saturation.get("process"):
        busiest = "%s (%d)" % (saturation["process"], round(saturation["cpu_pct"]))
    return [
        record["scenario"],
        str(record.get("layer") or "—"),
        str(record.get("workers") or "—"),
        _number(record["sent"], 0),
        _number(record["expected"], 0),
        _number(record["delivered"], 0),
        _number(record.get("delivered_pct")),
        _number(record.get("deliveries_per_s"), 0),
        _number(latency.get("p50")),
        _number(latency.get("p90")),
        _number(latency.get("p99")),
        _number(latency.get("max")),
        _number(record.get("connect_time_s")),
        _number(error_count(record.get("errors") or {}), 0),
        busiest,
        # Older records of idle runs carry a figure; it means nothing there.
        _number(None if idle else record.get("worker_cpu_ms_per_message"), 2),
    ]


def markdown_table(records):
    """``records`` (list of dict) as a Markdown table (str), one row each."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines.extend("| " + " | ".join(row(record)) + " |" for record in records)
    return "\n".join(lines) + "\n"


CURVE_COLUMNS = (
    "scenario",
    "layer",
    "W",
    "offered msg/s",
    "sent msg/s",
    "delivered msg/s",
    "deliveries/s",
    "delivered %",
    "p50 ms",
    "p99 ms",
    "closed by server",
    "busiest process (CPU %)",
)


def curve_row(record):
    """One row (list of str) of the curve table for ``record``, which has a
    ``curve`` section, in ``CURVE_COLUMNS`` order."""
    point = record["curve"]
    saturation = record.get("saturation") or {}
    busiest = "—"
    if saturation.get("process"):
        busiest = "%s (%d)" % (saturation["process"], round(saturation["cpu_pct"]))
    return [
        record["scenario"],
        str(record.get("layer") or "—"),
        str(record.get("workers") or "—"),
        _number(point["offered_per_s"], 0),
        _number(point["sent_per_s"], 0),
        _number(point["delivered_messages_per_s"], 0),
        _number(point["deliveries_per_s"], 0),
        _number(point["delivered_pct"]),
        _number(point["p50_ms"]),
        _number(point["p99_ms"]),
        _number(point["closed_by_server"], 0),
        busiest,
    ]


def curve_table(records):
    """The records of ``records`` (list of dict) that have a ``curve``
    section as a Markdown table (str), one row each in the order given;
    an empty str when none has."""
    points = [record for record in records if record.get("curve")]
    if not points:
        return ""
    lines = [
        "| " + " | ".join(CURVE_COLUMNS) + " |",
        "|" + "---|" * len(CURVE_COLUMNS),
    ]
    lines.extend("| " + " | ".join(curve_row(record)) + " |" for record in points)
    return "\n".join(lines) + "\n"
