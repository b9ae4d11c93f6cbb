"""The client side of "Keeping up" (docs/protocol.md), as bench/keeping_up.py
holds it: the rules of static/chat/room/keeping-up.mjs (tests/js/), without any
I/O."""

import json

import pytest

from bench import client
from bench.keeping_up import GAP, HELD, OLD, SHOWN, Timeline


def message(seq, id=None, handle="ann"):
    """A message of the live shape; its id is ``100 + seq`` unless given."""
    return {
        "id": 100 + seq if id is None else id,
        "seq": seq,
        "timestamp": "2017-05-01T14:00:00.000000Z",
        "handle": handle,
        "message": "text %d" % seq,
    }


def ids(*seqs):
    return [100 + seq for seq in seqs]


def test_a_message_one_past_the_last_is_shown_at_once():
    timeline = Timeline()
    assert [timeline.receive(message(seq)) for seq in (1, 2, 3)] == [SHOWN, SHOWN, SHOWN]
    assert timeline.shown == ids(1, 2, 3)
    assert (timeline.last_id, timeline.last_seq) == (103, 3)
    assert not timeline.pending and not timeline.catch_up_due


def test_a_timeline_can_start_from_messages_a_page_already_showed():
    timeline = Timeline(last_id=107, last_seq=7)
    assert timeline.receive(message(7)) == OLD
    assert timeline.receive(message(8)) == SHOWN
    assert timeline.shown == ids(8)


def test_a_message_at_or_below_the_last_seq_is_dropped_as_old():
    timeline = Timeline()
    timeline.receive(message(1))
    timeline.receive(message(2))
    assert timeline.receive(message(2)) == OLD
    assert timeline.receive(message(1)) == OLD
    assert timeline.shown == ids(1, 2)
    assert timeline.duplicates == 0


def test_a_gap_holds_the_message_and_asks_for_a_catch_up():
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(message(3)) == GAP
    assert timeline.shown == ids(1)
    assert [m["seq"] for _, m in timeline.pending] == [3]
    assert timeline.catch_up_due
    # Until that catch-up ends, even the missing message itself waits.
    assert timeline.receive(message(2)) == HELD
    assert timeline.shown == ids(1)


def test_a_catch_up_starts_after_the_last_message_shown():
    timeline = Timeline()
    timeline.receive(message(1))
    timeline.receive(message(3))
    assert timeline.begin_catch_up() == 101
    assert timeline.catching_up and not timeline.catch_up_due


def test_the_catch_up_fills_the_gap_then_replays_held_messages_in_seq_order():
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(message(4)) == GAP
    timeline.begin_catch_up()
    # Arrived during the catch-up, out of order.
    assert timeline.receive(message(6)) == HELD
    assert timeline.receive(message(5)) == HELD
    assert timeline.show_page([message(2), message(3)]) == 103
    assert timeline.shown == ids(1, 2, 3)

    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 2, 3, 4, 5, 6)
    assert (timeline.last_id, timeline.last_seq) == (106, 6)
    assert not timeline.pending and not timeline.catching_up


def test_pages_are_fetched_each_after_the_last_message_of_the_one_before():
    timeline = Timeline()
    after = timeline.begin_catch_up()
    assert after == 0
    after = timeline.show_page([message(1), message(2)])
    after = timeline.show_page([message(3)])
    assert after == 103
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 2, 3)


def test_live_messages_arriving_during_a_catch_up_are_held():
    timeline = Timeline()
    timeline.begin_catch_up()
    assert timeline.receive(message(1)) == HELD
    assert timeline.receive(message(2)) == HELD
    assert timeline.shown == []
    timeline.show_page([])
    timeline.end_catch_up()
    assert timeline.shown == ids(1, 2)


def test_a_message_that_arrived_before_the_catch_up_across_a_hole_in_history_is_shown():
    # Message 2 was deleted: no catch-up will ever bring it.
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(message(3)) == GAP
    timeline.begin_catch_up()
    timeline.show_page([])
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 3)
    assert (timeline.last_seq, timeline.catch_up_due) == (3, False)
    assert timeline.receive(message(4)) == SHOWN


def test_a_message_that_arrived_during_the_catch_up_and_still_leaves_a_gap_asks_for_another():
    timeline = Timeline()
    timeline.receive(message(1))
    timeline.begin_catch_up()
    # Stored after the catch-up's fetch, so message 2 may be stored yet unseen.
    assert timeline.receive(message(3)) == HELD
    timeline.show_page([])
    assert timeline.end_catch_up() is True
    assert timeline.shown == ids(1)
    assert timeline.catch_up_due
    assert [m["seq"] for _, m in timeline.pending] == [3]

    assert timeline.begin_catch_up() == 101
    timeline.show_page([message(2)])
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 2, 3)


def test_the_arrival_rule_counts_arrivals_up_to_the_start_of_the_catch_up_itself():
    # The gap was seen at the second arrival; the third came before the
    # fetch began: both were stored before it, so both count as before.
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(message(3)) == GAP
    assert timeline.receive(message(5)) == HELD
    timeline.begin_catch_up()
    assert timeline.receive(message(7)) == HELD
    timeline.show_page([])
    assert timeline.end_catch_up() is True
    assert timeline.shown == ids(1, 3, 5)
    assert [m["seq"] for _, m in timeline.pending] == [7]


def test_a_message_shown_both_live_and_in_a_page_counts_once():
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(message(3)) == GAP
    timeline.begin_catch_up()
    assert timeline.receive(message(4)) == HELD
    timeline.show_page([message(2), message(3), message(4)])
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 2, 3, 4)
    assert timeline.shown_set == set(ids(1, 2, 3, 4))
    assert timeline.duplicates == 0


def test_a_page_that_repeats_a_shown_message_counts_a_duplicate_and_shows_it_once():
    timeline = Timeline()
    timeline.receive(message(1))
    timeline.begin_catch_up()
    timeline.show_page([message(1), message(2)])
    timeline.end_catch_up()
    assert timeline.shown == ids(1, 2)
    assert timeline.duplicates == 1


def test_a_failed_catch_up_keeps_the_held_messages_for_the_next():
    timeline = Timeline()
    timeline.receive(message(1))
    timeline.receive(message(3))
    timeline.begin_catch_up()
    timeline.receive(message(4))
    timeline.abort_catch_up()
    assert not timeline.catching_up
    assert [m["seq"] for _, m in timeline.pending] == [3, 4]
    assert timeline.shown == ids(1)

    assert timeline.begin_catch_up() == 101
    timeline.show_page([message(2)])
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 2, 3, 4)


def test_only_one_catch_up_runs_at_a_time():
    timeline = Timeline()
    timeline.begin_catch_up()
    with pytest.raises(RuntimeError):
        timeline.begin_catch_up()
    timeline.end_catch_up()
    with pytest.raises(RuntimeError):
        timeline.end_catch_up()
    with pytest.raises(RuntimeError):
        timeline.show_page([message(1)])


def test_on_show_is_called_once_per_message_as_it_is_first_shown():
    seen = []
    timeline = Timeline(on_show=lambda m: seen.append(m["seq"]))
    timeline.receive(message(1))
    timeline.receive(message(3))
    timeline.receive(message(1))
    assert seen == [1]
    timeline.begin_catch_up()
    timeline.show_page([message(1, id=101), message(2)])
    timeline.end_catch_up()
    assert seen == [1, 2, 3]


def test_without_keep_shown_only_the_order_and_the_count_are_kept():
    timeline = Timeline(keep_shown=False)
    for seq in (1, 2, 2, 3):
        timeline.receive(message(seq))
    assert timeline.count == 3
    assert (timeline.shown, timeline.shown_set) == ([], set())
    assert timeline.last_seq == 3


class FakeMember:
    """What ``Ledger.on_frame`` reads of a bench member."""

    def __init__(self, member_id):
        self.id = member_id
        self.seen = set()
        self.on_echo = None
        self.timeline = Timeline(keep_shown=False)


def test_the_load_generator_counts_each_live_gap_once_and_goes_on_past_it():
    result = client.LoadResult(run_id="abc", sockets=1)
    ledger = client.Ledger(result)
    member = FakeMember(1)
    for seq in (1, 2, 4, 5, 8, 9):
        frame = dict(message(seq), message=ledger.text(0, seq))
        ledger.sent_at[(0, seq)] = 0.0
        ledger.on_frame(member, json.dumps(frame), 1.0)
    assert result.gaps == 2
    assert result.delivered == 6
    assert (member.timeline.last_seq, member.timeline.count) == (9, 6)
    assert not member.timeline.pending and not member.timeline.catch_up_due
