"""The benchmark's figures, as PNG files drawn with matplotlib's Agg canvas
(no display needed, and no pyplot global state)."""

import logging
import random
from pathlib import Path

import matplotlib
import numpy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

# At most this many latency samples are drawn per run; a random subset
# of a larger run has the same shape and draws far faster.
MAX_PLOTTED_SAMPLES = 200_000

# Figure size in inches and resolution in dots per inch.
FIGSIZE = (11, 4.5)
WIDE_FIGSIZE = (15, 4.5)
DPI = 110

# One colour per layer in every figure, so that stock and chat read the same
# way throughout; runs of one layer with different worker counts differ in
# line style.
LAYER_COLOURS = {"chat": "tab:blue", "stock": "tab:orange"}
OTHER_COLOUR = "tab:green"
LINE_STYLES = ("-", "--", ":", "-.")


def run_label(record):
    """A short legend label (str) for a record: its layer and worker count
    when known, else its target URL; and its offered rate on a saturation
    curve."""
    label = _base_label(record)
    if record.get("curve"):
        label += " %g msg/s" % record["curve"]["offered_per_s"]
    return label


def _base_label(record):
    parts = []
    if record.get("layer"):
        parts.append(record["layer"])
    if record.get("workers") is not None:
        parts.append("W=%d" % record["workers"])
    return " ".join(parts) or record["target"]["url"]


def _style(record, runs):
    """The colour and line style (str, str) of ``record``'s run among ``runs``
    (a list of records): its layer's colour, and a style per worker count;
    on a saturation curve, a colour per offered rate, from low (dark) to
    high (light)."""
    colour = LAYER_COLOURS.get(record.get("layer"), OTHER_COLOUR)
    if record.get("curve"):
        rates = sorted({r["curve"]["offered_per_s"] for r in runs if r.get("curve")})
        share = rates.index(record["curve"]["offered_per_s"]) / max(len(rates) - 1, 1)
        colour = matplotlib.colormaps["viridis"](0.9 * share)
    same_layer = sorted(
        {r.get("workers") or 0 for r in runs if r.get("layer") == record.get("layer")}
    )
    style = LINE_STYLES[same_layer.index(record.get("workers") or 0) % len(LINE_STYLES)]
    return colour, style


def _subsample(samples):
    values = list(samples)
    if len(values) > MAX_PLOTTED_SAMPLES:
        values = random.Random(0).sample(values, MAX_PLOTTED_SAMPLES)
    return numpy.sort(numpy.asarray(values, dtype=float))


def latency_figure(scenario, runs, path):
    """Draw the latency distribution of ``scenario`` (str) to ``path``:
    a histogram and a CDF (logarithmic ms axis), one line per run.

    ``runs`` is a list of ``(record, latencies_ms)`` pairs. Returns the
    ``Path`` written, or None when no run has a sample.
    """
    runs = [(record, _subsample(samples)) for record, samples in runs if len(samples)]
    if not runs:
        return None
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    histogram, cdf = figure.subplots(1, 2)
    low = max(min(values[0] for _, values in runs), 0.01)
    high = max(max(values[-1] for _, values in runs), low * 10)
    bins = numpy.geomspace(low, high, 60)
    records = [record for record, _ in runs]
    for record, values in runs:
        colour, style = _style(record, records)
        label = "%s (p50 %.1f, p99 %.1f ms)" % (
            run_label(record),
            record["latency_ms"]["p50"],
            record["latency_ms"]["p99"],
        )
        histogram.hist(
            numpy.clip(values, low, high),
            bins=bins,
            histtype="step",
            label=label,
            color=colour,
            linestyle=style,
        )
        cdf.plot(
            values,
            numpy.arange(1, values.size + 1) / values.size,
            label=run_label(record),
            color=colour,
            linestyle=style,
        )
    for axes in (histogram, cdf):
        axes.set_xscale("log")
        axes.set_xlabel("latency (ms)")
        axes.grid(True, which="both", alpha=0.3)
    histogram.set_ylabel("deliveries")
    histogram.set_title("%s: latency histogram" % scenario)
    histogram.legend(fontsize="small")
    cdf.set_ylabel("share of deliveries")
    cdf.set_ylim(0, 1.0)
    cdf.set_title("%s: latency CDF" % scenario)
    cdf.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def throughput_figure(scenario, records, path):
    """Draw messages/s, deliveries/s and delivered % against the worker
    count for ``scenario`` (str) to ``path``, one line per layer.

    ``records`` is a list of JSON records (dicts) from booted splits.
    Returns the ``Path`` written, or None when no record has a worker count.
    """
    by_layer = _by_layer(records)
    if not by_layer:
        return None
    figure = Figure(figsize=WIDE_FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 3)
    fields = [
        ("messages_per_s", "messages handled per second", "%s: messages"),
        ("deliveries_per_s", "deliveries per second", "%s: deliveries"),
        ("delivered_pct", "delivered (% of expected)", "%s: delivered"),
    ]
    for layer, layer_records in sorted(by_layer.items()):
        workers = [record["workers"] for record in layer_records]
        colour = LAYER_COLOURS.get(layer, OTHER_COLOUR)
        for axes, (key, _, _) in zip(panels, fields, strict=True):
            values = [record.get(key) or 0 for record in layer_records]
            axes.plot(workers, values, "o-", label=layer, color=colour)
    all_workers = sorted({r["workers"] for rs in by_layer.values() for r in rs})
    for axes, (_, ylabel, title) in zip(panels, fields, strict=True):
        axes.set_xlabel("workers")
        axes.set_ylabel(ylabel)
        axes.set_title(title % scenario)
        axes.set_xticks(all_workers)
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend()
    panels[2].set_ylim(0, 105)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


# The processes of a split in the CPU figure, bottom to top, and their
# colours; every "worker.N" is summed into "workers".
CPU_PARTS = (
    ("daphne", "tab:purple"),
    ("workers", "tab:green"),
    ("postgres", "tab:brown"),
    ("redis-server", "tab:red"),
    ("chatbench", "tab:gray"),
)


def cpu_by_part(record):
    """A record's CPU over its measuring window as a dict of ``CPU_PARTS``
    name to % of one core (float), the workers summed."""
    parts = {name: 0.0 for name, _ in CPU_PARTS}
    for process, pct in record["cpu"]["processes"].items():
        name = "workers" if process.startswith("worker.") else process
        if name in parts:
            parts[name] += pct or 0.0
    return parts


def cpu_figure(scenario, records, path):
    """Draw, for ``scenario`` (str) to ``path``, the CPU each process of
    the split used (% of one core, stacked) against the worker count, one
    panel per layer, with the machine's capacity (cores × 100 %) marked.

    ``records`` is a list of JSON records (dicts) from booted splits.
    Returns the ``Path`` written, or None when no record has a worker count.
    """
    by_layer = _by_layer(records)
    if not by_layer:
        return None
    figure = Figure(figsize=(5.5 * len(by_layer), 4.5), dpi=DPI)
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, len(by_layer), squeeze=False)[0]
    capacity = 100.0 * max(r["cpu"].get("cpus") or 1 for rs in by_layer.values() for r in rs)
    for axes, (layer, layer_records) in zip(panels, sorted(by_layer.items()), strict=True):
        positions = numpy.arange(len(layer_records))
        bottoms = numpy.zeros(len(layer_records))
        for name, colour in CPU_PARTS:
            values = numpy.array([cpu_by_part(record)[name] for record in layer_records])
            axes.bar(positions, values, bottom=bottoms, label=name, color=colour)
            bottoms += values
        axes.axhline(capacity, color="black", linestyle="--", linewidth=1)
        axes.text(positions[0] - 0.4, capacity, "machine: %d cores" % (capacity / 100), va="bottom")
        axes.set_xticks(positions, [str(record["workers"]) for record in layer_records])
        axes.set_ylim(0, capacity * 1.15)
        axes.set_xlabel("workers")
        axes.set_ylabel("CPU (% of one core)")
        axes.set_title("%s: CPU by process (%s)" % (scenario, layer))
        axes.grid(True, axis="y", alpha=0.3)
    panels[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def curves(records):
    """The saturation curves among ``records`` (a list of JSON records):
    those with a ``curve`` section (``--rates``), by run label (layer and
    worker count, ``run_label``; a dict of str to list), each list in
    offered-rate order."""
    by_run = {}
    points = [record for record in records if record.get("curve")]
    for record in sorted(points, key=lambda record: record["curve"]["offered_per_s"]):
        by_run.setdefault(_base_label(record), []).append(record)
    return by_run


def _values(records, key):
    """``record["curve"][key]`` of each of ``records`` as a float array,
    NaN where it is None (latency when nothing arrived)."""
    return numpy.array(
        [numpy.nan if r["curve"][key] is None else r["curve"][key] for r in records], dtype=float
    )


def draw_saturation(scenario, records):
    """The saturation curve of ``scenario`` (str) as a matplotlib
    ``Figure`` of three panels, against the offered rate (messages/s) on
    the x axis: the delivery latency's p50 (solid) and p99 (dashed), in ms
    on a logarithmic axis; the delivered rate (distinct messages that
    reached a member, messages/s; solid, left axis) beside the offered
    rate (dotted grey), and the delivered % (dotted, right axis); and each
    process's CPU (% of one core, the workers summed; one line style per
    run). One colour per run (layer and worker count).

    ``records`` is a list of JSON records; only those with a ``curve``
    section count. Returns None when none has.
    """
    by_run = curves(records)
    if not by_run:
        return None
    figure = Figure(figsize=WIDE_FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    latency, delivered, cpu = figure.subplots(1, 3)
    share = delivered.twinx()
    offered = sorted({r["curve"]["offered_per_s"] for rs in by_run.values() for r in rs})
    delivered.plot(offered, offered, ":", color="gray", label="offered")
    for n, (label, points) in enumerate(by_run.items()):
        colour = "C%d" % (n % 10)
        style = LINE_STYLES[n % len(LINE_STYLES)]
        rates = _values(points, "offered_per_s")
        for key, line in (("p50_ms", "o-"), ("p99_ms", "^--")):
            name = "%s (%s)" % (key[:3], label)
            latency.plot(rates, _values(points, key), line, color=colour, label=name)
        delivered.plot(
            rates,
            _values(points, "delivered_messages_per_s"),
            "o-",
            color=colour,
            label="delivered msg/s (%s)" % label,
        )
        share.plot(
            rates,
            _values(points, "delivered_pct"),
            "s:",
            color=colour,
            label="delivered %% (%s)" % label,
        )
        for name, part_colour in CPU_PARTS:
            values = [cpu_by_part(record)[name] for record in points]
            cpu.plot(
                rates,
                values,
                marker=".",
                linestyle=style,
                color=part_colour,
                label=name if len(by_run) == 1 else "%s (%s)" % (name, label),
            )
    latency.set_yscale("log")
    latency.set_ylabel("latency (ms)")
    latency.set_title("%s: delivery latency" % scenario)
    delivered.set_ylabel("delivered (messages/s)")
    delivered.set_ylim(bottom=0)
    delivered.set_title("%s: delivered" % scenario)
    share.set_ylabel("delivered (% of expected)")
    share.set_ylim(0, 105)
    cpu.set_ylabel("CPU (% of one core)")
    cpu.set_ylim(bottom=0)
    cpu.set_title("%s: CPU by process" % scenario)
    for axes in (latency, delivered, cpu):
        axes.set_xlabel("offered rate (messages/s)")
        axes.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize="small")
    lines, labels = delivered.get_legend_handles_labels()
    more_lines, more_labels = share.get_legend_handles_labels()
    delivered.legend(lines + more_lines, labels + more_labels, fontsize="small", loc="lower right")
    cpu.legend(fontsize="small")
    figure.tight_layout()
    return figure


def saturation_figure(scenario, records, path):
    """Draw ``draw_saturation(scenario, records)`` to ``path`` as a PNG.
    Returns the ``Path`` written, or None when no record has a ``curve``
    section."""
    figure = draw_saturation(scenario, records)
    if figure is None:
        return None
    figure.savefig(path)
    return Path(path)


def write_record_plots(directory, records):
    """Write the figures drawn from records alone into ``directory``
    (created if need be), per scenario among ``records`` (a list of JSON
    records): ``throughput-<scenario>.png`` and ``cpu-<scenario>.png``
    against the worker count, or, for the records of a saturation curve
    (``--rates``), ``saturation-<scenario>.png`` against the offered rate.
    Returns the list of ``Path``s written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in _scenarios(records):
        mine = [record for record in records if record["scenario"] == scenario]
        path = saturation_figure(scenario, mine, directory / ("saturation-%s.png" % scenario))
        if path:
            written.append(path)
        # Several rates at one worker count are no line against it.
        mine = [record for record in mine if not record.get("curve")]
        for figure, name in ((throughput_figure, "throughput"), (cpu_figure, "cpu")):
            path = figure(scenario, mine, directory / ("%s-%s.png" % (name, scenario)))
            if path:
                written.append(path)
    return written


def write_plots(directory, runs, sweep):
    """Write every figure into ``directory`` (created if need be).

    ``runs`` is a list of ``(record, latencies_ms)`` pairs in run order;
    ``sweep`` (bool) adds the figures of ``write_record_plots``; the
    saturation curve's (``--rates``) is drawn in either case. Files are
    named ``latency-<scenario>.png``, ``throughput-<scenario>.png``,
    ``cpu-<scenario>.png`` and ``saturation-<scenario>.png``. Returns the
    list of ``Path``s written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in _scenarios(record for record, _ in runs):
        mine = [(record, samples) for record, samples in runs if record["scenario"] == scenario]
        path = latency_figure(scenario, mine, directory / ("latency-%s.png" % scenario))
        if path:
            written.append(path)
    records = [record for record, _ in runs]
    if sweep:
        written.extend(write_record_plots(directory, records))
    else:
        for scenario in _scenarios(records):
            mine = [record for record in records if record["scenario"] == scenario]
            path = saturation_figure(scenario, mine, directory / ("saturation-%s.png" % scenario))
            if path:
                written.append(path)
    for path in written:
        logger.info("Wrote %s", path)
    return written


def _scenarios(records):
    """The scenario names (list of str) of ``records``, in first-seen order."""
    return list(dict.fromkeys(record["scenario"] for record in records))


def _by_layer(records):
    """The records (list of dict) that have a worker count, by layer name
    (dict of str to list), each list in worker-count order."""
    by_layer = {}
    for record in sorted(records, key=lambda record: record.get("workers") or 0):
        if record.get("workers") is not None:
            by_layer.setdefault(record.get("layer") or "?", []).append(record)
    return by_layer
