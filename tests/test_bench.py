"""The benchmark: its pure parts, a tiny run against the session's split
through ``manage.py chatbench --url``, and a sweep that boots and tears
down a split of its own. Only the sanity of the numbers is checked, never
their size: these run on small shared machines."""

import io
import json
import random
from array import array

import psutil
import pytest
from django.core.management import CommandError, call_command

from bench import client, plots, report, scenarios, services, sweep, tables
from bench.management.commands import chatbench
from bench.runner import BenchOptions, rate_points, run_benchmark

RECORD_KEYS = {
    "scenario",
    "layer",
    "workers",
    "conditions",
    "sent",
    "expected",
    "delivered",
    "delivered_pct",
    "deliveries_per_s",
    "latency_ms",
    "connect_time_s",
    "errors",
    "cpu",
    "saturation",
    "worker_cpu_ms_per_message",
    "target",
}


def assert_sane(record, members):
    """A tiny, unhurried run: every message reached every member, and the
    numbers hang together."""
    assert RECORD_KEYS <= set(record)
    assert record["sent"] > 0
    assert record["expected"] == record["sent"] * members
    assert record["delivered"] == record["expected"]
    assert record["delivered_pct"] == 100.0
    latency = record["latency_ms"]
    assert latency["count"] == record["delivered"]
    assert 0 <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert record["connect_time_s"] > 0
    errors = record["errors"]
    assert errors["error_frames"] == errors["failed_connects"] == errors["disconnects"] == 0
    assert {"duration_s", "rate", "rooms", "members"} <= set(record["conditions"])
    assert "chatbench" in record["cpu"]["processes"]
    assert record["saturation"]["process"] and record["saturation"]["cpu_pct"] >= 0


def test_select_takes_names_commas_and_all_without_repeats():
    assert [s.name for s in scenarios.select(["latency,rooms", "latency"])] == ["latency", "rooms"]
    assert len(scenarios.select(["all"])) == len(scenarios.SCENARIOS)
    with pytest.raises(ValueError):
        scenarios.select(["nope"])


def test_override_changes_only_what_it_is_given():
    fanout = scenarios.override(scenarios.SCENARIOS["fanout-50"], members=3, rate=5)
    assert (fanout.members, fanout.rate, fanout.rooms) == (3, 5.0, 1)
    idle = scenarios.override(scenarios.SCENARIOS["connections"], members=3, connections=7)
    assert idle.members == 7
    with pytest.raises(ValueError):
        scenarios.override(scenarios.SCENARIOS["latency"], rooms=0)


def test_burst_is_twenty_rooms_of_two_all_sending_600_messages_a_second_in_total():
    burst = scenarios.SCENARIOS["burst"]
    assert (burst.rooms, burst.members, burst.senders, burst.rate) == (20, 2, 2, 600.0)
    assert burst.sockets == 40
    assert not (burst.idle or burst.flood_frames or burst.change_every or burst.env)
    assert burst in scenarios.select(["all"])
    assert burst.conditions()["window"] is None


def parse(*arguments):
    """``chatbench``'s options (dict) from ``arguments`` (str), as its
    parser reads them; a bad one raises ``CommandError``."""
    parser = chatbench.Command().create_parser("manage.py", "chatbench")
    return vars(parser.parse_args(arguments))


def test_rates_parse_as_a_list_of_messages_per_second():
    assert parse("--rates=100,200.5, 400")["rates"] == [100.0, 200.5, 400.0]
    assert parse()["rates"] is None
    assert parse("--rate=5")["rate"] == 5.0
    for bad in ("0,100", "-5", "fast", ",", "nan", "inf"):
        with pytest.raises(CommandError):
            parse("--rates=%s" % bad)
    with pytest.raises(CommandError):
        parse("--rate=5", "--rates=100,200")


def test_a_curve_drains_long_enough_for_three_times_what_the_chat_handles():
    # Offered 3 x capacity for D s leaves 2 D s of backlog at capacity.
    for duration in (1.0, 10.0, 30.0):
        assert chatbench.curve_drain(duration) >= 2 * duration
        assert chatbench.curve_drain(duration) >= chatbench.DEFAULT_DRAIN_S
    assert parse()["drain"] is None


def test_a_curve_runs_the_scenario_once_per_rate_and_refuses_what_has_no_rate():
    rooms = scenarios.SCENARIOS["rooms"]
    points = rate_points(rooms, [100, 250.5])
    assert [point.rate for point in points] == [100.0, 250.5]
    assert all(point.rooms == rooms.rooms and point.name == rooms.name for point in points)
    assert rate_points(rooms, []) == [rooms]
    # A closed loop becomes open at each rate.
    assert [p.rate for p in rate_points(scenarios.SCENARIOS["workers"], [50])] == [50.0]
    with pytest.raises(ValueError, match="no rate"):
        rate_points(scenarios.SCENARIOS["connections"], [100, 200])
    with pytest.raises(ValueError, match="once"):
        rate_points(rooms, [100, 100])


CURVE_RANDOM = random.Random(7)


def curve_record(rate, workers=1, layer="chat"):
    """A record as a curve's run makes it, with made-up figures that grow
    with ``rate`` (messages/s) and saturate at 400."""
    rng = CURVE_RANDOM
    handled = min(rate, 400.0) * rng.uniform(0.95, 1.0)
    p50 = rng.uniform(1, 5) * max(1.0, rate / 100.0) ** 2
    record = {
        "scenario": "burst",
        "layer": layer,
        "workers": workers,
        "conditions": {"rate": float(rate)},
        "sent_per_s": rate * rng.uniform(0.98, 1.0),
        "messages_per_s": handled,
        "deliveries_per_s": handled * 2,
        "delivered_pct": min(100.0, 100.0 * 400.0 / rate) if rate > 400 else 100.0,
        "latency_ms": {"p50": p50, "p99": p50 * rng.uniform(2, 4)},
        "errors": {"disconnects": rng.randint(0, 3)},
        "stored": int(handled * 10),
        "backlog": 0,
        "saturation": {"process": "worker.1", "cpu_pct": min(rate / 4, 100)},
        "cpu": {
            "processes": {
                "daphne": rate / 10,
                "worker.1": min(rate / 4, 100),
                "redis-server": rate / 40,
                "postgres": rate / 20,
                "chatbench": 5.0,
            }
        },
    }
    record["curve"] = report.curve_point(record)
    return record


def test_a_curve_point_takes_its_figures_from_the_record():
    record = curve_record(800)
    point = record["curve"]
    assert point["offered_per_s"] == record["conditions"]["rate"] == 800.0
    assert point["sent_per_s"] == record["sent_per_s"]
    assert point["delivered_messages_per_s"] == record["messages_per_s"]
    assert point["deliveries_per_s"] == record["deliveries_per_s"]
    assert point["delivered_pct"] == record["delivered_pct"]
    assert (point["p50_ms"], point["p99_ms"]) == (
        record["latency_ms"]["p50"],
        record["latency_ms"]["p99"],
    )
    assert point["closed_by_server"] == record["errors"]["disconnects"]
    (row,) = tables.curve_table([record, {"scenario": "latency"}]).splitlines()[2:]
    cells = row.strip("| ").split(" | ")
    assert cells[3] == "800"
    assert cells[8] == "{:,.1f}".format(record["latency_ms"]["p50"])
    assert tables.curve_table([{"scenario": "latency"}]) == ""


def test_the_saturation_figure_draws_latency_and_delivery_against_the_offered_rate(tmp_path):
    # Given out of order: the curve is drawn in offered-rate order.
    records = [curve_record(rate) for rate in (400, 100, 800, 200)]
    by_rate = sorted(records, key=lambda record: record["conditions"]["rate"])

    path = plots.saturation_figure("burst", records, tmp_path / "saturation-burst.png")

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    latency, delivered, cpu, share = plots.draw_saturation("burst", records).axes
    for axes in (latency, delivered, cpu):
        assert axes.get_xlabel() == "offered rate (messages/s)"
    assert latency.get_ylabel() == "latency (ms)" and latency.get_yscale() == "log"
    assert delivered.get_ylabel() == "delivered (messages/s)"
    assert share.get_ylabel() == "delivered (% of expected)"
    assert cpu.get_ylabel() == "CPU (% of one core)"
    lines = {
        line.get_label(): line for axes in (latency, delivered, share, cpu) for line in axes.lines
    }
    rates = [record["conditions"]["rate"] for record in by_rate]
    for label, values in (
        ("p50 (chat W=1)", [record["latency_ms"]["p50"] for record in by_rate]),
        ("p99 (chat W=1)", [record["latency_ms"]["p99"] for record in by_rate]),
        ("delivered msg/s (chat W=1)", [record["messages_per_s"] for record in by_rate]),
        ("delivered % (chat W=1)", [record["delivered_pct"] for record in by_rate]),
        ("workers", [record["cpu"]["processes"]["worker.1"] for record in by_rate]),
    ):
        assert list(lines[label].get_xdata()) == rates
        assert list(lines[label].get_ydata()) == pytest.approx(values)
    assert list(lines["offered"].get_ydata()) == rates


def test_a_curve_gets_its_own_figure_and_no_worker_count_figures(tmp_path):
    records = [curve_record(rate, workers=2) for rate in (100, 200)]
    records.append(curve_record(100, workers=1))
    written = plots.write_record_plots(tmp_path, records)
    assert [path.name for path in written] == ["saturation-burst.png"]
    figure = plots.draw_saturation("burst", records)
    labels = {line.get_label() for line in figure.axes[0].lines}
    assert labels == {"p50 (chat W=1)", "p99 (chat W=1)", "p50 (chat W=2)", "p99 (chat W=2)"}
    assert plots.draw_saturation("burst", [{"scenario": "burst"}]) is None


def test_each_rate_of_a_curve_has_a_colour_of_its_own_in_the_latency_figure(tmp_path):
    records = [curve_record(rate) for rate in (100, 200, 400)]
    styles = [plots._style(record, records) for record in records]
    assert len({colour for colour, _ in styles}) == 3
    rng = random.Random(3)
    runs = [(record, array("d", (rng.uniform(1, 50) for _ in range(100)))) for record in records]
    written = plots.write_plots(tmp_path, runs, sweep=False)
    assert sorted(path.name for path in written) == ["latency-burst.png", "saturation-burst.png"]


def test_a_table_of_a_broken_file_names_the_line(tmp_path):
    records = tmp_path / "runs.jsonl"
    records.write_text('{"scenario": "latency"}\n\nnot json\n')
    with pytest.raises(CommandError, match="line 3"):
        call_command("chatbench", "--table=%s" % records)
    with pytest.raises(CommandError, match="No such file"):
        call_command("chatbench", "--table=%s" % (tmp_path / "missing.jsonl"))


def test_the_cpu_figure_sums_the_workers_and_keeps_the_other_processes_apart():
    record = {
        "cpu": {
            "processes": {"daphne": 40.0, "worker.1": 20.0, "worker.2": 22.5, "postgres": 9.0},
        }
    }
    assert plots.cpu_by_part(record) == {
        "daphne": 40.0,
        "workers": 42.5,
        "postgres": 9.0,
        "redis-server": 0.0,
        "chatbench": 0.0,
    }


def test_percentiles_are_ordered_and_empty_samples_give_none():
    summary = report.percentiles(array("d", [5.0, 1.0, 3.0, 100.0, 2.0]))
    assert summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["max"] == 100.0
    assert summary["count"] == 5
    assert report.percentiles(array("d"))["p50"] is None


def test_the_ledger_reads_only_its_own_runs_messages():
    ledger = client.Ledger(client.LoadResult(run_id="abc", sockets=1), message_size=40)
    text = ledger.text(7, 12)
    assert len(text) == 40
    assert ledger.parse(text) == (7, 12)
    assert ledger.parse("b:other:7:12:") is None
    assert ledger.parse("hello") is None


@pytest.mark.integration
def test_the_flood_scenario_runs_its_split_with_the_default_rate_limits():
    flood = scenarios.SCENARIOS["flood"]
    assert (flood.rooms, flood.members, flood.rate, flood.flood_frames) == (1, 20, 20.0, 5000)
    env = sweep.SweepServices().env("chat", "p:", flood.env)
    assert env["CHAT_RATE_LIMIT_PER_MINUTE"] == "120"
    assert env["CHAT_RATE_LIMIT_BURST"] == "10"
    # Every other scenario keeps the limit off.
    assert sweep.SweepServices().env("chat", "p:")["CHAT_RATE_LIMIT_PER_MINUTE"] == "0"
    assert flood.conditions()["env"] == dict(flood.env)
    assert scenarios.SCENARIOS["latency"].conditions()["flood_frames"] is None


def test_the_flood_allowance_is_the_burst_plus_the_rate_over_the_flood():
    assert report.flood_allowance(10, 120, 3.0) == 16.0
    assert report.flood_allowance(10, 0, 3.0) is None
    assert report.flood_allowance(None, 120, 3.0) is None


def flood_record(p99, workers=(40.0, 20.0)):
    processes = {"daphne": 30.0, "chatbench": 10.0}
    processes.update(("worker.%d" % n, pct) for n, pct in enumerate(workers, 1))
    return {
        "latency_ms": {"p50": p99 / 2, "p99": p99},
        "delivered_pct": 100.0,
        "cpu": {"processes": processes, "host_pct": 50.0},
    }


def test_the_flood_section_compares_the_room_with_and_without_the_flooder():
    flood = client.FloodResult(frames=5000, joined=True, sent=37, close_code=1008)
    flood.error_codes["RATE_LIMITED"] = 20
    flood.started, flood.ended = 100.0, 100.5
    limits = dict(scenarios.DEFAULT_LIMITS)
    section = report.flood_section(flood, 10, flood_record(30.0), flood_record(20.0), limits)
    assert section["allowed"] == 11.0 and section["stored_within_allowance"] is True
    assert section["p99_ratio"] == 1.5 and section["p99_within_2x"] is True
    assert section["workers_cpu_pct"] == 60.0
    assert section["error_codes"] == {"RATE_LIMITED": 20} and section["close_code"] == 1008

    over = report.flood_section(flood, 12, flood_record(50.0), flood_record(20.0), limits)
    assert over["stored_within_allowance"] is False and over["p99_within_2x"] is False
    unseen = report.flood_section(flood, None, flood_record(50.0), flood_record(20.0), {})
    assert unseen["stored_within_allowance"] is None and unseen["allowed"] is None


def test_the_workers_cpu_is_none_when_no_worker_was_watched():
    assert report.workers_cpu_pct({"processes": {"daphne": 10.0}}) is None


def test_the_changes_scenario_is_the_rooms_load_with_a_change_after_every_tenth_message():
    changes, rooms = scenarios.SCENARIOS["changes"], scenarios.SCENARIOS["rooms"]
    assert (changes.rooms, changes.members, changes.senders, changes.rate) == (
        rooms.rooms,
        rooms.members,
        rooms.senders,
        rooms.rate,
    )
    assert changes.change_every == 10
    assert changes.conditions()["change_every"] == 10
    assert rooms.conditions()["change_every"] is None


def test_the_ledger_counts_a_change_frame_once_per_member_and_not_as_a_message():
    result = client.LoadResult(run_id="abc", sockets=2)
    ledger = client.Ledger(result, change_every=10)
    member = client.Member(ledger, client.Room("r"), 0)
    change = json.dumps(
        {"type": "change", "change": "edit", "seq": 1, "object": {"id": 5, "seq": 1}}
    )
    ledger.on_frame(member, change, 0.0)
    ledger.on_frame(member, change, 0.1)
    assert (result.changes_delivered, result.duplicates) == (1, 1)
    assert (result.delivered, result.foreign_frames) == (0, 0)


def test_a_tiny_latency_run_against_the_running_split(split, tmp_path):
    output = tmp_path / "bench.jsonl"
    stdout = io.StringIO()
    watch = ["worker.%d=%d" % (n, worker.pid) for n, worker in enumerate(split.workers, 1)]
    # 10 messages/s from two senders stays inside the chat's per-socket
    # rate limit, which this split keeps.
    call_command(
        "chatbench",
        "--scenario=latency",
        "--url=%s" % split.base_url,
        "--duration=1",
        "--rate=10",
        "--drain=15",
        "--no-progress",
        "--output=%s" % output,
        "--plot=%s" % (tmp_path / "plots"),
        *("--watch=%s" % pair for pair in watch),
        stdout=stdout,
    )

    (line,) = stdout.getvalue().splitlines()
    record = json.loads(line)
    assert json.loads(output.read_text()) == record
    assert record["scenario"] == "latency"
    assert_sane(record, members=2)
    assert record["target"]["mode"] == "url"
    assert record["worker_cpu_ms_per_message"] is not None
    assert (tmp_path / "plots" / "latency-latency.png").stat().st_size > 0

    table = io.StringIO()
    call_command("chatbench", "--table=%s" % output, stdout=table)
    header, rule, *rows = table.getvalue().splitlines()
    assert header.split(" | ")[:3] == ["| scenario", "layer", "W"]
    (cells,) = [row.strip("| ").split(" | ") for row in rows]
    assert cells[0] == "latency"
    assert cells[5] == "{:,}".format(record["delivered"])
    assert cells[8] == "{:,.1f}".format(record["latency_ms"]["p50"])


def test_a_tiny_changes_run_edits_and_reacts_through_named_members(split):
    stdout = io.StringIO()
    # Two senders at 2 messages/s each, and a change after every tenth:
    # inside the per-socket rate limit this split keeps.
    call_command(
        "chatbench",
        "--scenario=changes",
        "--url=%s" % split.base_url,
        "--rooms=1",
        "--members=2",
        "--duration=10",
        "--rate=4",
        "--drain=15",
        "--no-progress",
        stdout=stdout,
    )

    record = json.loads(stdout.getvalue())
    assert_sane(record, members=2)
    # Each sender sent 20 messages: an edit of its own after the 10th, a
    # reaction to the other's after the 20th; every member got all four.
    assert record["changes"] == {"sent": 4, "expected": 8, "delivered": 8, "delivered_pct": 100.0}


def test_a_tiny_burst_run_against_the_running_split(split):
    stdout = io.StringIO()
    # 60 messages/s from 40 senders for a second: one or two messages
    # each, inside the per-socket rate limit this split keeps.
    call_command(
        "chatbench",
        "--scenario=burst",
        "--url=%s" % split.base_url,
        "--duration=1",
        "--rate=60",
        "--drain=15",
        "--no-progress",
        stdout=stdout,
    )

    record = json.loads(stdout.getvalue())
    assert record["scenario"] == "burst"
    assert_sane(record, members=2)
    assert record["sent"] == 60
    assert record["conditions"]["rooms"] == 20 and record["conditions"]["senders"] == 2
    assert record["messages_per_s"] > 0 and record["handled"] == record["sent"]
    assert "curve" not in record


def test_a_tiny_saturation_curve_against_the_running_split(split, tmp_path, capsys):
    stdout = io.StringIO()
    output = tmp_path / "curve.jsonl"
    call_command(
        "chatbench",
        "--scenario=burst",
        "--url=%s" % split.base_url,
        "--duration=1",
        "--rates=20,40",
        "--no-progress",
        "--output=%s" % output,
        "--plot=%s" % (tmp_path / "plots"),
        stdout=stdout,
    )

    records = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [record["curve"]["offered_per_s"] for record in records] == [20.0, 40.0]
    for record in records:
        assert_sane(record, members=2)
        # The default drain of a curve: 2 x duration + 10 s.
        assert record["conditions"]["drain_s"] == 12.0
        point = record["curve"]
        assert point["delivered_pct"] == 100.0 and point["closed_by_server"] == 0
        assert point["delivered_messages_per_s"] == record["messages_per_s"] > 0
        assert 0 <= point["p50_ms"] <= point["p99_ms"]
    assert records[0]["sent"] == 20 and records[1]["sent"] == 40
    # The curve's table on stderr, one row per rate.
    table = capsys.readouterr().err
    assert table.count("| burst |") == 2
    figure = tmp_path / "plots" / "saturation-burst.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # --table prints the curve again, and --plot redraws its figure.
    table = io.StringIO()
    again = tmp_path / "again"
    call_command("chatbench", "--table=%s" % output, "--plot=%s" % again, stdout=table)
    assert "| offered msg/s |" in table.getvalue()
    assert [path.name for path in again.iterdir()] == ["saturation-burst.png"]


@pytest.mark.integration
def test_a_sweep_boots_its_own_split_and_tears_it_down(redis_url, postgres_url, tmp_path):
    options = BenchOptions(
        scenarios=["latency"],
        worker_counts=[1],
        layers=["chat"],
        duration=0.5,
        drain=15,
        overrides={"rate": 10},
        progress=False,
        plot_dir=str(tmp_path),
        redis_url=redis_url,
        postgres_url=postgres_url,
    )

    (record,) = run_benchmark(options)

    assert_sane(record, members=2)
    assert (record["layer"], record["workers"]) == ("chat", 1)
    assert record["stored"] == record["sent"]
    assert record["backlog"] == 0
    target = record["target"]
    assert set(target["pids"]) == {"daphne", "worker.1"}
    assert {"daphne", "worker.1", "redis-server", "postgres"} <= set(record["cpu"]["processes"])
    # Everything it started is gone: processes, database, Redis keys.
    assert not any(psutil.pid_exists(pid) for pid in target["pids"].values())
    assert not services.database_exists(postgres_url, target["database"])
    assert services.count_redis_prefix(redis_url, target["redis_prefix"]) == 0
    assert (tmp_path / "throughput-latency.png").stat().st_size > 0
    assert (tmp_path / "cpu-latency.png").stat().st_size > 0

    # The figures that need only the records can be drawn again from a file.
    records = tmp_path / "runs.jsonl"
    records.write_text(json.dumps(record) + "\n")
    again = tmp_path / "again"
    call_command("chatbench", "--table=%s" % records, "--plot=%s" % again, stdout=io.StringIO())
    assert sorted(path.name for path in again.iterdir()) == [
        "cpu-latency.png",
        "throughput-latency.png",
    ]


@pytest.mark.integration
def test_a_curve_in_a_sweep_boots_a_split_for_each_rate(redis_url, postgres_url, tmp_path):
    options = BenchOptions(
        scenarios=["burst"],
        worker_counts=[1],
        layers=["chat"],
        duration=1,
        drain=15,
        rates=[20, 40],
        progress=False,
        plot_dir=str(tmp_path),
        redis_url=redis_url,
        postgres_url=postgres_url,
    )

    records = run_benchmark(options)

    assert [record["conditions"]["rate"] for record in records] == [20.0, 40.0]
    for record in records:
        assert_sane(record, members=2)
        assert record["stored"] == record["sent"] and record["backlog"] == 0
        assert record["curve"]["stored"] == record["stored"]
        assert record["curve"]["delivered_pct"] == 100.0
    first, second = (record["target"] for record in records)
    assert first["pids"] != second["pids"]
    # One scratch database for the whole curve, gone afterwards with the
    # splits and their Redis keys.
    assert first["database"] == second["database"]
    assert not services.database_exists(postgres_url, first["database"])
    for target in (first, second):
        assert not any(psutil.pid_exists(pid) for pid in target["pids"].values())
        assert services.count_redis_prefix(redis_url, target["redis_prefix"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "latency-burst.png",
        "saturation-burst.png",
    ]
