"""The client side of "Keeping up" (docs/protocol.md), as bench/keeping_up.py
holds it: the rules of static/chat/room/keeping-up.mjs (tests/js/), without any
I/O."""

import json

import pytest

from bench import client
from bench.keeping_up import CHANGED, GAP, HELD, IGNORED, OLD, SHOWN, Timeline


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


# Changes (added 2026-12-05): a room's seq numbers its events.


def change(seq, of, text=None, kind="edit", deleted=False, id=None):
    """The change frame of event ``seq`` to the message posted at ``of``
    (its seq), leaving it with ``text``; a tombstone when ``deleted``."""
    state = dict(message(of, id=id), version=seq)
    if deleted:
        state["deleted"] = True
        state["message"] = ""
    elif text is not None:
        state["message"] = text
    return {"type": "change", "change": kind, "seq": seq, "object": state}


def following(**kwargs):
    return Timeline(follow_changes=True, **kwargs)


def texts(timeline):
    return {id: m["message"] for id, m in timeline.messages.items()}


def test_a_change_one_past_the_last_seq_is_applied_to_its_message():
    changed = []
    timeline = following(on_change=changed.append)
    timeline.receive(message(1))
    timeline.receive(message(2))
    assert timeline.receive(change(3, of=1, text="fixed")) == CHANGED
    assert timeline.last_seq == 3
    assert texts(timeline) == {101: "fixed", 102: "text 2"}
    assert timeline.shown == ids(1, 2)
    assert [m["id"] for m in changed] == [101]
    assert timeline.receive(message(4)) == SHOWN


def test_a_change_at_or_below_the_last_seq_is_old_and_one_beyond_it_a_gap():
    timeline = following()
    timeline.receive(message(1))
    timeline.receive(change(2, of=1, text="one"))
    assert timeline.receive(change(2, of=1, text="one")) == OLD
    assert timeline.receive(change(4, of=1, text="lost one before me")) == GAP
    assert texts(timeline) == {101: "one"}
    assert timeline.receive(message(5)) == HELD


def test_a_timeline_of_the_older_rules_ignores_changes_and_sees_the_gap_they_leave():
    timeline = Timeline()
    timeline.receive(message(1))
    assert timeline.receive(change(2, of=1, text="edited")) == IGNORED
    assert timeline.receive(message(3)) == GAP
    assert timeline.catch_up_parameter == "after"
    assert timeline.begin_catch_up() == 101
    # The catch-up by id finds nothing after message 1: the gap is a hole.
    timeline.show_page([])
    assert timeline.end_catch_up() is False
    assert timeline.shown == ids(1, 3)


def test_a_catch_up_asks_for_what_changed_after_the_last_seq():
    timeline = following()
    timeline.receive(message(1))
    timeline.receive(change(2, of=1, text="x"))
    assert timeline.catch_up_parameter == "after_seq"
    assert timeline.begin_catch_up() == 2


def test_a_change_missed_while_away_is_caught_up_to_the_final_state():
    timeline = following()
    for seq in (1, 2):
        timeline.receive(message(seq))
    # Away for seqs 3 (an edit of 1), 4 (message 4), 5 (a delete of 2),
    # 6 (another edit of 1): back, it hears 7 and catches up.
    assert timeline.receive(message(7)) == GAP
    after = timeline.begin_catch_up()
    assert after == 2
    page = [
        message(4),
        dict(message(2), version=5, deleted=True, message=""),
        dict(message(1), version=6, message="final"),
    ]
    assert timeline.show_page(page) == 6
    assert timeline.end_catch_up() is False
    assert texts(timeline) == {101: "final", 102: "", 104: "text 4", 107: "text 7"}
    assert timeline.messages[102]["deleted"] is True
    assert timeline.shown == ids(1, 2, 4, 7)
    assert (timeline.last_seq, timeline.duplicates) == (7, 0)


def test_superseded_events_are_holes_not_losses():
    # Two edits of message 1 while away (seqs 2 and 3): the catch-up gives
    # its state at 3; seq 2 is never seen, and nothing asks for it again.
    timeline = following()
    timeline.receive(message(1))
    timeline.receive(change(4, of=1, text="third"))
    timeline.begin_catch_up()
    timeline.show_page([dict(message(1), version=3, message="second")])
    assert timeline.end_catch_up() is False
    assert (timeline.last_seq, texts(timeline)) == (4, {101: "third"})
    assert timeline.receive(message(5)) == SHOWN


def test_a_live_change_older_than_what_a_catch_up_gave_is_dropped():
    timeline = following()
    timeline.receive(message(1))
    timeline.receive(message(3))
    timeline.begin_catch_up()
    # Arrived during the catch-up, which already gives the later state.
    assert timeline.receive(change(4, of=1, text="at 4")) == HELD
    timeline.show_page([message(2), dict(message(1), version=5, message="at 5")])
    assert timeline.end_catch_up() is False
    assert texts(timeline)[101] == "at 5"
    assert timeline.changes == 1


def test_a_change_held_from_before_the_catch_up_across_a_hole_is_applied():
    timeline = following()
    timeline.receive(message(1))
    # Seq 2 was an edit of 1 superseded by... nothing the page will give:
    # message 1 was deleted from the database since (a hole, seq 2).
    assert timeline.receive(change(3, of=1, text="kept")) == GAP
    timeline.begin_catch_up()
    timeline.show_page([])
    assert timeline.end_catch_up() is False
    assert (timeline.last_seq, texts(timeline)) == (3, {101: "kept"})


def test_pages_of_a_catch_up_by_seq_follow_each_others_last_version():
    timeline = following()
    after = timeline.begin_catch_up()
    assert after == 0
    after = timeline.show_page([message(1), message(2)])
    assert after == 2
    after = timeline.show_page([dict(message(1), version=3, message="edited")])
    assert after == 3
    timeline.end_catch_up()
    assert timeline.shown == ids(1, 2)
    assert texts(timeline) == {101: "edited", 102: "text 2"}


def test_without_keep_shown_a_catch_up_by_seq_counts_new_messages_and_changes_apart():
    timeline = following(keep_shown=False)
    timeline.receive(message(1))
    timeline.receive(message(4))
    timeline.begin_catch_up()
    timeline.show_page([message(2), dict(message(1), version=3, message="edited")])
    timeline.show_page([message(4), dict(message(2), version=5, message="edited too")])
    timeline.end_catch_up()
    assert (timeline.count, timeline.changes, timeline.last_seq) == (3, 2, 5)
    assert not timeline.pending
