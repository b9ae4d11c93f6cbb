"""The benchmark's Python API: run scenarios against targets and report.

``run_benchmark(BenchOptions(...))`` is what ``manage.py chatbench`` calls,
and what the tests call directly. For each target (the chat at a URL, or
each layer and worker count of a sweep) and each scenario, it samples the
processes at each phase, runs the load, builds the JSON record and hands
it to ``emit`` as soon as it is ready.
"""

import asyncio
import dataclasses
import logging
import resource
import sys
from dataclasses import dataclass, field

from tqdm import tqdm

from bench import client, plots, report, scenarios, services, sweep, tables

logger = logging.getLogger(__name__)


@dataclass
class BenchOptions:
    """What to run, and how.

    ``scenarios``: names (list of str; comma-separated and ``all`` allowed).
    ``url``: a running chat's base URL (str), or None to boot splits for
    each of ``worker_counts`` (list of int) on each of ``layers`` (list of
    ``"chat"``/``"stock"``). ``duration`` and ``drain`` are seconds;
    ``overrides`` a dict for ``scenarios.override`` (rooms, members,
    senders, rate, window, connections). ``connect_concurrency`` bounds
    simultaneous joins; ``message_size`` pads messages (characters);
    ``presence`` makes members take presence frames (they ping on joining).
    ``progress`` shows tqdm bars on stderr. ``plot_dir`` (str or None) gets
    the PNGs, ``output`` (str or None) the JSON lines appended. ``watch``
    (dict of name to pid) adds processes to sample in URL mode;
    ``redis_url`` and ``postgres_url`` locate the services (defaults:
    ``REDIS_URL``/``DATABASE_URL`` or the local ports). ``rates`` (list of
    offered rates in messages/s, or empty) runs every scenario once per
    rate, in the order given, each on a split of its own in a sweep: the
    saturation curve (``--rates``); each of those records gets a ``curve``
    section (``report.curve_point``).
    """

    scenarios: list
    url: str | None = None
    worker_counts: list = field(default_factory=list)
    layers: list = field(default_factory=lambda: ["chat"])
    duration: float = 10.0
    drain: float = 10.0
    overrides: dict = field(default_factory=dict)
    connect_concurrency: int = 50
    message_size: int = 0
    presence: bool = True
    progress: bool = True
    plot_dir: str | None = None
    output: str | None = None
    watch: dict = field(default_factory=dict)
    redis_url: str | None = None
    postgres_url: str | None = None
    rates: list = field(default_factory=list)


def raise_fd_limit():
    """Raise this process's open-file soft limit to its hard limit, so that
    it, and the split it starts (children inherit it), can hold thousands
    of sockets. Returns the new soft limit (int)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def tqdm_progress(total=None, desc=""):
    """A tqdm bar on stderr counting to ``total`` (int or None), labelled ``desc``."""
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


def run_benchmark(options, emit=None):
    """Run every selected scenario on every target of ``options`` (a
    ``BenchOptions``). Each record (dict) goes to ``emit(record)`` as soon
    as it is made, and to ``options.output`` when set; plots are written at
    the end. Returns the list of records.

    Raises ``ValueError`` for bad options and ``bench.split.ProcessFailed``
    when a booted split fails; splits and scratch databases are torn down
    either way.
    """
    chosen = [
        scenarios.override(s, **options.overrides) for s in scenarios.select(options.scenarios)
    ]
    if options.url is None and not options.worker_counts:
        raise ValueError("Give a URL to load, or worker counts to boot splits for.")
    if any(count < 1 for count in options.worker_counts):
        raise ValueError("Worker counts must be at least 1.")
    points = {scenario.name: rate_points(scenario, options.rates) for scenario in chosen}
    limit = raise_fd_limit()
    needed = max(s.sockets for s in chosen) + 100
    if limit < needed:
        logger.warning("The open-file limit is %d, but a run opens %d sockets", limit, needed)
    runs = []

    def run_on(target, scenario):
        target.check()
        record, latencies = run_scenario(target, scenario, options)
        if options.rates:
            record["curve"] = report.curve_point(record)
        runs.append((record, latencies))
        if emit is not None:
            emit(record)
        if options.output:
            report.append_to_file(record, options.output)

    if options.url is not None:
        for scenario in chosen:
            if scenario.env:
                logger.warning(
                    "%s expects its server to run with %s; a chat at a URL runs as it was started",
                    scenario.name,
                    " ".join("%s=%s" % pair for pair in scenario.env),
                )
        layer = options.layers[0] if len(options.layers) == 1 else None
        target = sweep.url_target(options.url, layer, options.watch, options.redis_url)
        loads = [point for scenario in chosen for point in points[scenario.name]]
        for n, scenario in enumerate(loads):
            if n:
                target.settle()
            run_on(target, scenario)
    else:
        with sweep.SweepServices(options.redis_url, options.postgres_url) as services:
            for workers in options.worker_counts:
                for layer in options.layers:
                    # A split of its own for every scenario, and for every
                    # rate of a curve: what one run leaves queued (a slow
                    # Daphne can be minutes behind, and a rate past
                    # saturation leaves the most) must not load the next.
                    for scenario in chosen:
                        for point in points[scenario.name]:
                            with services.boot(layer, workers, point.env) as target:
                                run_on(target, point)
    records = [record for record, _ in runs]
    if options.rates:
        sys.stderr.write(tables.curve_table(records))
    if options.plot_dir:
        plots.write_plots(options.plot_dir, runs, sweep=options.url is None)
    return records


def rate_points(scenario, rates):
    """The runs of ``scenario`` (a ``Scenario``) for a saturation curve:
    one per rate in ``rates`` (messages/s in total, a list of numbers), the
    scenario's own rate replaced; ``[scenario]`` alone when ``rates`` is
    empty. Raises ``ValueError`` for a rate not above 0, a repeated rate,
    or the idle scenario, which sends one message whatever the rate."""
    if not rates:
        return [scenario]
    if scenario.idle:
        raise ValueError("%s sends one broadcast: it has no rate to vary." % scenario.name)
    if len(set(rates)) != len(rates):
        raise ValueError("Each rate of a curve must be given once.")
    return [scenarios.override(scenario, rate=rate) for rate in rates]


def run_scenario(target, scenario, options):
    """Run one ``Scenario`` against one ``sweep.Target`` with ``options``.

    A scenario with a flooder runs twice on the target: first without it,
    for the baseline, then with it; the record is the second run's, with
    a ``flood`` section comparing the two (``report.flood_section``).

    Returns ``(record, latencies_ms)``: the JSON record (dict) and every
    delivery's latency (an ``array`` of ms), kept for the plots.
    """
    if not scenario.flood_frames:
        record, result = _run_once(target, scenario, options)
        return record, result.latencies_ms
    baseline, _ = _run_once(target, dataclasses.replace(scenario, flood_frames=0), options)
    target.settle()
    record, result = _run_once(target, scenario, options)
    stored = target.stored_from(client.label_prefix(result.run_id), client.FLOOD_HANDLE)
    record["flood"] = report.flood_section(
        result.flood, stored, record, baseline, dict(scenario.env)
    )
    return record, result.latencies_ms


def _run_once(target, scenario, options):
    """One run of ``scenario``: its record (dict) and ``client.LoadResult``."""
    watcher = target.monitor()
    snapshots = {}
    server = {}
    run_id = client.new_run_id()
    session_keys = None
    if scenario.signed_in:
        if target.split is None:
            raise ValueError("%s signs its members in: it needs a booted split" % scenario.name)
        labels = ["%s%d" % (client.label_prefix(run_id), n) for n in range(scenario.rooms)]
        session_keys = services.signed_in_readers(target.split.env, labels, scenario.members)

    def on_phase(name):
        snapshots[name] = watcher.snapshot()
        if name == "drain_end":
            server["backlog"] = target.backlog()
            server["stored"] = target.stored(client.label_prefix(run_id))

    logger.info(
        "Running %s on %s (layer %s, %s workers)",
        scenario.name,
        target.base_url,
        target.layer,
        target.workers,
    )
    result = asyncio.run(
        client.run_load(
            target.base_url,
            scenario,
            duration=options.duration,
            drain=options.drain,
            connect_concurrency=options.connect_concurrency,
            message_size=options.message_size,
            presence=options.presence,
            run_id=run_id,
            on_phase=on_phase,
            progress=_progress(options, scenario),
            session_keys=session_keys,
        )
    )
    record = report.build_record(
        scenario,
        result,
        snapshots,
        target,
        options.duration,
        options.drain,
        options.message_size,
        stored=server.get("stored"),
        backlog=server.get("backlog"),
    )
    return record, result


def _progress(options, scenario):
    """The progress-bar maker for a run of ``scenario``: tqdm's, each bar
    labelled with the offered rate on a saturation curve, or the silent one
    when ``options.progress`` is off."""
    if not options.progress:
        return client.null_progress
    if not options.rates:
        return tqdm_progress

    def labelled(total=None, desc=""):
        return tqdm_progress(total, "[%g msg/s] %s" % (scenario.rate, desc))

    return labelled
