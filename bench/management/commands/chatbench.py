"""``manage.py chatbench``: load the chat over its WebSocket protocol and
report one JSON line per scenario. The work is done in ``bench``;
docs/benchmark.md is the manual.

It needs the development requirements (aiohttp, numpy, matplotlib, psutil,
tqdm, honcho). Without them, as in a production install, it stops with one
line naming the file that holds them instead of a traceback.
"""

import signal
import sys

from django.core.management.base import BaseCommand, CommandError

# The development requirements the benchmark imports (requirements-dev.in).
DEV_REQUIREMENTS = frozenset({"aiohttp", "numpy", "matplotlib", "psutil", "tqdm", "honcho"})
DEV_REQUIREMENTS_FILE = "requirements-dev.txt"

# The longest wait for stragglers after the sending, in seconds, unless
# --drain says otherwise (and but for a saturation curve, ``curve_drain``).
DEFAULT_DRAIN_S = 10.0

try:
    from bench import plots, round_trips, scenarios, sweep, tables
    from bench.report import append_to_file, write_line
    from bench.runner import BenchOptions, raise_fd_limit, run_benchmark, tqdm_progress
    from bench.split import ProcessFailed
except ImportError as error:
    if (error.name or "").split(".")[0] not in DEV_REQUIREMENTS:
        raise
    MISSING_REQUIREMENT = error.name.split(".")[0]
else:
    MISSING_REQUIREMENT = None


def int_list(value):
    """``"1,2,4"`` as ``[1, 2, 4]``; raises ``ValueError`` otherwise."""
    return [int(part) for part in value.split(",") if part.strip()]


def rate_list(value):
    """``"100,200,400"`` as ``[100.0, 200.0, 400.0]`` (messages/s); raises
    ``ValueError`` for a part that is not a number above 0, or no part."""
    rates = [float(part) for part in value.split(",") if part.strip()]
    if not rates or any(not rate > 0 or rate == float("inf") for rate in rates):
        raise ValueError(value)
    return rates


def curve_drain(duration):
    """The default drain (s) of a saturation curve after ``duration`` s of
    sending: enough for a run offered three times what the chat handles
    to deliver its backlog (which takes twice the sending time), plus the
    usual 10 s; the drain ends as soon as everything arrived anyway."""
    return 2 * duration + DEFAULT_DRAIN_S


def name_list(value):
    """``"stock,chat"`` as ``["stock", "chat"]``."""
    return [part.strip() for part in value.split(",") if part.strip()]


def watch_pair(value):
    """``"name=pid"`` as ``("name", pid)``; raises ``ValueError`` otherwise."""
    name, _, pid = value.partition("=")
    if not name or not pid:
        raise ValueError(value)
    return name, int(pid)


def missing_requirements_line(missing):
    """The one line (str) that says the benchmark cannot run without
    ``missing`` (str, a distribution's import name) and how to install it."""
    return (
        "chatbench needs the development requirements (%s is not installed): " % (missing)
        + "pip install -r %s" % DEV_REQUIREMENTS_FILE
    )


class Command(BaseCommand):
    @property
    def help(self):
        names = "latency, ..." if MISSING_REQUIREMENT else ", ".join(scenarios.SCENARIOS)
        return (
            "Load the chat with WebSocket clients and print one JSON line per scenario: "
            "against a running chat (--url) or splits booted for each worker count "
            "(--sweep, --workers). Scenarios: %s, or all. Needs %s."
            % (names, DEV_REQUIREMENTS_FILE)
        )

    # The command needs no database of its own, and a sweep brings its own.
    requires_system_checks = False

    def run_from_argv(self, argv):
        if MISSING_REQUIREMENT is not None:
            sys.stderr.write("CommandError: %s\n" % missing_requirements_line(MISSING_REQUIREMENT))
            sys.exit(1)
        super().run_from_argv(argv)

    def execute(self, *args, **options):
        if MISSING_REQUIREMENT is not None:
            raise CommandError(missing_requirements_line(MISSING_REQUIREMENT))
        return super().execute(*args, **options)

    def add_arguments(self, parser):
        parser.add_argument(
            "--scenario",
            action="append",
            default=[],
            metavar="NAME",
            help="scenario(s) to run, comma-separated or repeated; 'all' for every one "
            "(default: latency)",
        )
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--url",
            help="base URL of a running chat (default http://127.0.0.1:8000 "
            "when no sweep is asked for)",
        )
        target.add_argument(
            "--sweep",
            type=int_list,
            metavar="W,W,...",
            help="boot Daphne plus W workers for each W, and run every scenario on each",
        )
        target.add_argument("--workers", type=int, metavar="W", help="same as --sweep W")
        parser.add_argument(
            "--layer",
            type=name_list,
            default=["chat"],
            metavar="LAYER,...",
            help="channel layer(s) to boot in a sweep: chat, stock or both (default chat); "
            "with --url it only labels the records",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=10.0,
            metavar="S",
            help="seconds of sending (idle hold for connections); default 10",
        )
        parser.add_argument(
            "--drain",
            type=float,
            metavar="S",
            help="at most this many seconds to wait for stragglers; default 10, "
            "or 2 x --duration + 10 with --rates",
        )
        rate = parser.add_mutually_exclusive_group()
        rate.add_argument(
            "--rate",
            type=float,
            metavar="MSG/S",
            help="total send rate, overriding each scenario's",
        )
        rate.add_argument(
            "--rates",
            type=rate_list,
            metavar="MSG/S,...",
            help="a saturation curve: run each scenario once per total send rate, in turn, "
            "each on a split of its own in a sweep; prints the curve's table on stderr, "
            "and with --plot draws saturation-<scenario>.png",
        )
        parser.add_argument("--rooms", type=int, help="rooms, overriding each scenario's")
        parser.add_argument("--members", type=int, help="members per room, overriding")
        parser.add_argument("--senders", type=int, help="senders per room, overriding")
        parser.add_argument(
            "--window", type=int, help="messages in flight per sender in closed-loop scenarios"
        )
        parser.add_argument(
            "--connections",
            type=int,
            default=scenarios.DEFAULT_CONNECTIONS,
            help="idle sockets for the connections scenario (default %d)"
            % scenarios.DEFAULT_CONNECTIONS,
        )
        parser.add_argument(
            "--message-size",
            type=int,
            default=0,
            metavar="CHARS",
            help="pad each message to this many characters (at most 2000)",
        )
        parser.add_argument(
            "--connect-concurrency",
            type=int,
            default=50,
            metavar="N",
            help="members joining at once (default 50)",
        )
        parser.add_argument("--plot", metavar="DIR", help="write PNG figures into DIR")
        parser.add_argument("--output", metavar="FILE", help="append the JSON lines to FILE")
        parser.add_argument(
            "--watch",
            type=watch_pair,
            action="append",
            default=[],
            metavar="NAME=PID",
            help="with --url, another process to sample (e.g. worker.1=1234)",
        )
        parser.add_argument("--redis-url", help="Redis for a sweep (default REDIS_URL or local)")
        parser.add_argument(
            "--postgres-url",
            help="PostgreSQL server for a sweep's scratch database (default DATABASE_URL or local)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
        parser.add_argument(
            "--no-presence",
            action="store_true",
            help="members speak only the seed protocol and take no presence frames "
            "(by default each pings once on joining, as the room page does)",
        )
        parser.add_argument(
            "--count-round-trips",
            action="store_true",
            help="instead of scenarios, count the Redis commands and PostgreSQL round trips "
            "one chat message costs, hop by hop, on a split booted with W workers (--workers "
            "or --sweep; default 2) against a redis-server of its own",
        )
        parser.add_argument(
            "--messages",
            type=int,
            default=round_trips.DEFAULT_MESSAGES,
            metavar="N",
            help="messages counted by --count-round-trips (default %(default)s)",
        )
        parser.add_argument(
            "--table",
            metavar="FILE",
            help="print the runs recorded in FILE (as --output writes it) as a Markdown "
            "table, and with --plot draw the figures that need only the records "
            "(throughput and CPU); run nothing",
        )

    def handle(self, *args, **options):
        if options["table"]:
            try:
                records = tables.read_records(options["table"])
            except (OSError, ValueError) as error:
                raise CommandError(str(error)) from error
            counts = [r for r in records if r.get("scenario") == round_trips.SCENARIO]
            runs = [r for r in records if r.get("scenario") != round_trips.SCENARIO]
            if runs or not counts:
                self.stdout.write(tables.markdown_table(runs), ending="")
            if any(record.get("curve") for record in runs):
                self.stdout.write("\n" + tables.curve_table(runs), ending="")
            for record in counts:
                self.stdout.write(round_trips.markdown_table(record), ending="")
            if options["plot"]:
                plots.write_record_plots(options["plot"], runs)
            return
        if options["count_round_trips"]:
            self.count_round_trips(options)
            return
        worker_counts = options["sweep"] or ([options["workers"]] if options["workers"] else [])
        url = options["url"]
        if url is None and not worker_counts:
            url = "http://127.0.0.1:8000"
        unknown = [layer for layer in options["layer"] if layer not in sweep.LAYERS]
        if unknown or not options["layer"]:
            raise CommandError("--layer takes %s." % " and/or ".join(sweep.LAYERS))
        if not 0 <= options["message_size"] <= 2000:
            raise CommandError("--message-size must be 0 to 2000 characters.")
        drain = options["drain"]
        if drain is None:
            drain = curve_drain(options["duration"]) if options["rates"] else DEFAULT_DRAIN_S
        bench = BenchOptions(
            scenarios=options["scenario"] or ["latency"],
            url=url,
            worker_counts=worker_counts,
            layers=options["layer"],
            duration=options["duration"],
            drain=drain,
            overrides={
                key: options[key]
                for key in ("rooms", "members", "senders", "rate", "window", "connections")
            },
            connect_concurrency=options["connect_concurrency"],
            message_size=options["message_size"],
            presence=not options["no_presence"],
            progress=not options["no_progress"],
            plot_dir=options["plot"],
            output=options["output"],
            watch=dict(options["watch"]),
            redis_url=options["redis_url"],
            postgres_url=options["postgres_url"],
            rates=options["rates"] or [],
        )
        # A SIGTERM unwinds like Ctrl-C, so the splits this command started
        # are stopped and their scratch database dropped.
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            run_benchmark(bench, emit=lambda record: write_line(record, self.stdout))
        except (ValueError, ProcessFailed) as error:
            raise CommandError(str(error)) from error
        finally:
            signal.signal(signal.SIGTERM, previous)

    def count_round_trips(self, options):
        """``--count-round-trips``: one record per worker count,
        as a JSON line on stdout (and in ``--output``), and its per-hop
        table on stderr."""
        if options["url"]:
            raise CommandError("--count-round-trips boots a split of its own; drop --url.")
        if options["redis_url"]:
            raise CommandError(
                "--count-round-trips starts a redis-server of its own to watch; drop --redis-url."
            )
        if options["messages"] < 1:
            raise CommandError("--messages must be at least 1.")
        if options["layer"] != ["chat"]:
            raise CommandError(
                "--count-round-trips counts the chat's layer only: stock asgi_redis's Daphne "
                "opens a connection for every message, which cannot be put down to a hop."
            )
        worker_counts = options["sweep"] or [options["workers"] or 2]
        if any(count < 1 for count in worker_counts):
            raise CommandError("Worker counts must be at least 1.")
        raise_fd_limit()
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            for workers in worker_counts:
                bar = None
                if not options["no_progress"]:
                    bar = tqdm_progress(options["messages"], "round trips, W=%d" % workers)
                try:
                    record = round_trips.count_round_trips(
                        workers,
                        options["messages"],
                        options["postgres_url"],
                        progress=bar.update if bar else None,
                    )
                finally:
                    if bar is not None:
                        bar.close()
                write_line(record, self.stdout)
                if options["output"]:
                    append_to_file(record, options["output"])
                self.stderr.write(round_trips.markdown_table(record), ending="")
        except (ValueError, ProcessFailed, TimeoutError, FileNotFoundError) as error:
            raise CommandError(str(error)) from error
        finally:
            signal.signal(signal.SIGTERM, previous)
