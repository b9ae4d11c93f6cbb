"""The benchmark: its pure parts, a tiny run against the session's split
through ``manage.py chatbench --url``, and a sweep that boots and tears
down a split of its own. Only the sanity of the numbers is checked, never
their size: these run on small shared machines."""

import io
import json
from array import array

import psutil
import pytest
from django.core.management import CommandError, call_command

from bench import client, plots, report, scenarios, services, sweep
from bench.runner import BenchOptions, run_benchmark

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
