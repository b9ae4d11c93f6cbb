"""Who a message's text mentions: the rules, as pure functions.

docs/mentions.md is the design. In short:

- ``@name`` mentions the user whose username is ``name``. Usernames may
  hold letters, digits and ``.``, ``@``, ``+``, ``-``, ``_`` (Django's
  default ``UnicodeUsernameValidator``), so the run of such characters
  after an ``@`` is read greedily and then shortened: the name is the
  longest of the run and its prefixes that end before one of ``.@+-_``
  that is a registered username. ``@ann.`` at the end of a sentence
  mentions ``ann``; ``@ann.lee`` mentions ``ann.lee`` if there is such a
  user, else ``ann``. Names compare as the project's handles do,
  ``chat.protocol.canonical_handle`` (case, width and ligatures folded):
  ``@ANN`` mentions ``ann``. When several accounts share a canonical form
  (made before 2026-12-04), the one spelled exactly as typed is meant,
  else none (as ``chat.selectors.find_user`` decides).
- ``@here`` (any case, punctuation after it allowed) mentions everyone
  present in the room: the presence roster's signed-in users.
- An ``@`` that follows a letter, a digit or one of ``.@+-_`` starts no
  mention: ``ann@example.com`` is an e-mail address, whether or not it
  became a link. Text inside inline code, a code block or a link is no
  mention either: what counts is the text ``chat.formatting`` shows as
  text, read from markdown-it's token stream rather than by a regular
  expression over the raw text, so the two can never disagree about
  where code is.

Which of the names are users, who of them may read the room and who is
present are questions for the database and presence
(``chat.selectors.mentioned``); this module only reads text.
"""

import re
from dataclasses import dataclass, field

from chat.formatting import _markdown
from chat.protocol import canonical_handle

# A username's characters (Django's UnicodeUsernameValidator: r"^[\w.@+-]+\Z"),
# and its longest length (AbstractUser.username's max_length).
USERNAME_CHARACTERS = r"\w.@+-"
USERNAME_MAX_LENGTH = 150

# Where a name may be cut short: before one of these, the rest may be
# punctuation of the sentence rather than part of the name.
CUT_BEFORE = frozenset(".@+-_")

# The name that mentions everyone present.
HERE = "here"

# An "@" not preceded by a username's character, and the run after it.
_MENTION_RE = re.compile(
    r"(?<![%s])@([%s]{1,%d})" % (USERNAME_CHARACTERS, USERNAME_CHARACTERS, USERNAME_MAX_LENGTH)
)

# What stands for text that is no mention (inline code, a link): no
# username character, and never in a message (chat.protocol refuses
# control characters).
_GAP = "\x00"


@dataclass(frozen=True)
class Parsed:
    """What a text says with ``@``: ``names``, each run of username
    characters after an ``@`` as typed (tuple of str, in the order first
    typed, without repeats), and whether it says ``@here`` (bool)."""

    names: tuple = ()
    here: bool = False

    def __bool__(self):
        return bool(self.names) or self.here


@dataclass(frozen=True)
class Mentions:
    """Who a message mentions, once resolved: ``names``, the usernames
    named (list of str, as the accounts spell them, in the order first
    named: the frame's ``mentions``), ``here`` (bool: the frame's
    ``mentions_here``) and ``user_ids``, the users to notify (list of int:
    those named and, for ``@here``, those present, who may read the room,
    never the author)."""

    names: list = field(default_factory=list)
    here: bool = False
    user_ids: list = field(default_factory=list)


NONE = Mentions()


def might_mention(text):
    """Whether ``text`` (str) could mention anyone at all (bool): whether
    it holds an ``@``. The check that keeps the hot path free for every
    other message."""
    return "@" in text


def mentionable_text(text):
    """The text of ``text`` (a message, str) that mentions may be in
    (str): what markdown-it reads as text, with inline code and links
    replaced by a character no name holds, code blocks left out, and
    blocks and lines separated by newlines."""
    pieces = []
    for token in _markdown.parse(text):
        if token.type != "inline":
            pieces.append("\n")
            continue
        in_link = False
        for child in token.children or ():
            if child.type == "link_open":
                in_link = True
                pieces.append(_GAP)
            elif child.type == "link_close":
                in_link = False
            elif in_link:
                continue
            elif child.type in ("text", "text_special"):
                pieces.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                pieces.append("\n")
            elif child.type == "code_inline":
                pieces.append(_GAP)
        pieces.append("\n")
    return "".join(pieces)


def parse(text):
    """What ``text`` (a message, str) says with ``@``, as ``Parsed``;
    ``Parsed()`` when it says nothing (always, with no markdown parsed,
    for a text without ``@``). Never raises for a message's text."""
    if not might_mention(text):
        return Parsed()
    names = []
    seen = set()
    here = False
    for match in _MENTION_RE.finditer(mentionable_text(text)):
        run = match.group(1)
        if canonical_handle(run.rstrip("".join(CUT_BEFORE))) == HERE:
            here = True
            continue
        key = canonical_handle(run)
        if key not in seen:
            seen.add(key)
            names.append(run)
    return Parsed(tuple(names), here)


def candidates(run):
    """The names ``run`` (str, a run of username characters after an
    ``@``) may stand for, longest first (list of str): the run itself,
    then each prefix that ends just before one of ``CUT_BEFORE``.
    ``"ann.lee."`` gives ``["ann.lee.", "ann.lee", "ann"]``."""
    found = [run]
    for end in range(len(run) - 1, 0, -1):
        if run[end] in CUT_BEFORE and run[:end] != found[-1]:
            found.append(run[:end])
    return found


def lookups(parsed):
    """The canonical forms (set of str) to look up among registered
    usernames for ``parsed`` (a ``Parsed``): every candidate of every
    name."""
    return {canonical_handle(name) for run in parsed.names for name in candidates(run)}


def choose(typed, accounts):
    """The username ``typed`` (str, a candidate as typed) means among
    ``accounts``, the usernames (list of str) whose canonical form is
    ``typed``'s: the one spelled exactly as typed, else the only one, else
    None (several accounts read alike, and none is spelled so)."""
    if typed in accounts:
        return typed
    if len(accounts) == 1:
        return accounts[0]
    return None


def resolve(parsed, registered, present=(), author_id=None):
    """Who ``parsed`` (a ``Parsed``) mentions, as ``Mentions``.

    ``registered`` maps canonical forms (those of ``lookups(parsed)``, and
    of the ``present`` handles) to the accounts that may read the room and
    have them, as lists of ``(user_id, username)``. ``present`` (iterable
    of str) are the handles present in the room, which ``@here`` reaches:
    a signed-in user is present under their exact username, so a handle
    reaches the account spelled exactly so. ``author_id`` (int or None)
    is never notified, though a name of theirs stays in ``names``."""
    names = []
    notified = []

    def notify(user_id):
        if user_id != author_id and user_id not in notified:
            notified.append(user_id)

    for run in parsed.names:
        for typed in candidates(run):
            accounts = registered.get(canonical_handle(typed), [])
            chosen = choose(typed, [username for _, username in accounts])
            if chosen is not None:
                if chosen not in names:
                    names.append(chosen)
                notify(next(pk for pk, username in accounts if username == chosen))
                break
    if parsed.here:
        for handle in present:
            for user_id, username in registered.get(canonical_handle(handle), []):
                if username == handle:
                    notify(user_id)
    return Mentions(names, parsed.here, notified)
