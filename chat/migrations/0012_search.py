"""Search (2026-12-05): the messages' full-text search column and its index
on PostgreSQL, and new labels for rooms that held the labels the site now
uses itself ("search", "stream").

The column is PostgreSQL's only: ``search_vector``, a stored generated
column, ``to_tsvector('english', message)``, so that every insert, edit and
delete (which empties ``message``) keeps it current in the same statement;
``message_search``, a GIN index on it; and ``message_by_author``, on
``(UPPER(handle), timestamp)``, for ``from:``. The model does not declare it
(chat/search.py reads it in raw SQL), so SQLite, where the unit tests and
``runserver`` run, has neither and searches by substring instead
(docs/operations.md, "Search").
"""

from django.db import migrations

# conf.SEARCH_CONFIG when this was written; a migration keeps its own copy.
SEARCH_CONFIG = "english"

ADD_COLUMN = (
    "ALTER TABLE chat_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('%s'::regconfig, message)) STORED" % SEARCH_CONFIG
)
ADD_INDEX = "CREATE INDEX message_search ON chat_message USING gin (search_vector)"
# from:<handle> compares UPPER(handle), as Django's iexact does; newest first.
ADD_AUTHOR_INDEX = "CREATE INDEX message_by_author ON chat_message (UPPER(handle), timestamp)"
DROP_COLUMN = "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector"
DROP_AUTHOR_INDEX = "DROP INDEX IF EXISTS message_by_author"

# The labels taken by the site's own paths (conf.RESERVED_LABELS) on
# 2026-12-05, and what a room that held one is labelled instead: the first
# free of "<label>-room", "<label>-room-2", "<label>-room-3", …
NEWLY_RESERVED = ("search", "stream")


def add_search_column(apps, schema_editor):
    """Add the search column and its index, on PostgreSQL only."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(ADD_COLUMN)
    schema_editor.execute(ADD_INDEX)
    schema_editor.execute(ADD_AUTHOR_INDEX)


def remove_search_column(apps, schema_editor):
    """Drop the search column, and with it its index, and the authors'
    index, on PostgreSQL only."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_AUTHOR_INDEX)
    schema_editor.execute(DROP_COLUMN)


def free_label(Room, label):
    """The first label of ``label``-room, ``label``-room-2, … that no room
    holds (str)."""
    candidate, n = "%s-room" % label, 1
    while Room.objects.filter(label=candidate).exists():
        n += 1
        candidate = "%s-room-%d" % (label, n)
    return candidate


def relabel_reserved_rooms(apps, schema_editor):
    """Give a room labelled with a newly reserved label a free one. Only the
    label changes: messages, memberships, read marks, uploads and webhook
    deliveries refer to the room by its id, and its name stays."""
    Room = apps.get_model("chat", "Room")
    for label in NEWLY_RESERVED:
        room = Room.objects.filter(label=label).first()
        if room is not None:
            Room.objects.filter(pk=room.pk).update(label=free_label(Room, label))


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0011_scheduled_messages"),
    ]

    operations = [
        migrations.RunPython(add_search_column, remove_search_column),
        migrations.RunPython(relabel_reserved_rooms, migrations.RunPython.noop),
    ]
