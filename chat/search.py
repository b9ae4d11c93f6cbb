"""Search: the query language of ``/search/`` and the query it runs.

A query is words, quoted phrases, ``-word`` (or ``-"a phrase"``) to leave
out, ``in:<label>`` to look in one room and ``from:<handle>`` for one
author (several of either: any of them). ``parse`` turns the text into a
``Query``; ``search`` finds the messages, newest first, among the rooms the
user may read (``selectors.readable_rooms``), never a deleted one.

On PostgreSQL the words go to ``websearch_to_tsquery`` (PostgreSQL's own
web-search syntax, so ``or`` works there too) against the stored
``search_vector`` column and its GIN index (migration 0012); elsewhere
(SQLite under ``runserver``) each word and phrase is a case-insensitive
substring match. docs/operations.md, "Search", says how they differ.
"""

import html as html_module
import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import mark_safe

from chat import conf, selectors
from chat.models import Message

# Longest query accepted, in characters.
QUERY_MAX_LENGTH = 500

# A token: a quoted phrase, optionally negated (an unbalanced quote runs to
# the end of the query), or a run of anything but spaces and quotes.
_TOKEN_RE = re.compile(r'(-?)"([^"]*)(?:"|\Z)|([^\s"]+)')
_FILTER_RE = re.compile(r"\A(in|from):(.*)\Z", re.IGNORECASE | re.DOTALL)

# Marks ts_headline puts around each match: control characters, which are
# first taken out of the text itself, so that the text, escaped, cannot
# bring a mark of its own.
START, STOP = "\x02", "\x03"
_HEADLINE_OPTIONS = (
    "StartSel=%s, StopSel=%s, MaxWords=35, MinWords=15, MaxFragments=3, "
    'FragmentDelimiter=" … "' % (START, STOP)
)
# The most characters of a message shown in a result that has no words to
# highlight (a search by in: or from: only).
EXCERPT_CHARS = 300


class QueryError(ValueError):
    """A query that cannot be run; ``str()`` is the sentence to show."""


@dataclass(frozen=True)
class Query:
    """A parsed search: ``words`` and ``phrases`` to find (tuples of str),
    ``excluded`` words or phrases to leave out, ``rooms`` (labels from
    ``in:``) and ``authors`` (handles from ``from:``); ``text`` is what
    PostgreSQL's ``websearch_to_tsquery`` gets (the words, phrases and
    exclusions, the filters taken out)."""

    words: tuple = ()
    phrases: tuple = ()
    excluded: tuple = ()
    rooms: tuple = ()
    authors: tuple = ()
    text: str = field(default="", compare=False)

    @property
    def terms(self):
        """The words and phrases to find (tuple of str)."""
        return self.words + self.phrases

    @property
    def has_filters(self):
        """Whether the query names rooms or authors (bool)."""
        return bool(self.rooms or self.authors)


def parse(text):
    """Parse ``text`` (str, a query as typed) into a ``Query``.

    Words are runs of anything but spaces and quotes; ``"…"`` is a phrase,
    and an unbalanced quote makes a phrase of the rest; a leading ``-``
    leaves a word or phrase out; ``in:<label>`` and ``from:<handle>``
    (case-insensitive prefixes) filter. A lone ``-`` and empty quotes are
    ignored.

    Raises ``QueryError`` for an empty query, one longer than
    ``QUERY_MAX_LENGTH`` characters, a filter without a value, an ``in:``
    that is no room label, and one that only leaves words out."""
    text = (text or "").strip()
    if not text:
        raise QueryError("Type a word to search for.")
    if len(text) > QUERY_MAX_LENGTH:
        raise QueryError("The search is too long: at most %d characters." % QUERY_MAX_LENGTH)
    words, phrases, excluded, rooms, authors, kept = [], [], [], [], [], []
    for match in _TOKEN_RE.finditer(text):
        negated, phrase, word = match.groups()
        if word is None:
            phrase = " ".join(phrase.split())
            if phrase:
                (excluded if negated else phrases).append(phrase)
                kept.append('%s"%s"' % (negated, phrase))
            continue
        found = _FILTER_RE.match(word)
        if found:
            name, value = found.group(1).lower(), found.group(2)
            if not value:
                raise QueryError("%s: needs a value, as in %s" % (name, _EXAMPLES[name]))
            if name == "in":
                if not conf.LABEL_RE.match(value) or len(value) > conf.LABEL_MAX_LENGTH:
                    raise QueryError("in: needs a room's label, as in in:lobby")
                rooms.append(value.lower())
            elif value.lstrip("@"):
                # from:@ann, as a mention writes the name, is from:ann.
                authors.append(value.lstrip("@"))
            else:
                raise QueryError("from: needs a value, as in from:ann")
            continue
        if word.startswith("-"):
            if word.strip("-"):
                excluded.append(word.lstrip("-"))
                kept.append("-" + word.lstrip("-"))
            continue
        words.append(word)
        kept.append(word)
    if not (words or phrases or rooms or authors):
        if excluded:
            raise QueryError("Say what to look for, not only what to leave out.")
        raise QueryError("Type a word to search for.")
    return Query(
        words=tuple(words),
        phrases=tuple(phrases),
        excluded=tuple(excluded),
        rooms=tuple(dict.fromkeys(rooms)),
        authors=tuple(dict.fromkeys(authors)),
        text=" ".join(kept),
    )


_EXAMPLES = {"in": "in:lobby", "from": "from:ann"}


def full_text():
    """Whether this database searches with PostgreSQL's full-text search
    (bool); False elsewhere (SQLite), where ``search`` matches substrings."""
    return connection.vendor == "postgresql"


def search(user, query):
    """The messages ``query`` (a ``Query``) finds for ``user`` (a Django
    user, ``AnonymousUser`` or None), as a ``QuerySet`` of ``Message``
    (with their ``room``), newest first (by ``timestamp``, then id).

    Only messages of rooms ``user`` may read (``selectors.readable_rooms``),
    never a deleted one. An ``in:`` naming a room the user may not read
    (or none) finds nothing, as one with no matches does. One query for
    the rooms of ``in:``, if any, before the messages'."""
    messages = Message.objects.select_related("room").filter(
        room__in=selectors.readable_rooms(user), deleted_at__isnull=True
    )
    if query.rooms:
        # Labels are stored as typed, "Lobby" as well as "lobby". The rooms'
        # ids are read first, so that PostgreSQL can combine the room's
        # index with the words' instead of reading every match's row.
        in_room = Q()
        for label in query.rooms:
            in_room |= Q(label__iexact=label)
        rooms = selectors.readable_rooms(user).filter(in_room).values_list("pk", flat=True)
        messages = messages.filter(room_id__in=list(rooms))
    if query.authors:
        by_author = Q()
        for handle in query.authors:
            by_author |= Q(handle__iexact=handle)
        messages = messages.filter(by_author)
    if full_text():
        messages = _full_text(messages, query)
    else:
        messages = _substrings(messages, query)
    return messages.order_by("-timestamp", "-pk")


def with_headlines(messages, query):
    """``messages`` (from ``search``) with ``headline`` annotated on each:
    on PostgreSQL, with words to find, ``ts_headline``'s excerpt of the
    matching text, ``START``/``STOP`` around each match, computed only for
    the rows fetched (the text goes to it HTML-escaped: its parser takes
    ``<b>`` for a tag and would drop it from the excerpt); else ""
    (``highlight`` then marks the terms itself)."""
    if not (full_text() and query.text):
        return messages.annotate(headline=RawSQL("''", ()))
    table = Message._meta.db_table
    headline = (
        "ts_headline(%%s::regconfig, "
        "replace(replace(replace(translate(%s.message, %%s, ''), '&', '&amp;'), "
        "'<', '&lt;'), '>', '&gt;'), "
        "websearch_to_tsquery(%%s::regconfig, %%s), %%s)" % table
    )
    params = (conf.SEARCH_CONFIG, START + STOP, conf.SEARCH_CONFIG, query.text, _HEADLINE_OPTIONS)
    return messages.annotate(headline=RawSQL(headline, params))


def _full_text(messages, query):
    """``messages`` narrowed to those whose ``search_vector`` matches
    ``query``'s text (all of them when it has none: a search by filters
    only)."""
    if not query.text:
        return messages
    return messages.extra(
        where=[
            "%s.search_vector @@ websearch_to_tsquery(%%s::regconfig, %%s)" % Message._meta.db_table
        ],
        params=[conf.SEARCH_CONFIG, query.text],
    )


def _substrings(messages, query):
    """``messages`` narrowed, without full-text search, to those containing
    every word and phrase of ``query`` and none it leaves out, regardless
    of case (ASCII only on SQLite); ``headline`` is empty: ``highlight``
    marks the terms itself."""
    for term in query.terms:
        messages = messages.filter(message__icontains=term)
    for term in query.excluded:
        messages = messages.exclude(message__icontains=term)
    return messages


class Results:
    """The messages ``query`` (a ``Query``) finds for ``user``, for Django's
    ``Paginator``: ``count()`` stops at ``CHAT_SEARCH_MAX_RESULTS`` (one
    ``COUNT`` over at most that many rows), and a slice is a list of
    ``Message`` with ``headline`` (``with_headlines``), newest first."""

    def __init__(self, user, query):
        self.query = query
        self.messages = search(user, query)
        self.cap = conf.get("CHAT_SEARCH_MAX_RESULTS")

    def count(self):
        """How many messages match (int), at most ``cap``. Unordered, so
        that PostgreSQL stops at ``cap`` rows instead of sorting every
        match first."""
        return self.messages.order_by()[: self.cap].count()

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        return list(with_headlines(self.messages, self.query)[index])


def highlight(message, query):
    """The text of ``message`` (a ``Message`` from ``search``) to show in
    a result, as safe HTML (``SafeString``): the user's text escaped, each
    match in ``<mark>…</mark>``.

    From PostgreSQL's ``headline`` when it has one; otherwise the start of
    the text (``EXCERPT_CHARS``), with each of ``query``'s terms (a
    ``Query``) marked wherever it occurs, regardless of case."""
    headline = getattr(message, "headline", "")
    if headline:
        # Unescaped and escaped again rather than trusted: whatever the
        # headline holds, only the marks become markup.
        html = escape(html_module.unescape(headline))
        return mark_safe(html.replace(START, "<mark>").replace(STOP, "</mark>"))
    text = message.message.replace(START, "").replace(STOP, "")
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rstrip() + "…"
    terms = sorted({t for t in query.terms if t}, key=len, reverse=True)
    if not terms:
        return escape(text)
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append("<mark>%s</mark>" % escape(match.group(0)))
        last = match.end()
    pieces.append(escape(text[last:]))
    return mark_safe("".join(pieces))
