"""Messages that change: authors, edits, deletes and reactions, each an
event in the room's stream (docs/conversations.md is the design,
docs/protocol.md the contract).

- ``rules.py``: who acts (``Actor``: a signed-in user, a named guest, a
  bot's token) and what they may do to a message (``may_change``), the one
  place the consumer, the views and the bot API ask.
- ``changes.py``: an edit, a delete or a reaction stored and numbered
  under the room's broadcast lock, then sent to the room as a change frame
  and, for edits and deletes, to its webhook; and the edit history, for the
  room's owners and staff.

A new message is stored by ``chat.services.post_message``, which takes its
``seq`` from the same counter (``Room.last_seq``) under the same lock.
"""
