"""``manage.py chatsearchbench`` on a small scratch database: it fills,
adds the search column and indexes, and reports every kind of query with
percentiles in order (never how fast)."""

import json
import os

import pytest

from bench import search_speed
from bench.split import manage

pytestmark = pytest.mark.integration


def test_a_small_run_reports_the_fill_and_every_kind_of_query(postgres_url):
    out = manage(
        dict(os.environ),
        "chatsearchbench",
        "--postgres-url",
        postgres_url,
        "--messages",
        "3000",
        "--rooms",
        "10",
        "--queries",
        "3",
        timeout=300,
    )
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    fill, kinds = lines[0], lines[1:]
    assert fill["messages"] == 3000 and fill["rooms"] == 10
    assert set(fill["fill"]) >= {"insert_s", "search_column_s", "search_index_s", "author_index_s"}
    assert [k["kind"] for k in kinds] == list(search_speed.KINDS)
    for kind in kinds:
        assert kind["queries"] == 3
        assert 0 < kind["p50_ms"] <= kind["p99_ms"] <= kind["max_ms"]
        assert 0 <= kind["mean_results"] <= 1000
    # A common word is common in this text.
    assert next(k for k in kinds if k["kind"] == "common word")["mean_results"] > 10


def test_the_vocabulary_is_distinct_words_everyday_ones_first():
    words = search_speed.vocabulary()
    assert len(words) == len(set(words)) == search_speed.VOCABULARY
    assert words[: len(search_speed.COMMON_WORDS)] == list(search_speed.COMMON_WORDS)
