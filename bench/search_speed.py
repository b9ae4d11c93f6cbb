"""How fast search is on a large database (``manage.py chatsearchbench``).

``fill`` makes a scratch PostgreSQL database hold ``messages`` messages of
Zipf-distributed text over ``rooms`` rooms, one in ten private, in bulk
``INSERT … SELECT generate_series`` statements of ``BATCH`` rows, then
adds the search column, its GIN index and the authors' index as
migration 0012 does, timing
that (what the migration costs on a database of that size). ``measure``,
run in a process whose ``DATABASE_URL`` is that database, times each query
of ``KINDS`` as ``/search/`` runs it for a signed-in reader: the capped
count and the first page with its highlights (chat/search.py), in ms.

The text: each message is 3 to 21 words drawn from ``VOCABULARY`` words,
the word of rank i with probability about 1/(i·H) (log-uniform ranks,
Zipf's law with exponent 1, as word frequencies in English roughly
follow): the first ``COMMON_WORDS`` are everyday chat words, stop words
among them, the rest made-up words of two to four syllables. A "common"
word is one of ranks 20 to 40 (each in about 2 to 5 % of messages), a
"rare" one of ranks above 15,000 (each in about 40 to 80 messages of a
million). Authors are ``user1`` … ``user500``, also Zipf-distributed.
"""

import importlib
import json
import random
import statistics
import time

import psycopg2

# Everyday chat words, the most frequent first (ranks 1 to 60).
COMMON_WORDS = (
    "the to i a and is it you that in we for on this of be can have just will "
    "deploy meeting build review release today tomorrow branch ticket server "
    "test fix merge issue please thanks lunch update team customer design "
    "docs failing green rollback schedule standup morning config database "
    "ready check again later sure cool looks good after before"
).split()
VOCABULARY = 20_000
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
HANDLES = 500
BATCH = 50_000

# The kinds of query timed, each a function of a random.Random, the list
# of words and the room labels to a query (str).
KINDS = {
    "rare word": lambda rng, words, labels: rng.choice(words[15_000:]),
    "common word": lambda rng, words, labels: rng.choice(words[20:40]),
    "two rare words": lambda rng, words, labels: " ".join(rng.sample(words[5_000:], 2)),
    'phrase "common common"': lambda rng, words, labels: (
        '"%s %s"' % tuple(rng.sample(words[20:40], 2))
    ),
    "rare word in:room": lambda rng, words, labels: (
        "%s in:%s" % (rng.choice(words[15_000:]), rng.choice(labels))
    ),
    "common word in:room": lambda rng, words, labels: (
        "%s in:%s" % (rng.choice(words[20:40]), rng.choice(labels))
    ),
    "common word from:user": lambda rng, words, labels: (
        "%s from:user%d" % (rng.choice(words[20:40]), rng.randint(1, 50))
    ),
    "in:room only": lambda rng, words, labels: "in:%s" % rng.choice(labels),
    "from:user only": lambda rng, words, labels: "from:user%d" % rng.randint(1, HANDLES),
}


def vocabulary(seed=17):
    """The ``VOCABULARY`` words (list of str), most frequent first:
    ``COMMON_WORDS``, then distinct made-up words."""
    rng = random.Random(seed)
    words, seen = list(COMMON_WORDS), set(COMMON_WORDS)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


_ROOMS_SQL = """
INSERT INTO chat_room (name, label, private, webhook_url, webhook_secret, topic)
SELECT 'Room ' || g, 'room-' || g, g %% 10 = 0, '', '', '' FROM generate_series(1, %(rooms)s) g
"""

# One batch of messages: room, seq and time follow g, so that each room's
# seq runs 1, 2, 3 … and time rises with the id, as the chat stores them.
# random() in the subquery is drawn per word; "+ g * 0" makes the subquery
# depend on the row, so PostgreSQL runs it for each.
_MESSAGES_SQL = """
INSERT INTO chat_message (room_id, handle, message, timestamp, seq, version, bot, guest, nonce,
                          mentioned_names, mentions_here)
SELECT %(first_room)s + (g %% %(rooms)s),
       'user' || floor(exp(random() * ln(%(handles)s + 1)))::int,
       (SELECT string_agg(
            (%(words)s::text[])[floor(exp(random() * ln(%(vocabulary)s + 1)))::int], ' ')
        FROM generate_series(1, 3 + (random() * 18)::int + g * 0)),
       now() - (%(total)s - g) * interval '10 seconds',
       g / %(rooms)s + 1, g / %(rooms)s + 1, false, false, '', '', false
FROM generate_series(%(low)s, %(high)s) g
"""

_READER_SQL = """
WITH reader AS (
  INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                         is_staff, is_active, date_joined)
  VALUES ('!', false, 'reader', '', '', '', false, true, now()) RETURNING id)
INSERT INTO chat_roommembership (room_id, user_id, role, created_at)
SELECT room.id, reader.id, 'member', now() FROM chat_room room, reader
WHERE room.private AND room.id %% 20 = 0
"""

_COUNTERS_SQL = """
UPDATE chat_room SET last_seq = newest.seq, last_activity = newest.at
FROM (SELECT room_id, max(seq) AS seq, max(timestamp) AS at FROM chat_message GROUP BY room_id)
  AS newest WHERE newest.room_id = chat_room.id
"""


def fill(database_url, messages, rooms, progress=print):
    """Fill the migrated, empty database at ``database_url`` with ``rooms``
    rooms and ``messages`` messages, with the search column and index
    dropped and then added again. ``progress`` (callable) gets a line (str)
    per step. Returns the timings in seconds (dict: ``insert_s``,
    ``search_column_s`` for the column, ``search_index_s`` and
    ``author_index_s`` for the indexes, as migration 0012 adds them, and
    ``analyze_s``)."""
    words = vocabulary()
    timings = {}
    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            migration = importlib.import_module("chat.migrations.0012_search")
            cursor.execute(migration.DROP_AUTHOR_INDEX)
            cursor.execute(migration.DROP_COLUMN)
            cursor.execute(_ROOMS_SQL, {"rooms": rooms})
            cursor.execute("SELECT min(id) FROM chat_room")
            first_room = cursor.fetchone()[0]
            cursor.execute(_READER_SQL, {})
            started = time.monotonic()
            for low in range(0, messages, BATCH):
                high = min(messages, low + BATCH) - 1
                cursor.execute(
                    _MESSAGES_SQL,
                    {
                        "first_room": first_room,
                        "rooms": rooms,
                        "handles": HANDLES,
                        "words": words,
                        "vocabulary": len(words),
                        "total": messages,
                        "low": low,
                        "high": high,
                    },
                )
                elapsed = time.monotonic() - started
                progress(
                    "%d of %d messages (%.0f s, %.0f messages/s)"
                    % (high + 1, messages, elapsed, (high + 1) / elapsed)
                )
            cursor.execute(_COUNTERS_SQL)
            timings["insert_s"] = round(time.monotonic() - started, 1)
            for name, sql in (
                ("search_column_s", migration.ADD_COLUMN),
                ("search_index_s", migration.ADD_INDEX),
                ("author_index_s", migration.ADD_AUTHOR_INDEX),
                ("analyze_s", "VACUUM ANALYZE"),
            ):
                progress("%s…" % name)
                started = time.monotonic()
                cursor.execute(sql)
                timings[name] = round(time.monotonic() - started, 1)
                progress("%s: %.1f s" % (name, timings[name]))
            cursor.execute("SELECT pg_size_pretty(pg_relation_size('message_search'))")
            timings["search_index_size"] = cursor.fetchone()[0]
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('chat_message'))")
            timings["message_table_size"] = cursor.fetchone()[0]
    finally:
        connection.close()
    return timings


def percentile(values, fraction):
    """The ``fraction`` (0 to 1) percentile of ``values`` (list of
    numbers), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure(queries, seed=5, progress=print):
    """Time ``queries`` queries of each of ``KINDS`` as ``/search/`` runs them
    for the user ``reader``, on this process's database (filled by
    ``fill``), after one untimed round of each kind. Returns one dict per
    kind: ``kind``, ``queries``, ``p50_ms``, ``p99_ms``, ``max_ms``,
    ``mean_results`` (the capped count), each query's time being the
    count and the first page with its highlights."""
    from django.contrib.auth import get_user_model
    from django.core.paginator import Paginator

    from chat import conf, search
    from chat.models import Room

    reader = get_user_model().objects.get(username="reader")
    words = vocabulary()
    labels = list(Room.objects.filter(private=False).values_list("label", flat=True))
    rng = random.Random(seed)
    size = conf.get("CHAT_SEARCH_PAGE_SIZE")

    def run(text):
        query = search.parse(text)
        results = search.Results(reader, query)
        page = Paginator(results, size).get_page(1)
        [search.highlight(m, query) for m in page.object_list]
        return page.paginator.count

    report = []
    for kind, make in KINDS.items():
        run(make(rng, words, labels))
        times, counts = [], []
        for _ in range(queries):
            text = make(rng, words, labels)
            started = time.perf_counter()
            counts.append(run(text))
            times.append((time.perf_counter() - started) * 1000)
        line = {
            "kind": kind,
            "queries": queries,
            "p50_ms": round(percentile(times, 0.5), 1),
            "p99_ms": round(percentile(times, 0.99), 1),
            "max_ms": round(max(times), 1),
            "mean_results": round(statistics.mean(counts)),
        }
        progress(json.dumps(line))
        report.append(line)
    return report


def insert_cost(database_url, rounds=8, per_round=2500, seed=3):
    """What migration 0012's column and indexes add to storing a message,
    in µs per single-row INSERT (each its own transaction, as a post is,
    with ``synchronous_commit`` off so that the disk's flushes do not drown
    the difference), in a bare copy of ``chat_message``'s columns and
    indexes in the empty database at ``database_url``: ``rounds`` rounds of
    ``per_round`` inserts without, then with, the column and indexes.
    Returns ``{"without_us": [...], "with_us": [...]}``, a mean per round,
    and their medians as ``without_median_us`` and ``with_median_us``."""
    migration = importlib.import_module("chat.migrations.0012_search")
    words = vocabulary()
    rng = random.Random(seed)

    def text():
        count = rng.randint(3, 21)
        return " ".join(words[int((len(words) + 1) ** rng.random()) - 1] for _ in range(count))

    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    times = {"without_us": [], "with_us": []}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute(
                "CREATE TABLE chat_message (id serial PRIMARY KEY, room_id int, handle text, "
                "message text, timestamp timestamptz DEFAULT now(), seq int)"
            )
            cursor.execute("CREATE UNIQUE INDEX ON chat_message (room_id, seq)")
            cursor.execute("CREATE INDEX ON chat_message (timestamp)")
            seq = 0
            for _ in range(rounds):
                for kind in ("without_us", "with_us"):
                    if kind == "with_us":
                        for sql in (migration.ADD_COLUMN, migration.ADD_INDEX):
                            cursor.execute(sql)
                        cursor.execute(migration.ADD_AUTHOR_INDEX)
                    else:
                        cursor.execute(migration.DROP_AUTHOR_INDEX)
                        cursor.execute(migration.DROP_COLUMN)
                    lines = [("user%d" % (n % 50), text()) for n in range(per_round)]
                    started = time.perf_counter()
                    for handle, message in lines:
                        seq += 1
                        cursor.execute(
                            "INSERT INTO chat_message (room_id, handle, message, seq) "
                            "VALUES (1, %s, %s, %s)",
                            (handle, message, seq),
                        )
                    elapsed = time.perf_counter() - started
                    times[kind].append(round(elapsed / per_round * 1e6, 1))
    finally:
        connection.close()
    times["without_median_us"] = statistics.median(times["without_us"])
    times["with_median_us"] = statistics.median(times["with_us"])
    return times
