"""bench/delay_precision.py (``manage.py chatdelaybench``): a tiny run on a
split of its own, checked for completeness and consistency, never for
how fast."""

import json

import pytest
from django.core.management import call_command

from bench import delay_precision

pytestmark = pytest.mark.integration


def test_the_summary_gives_min_median_p99_and_max_in_order():
    summary = delay_precision._summary([float(n) for n in range(1, 101)])
    assert summary["min"] == 1.0 and summary["max"] == 100.0
    assert summary["min"] <= summary["p50"] <= summary["p99"] <= summary["max"]


def test_a_tiny_run_posts_every_message_once_and_reports_its_lateness(
    redis_url, postgres_url, monkeypatch, capsys
):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    call_command("chatdelaybench", count=3, over=1.0, lead=3.0, workers=1)
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (record["count"], record["received"], record["stored"]) == (3, 3, 3)
    assert record["duplicates"] == 0
    for key in ("late_ms", "stored_late_ms"):
        late = record[key]
        assert late["min"] <= late["p50"] <= late["p99"] <= late["max"]
        # Never before its time.
        assert late["min"] >= -100
