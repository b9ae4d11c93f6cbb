"""A message's text as HTML: the little Markdown a chat uses, made safe.

``render(text)`` is the one place a message's text becomes HTML, for the
``html`` of a message frame (``Message.as_dict``) and the room page's
history alike. docs/protocol.md ("Formatted text") says what is formatted;
in short:

- addresses become links: ``http://``, ``https://`` and ``mailto:`` ones,
  e-mail addresses, and bare host names under a few generic top-level
  domains (``example.com``, ``www.example.org``), not under a country's (a
  file name such as ``models.py`` or ``README.md`` stays text), each with
  a host that is a valid IDNA name or an IPv4 address. A link's text is
  the address exactly as typed: no ``[text](url)`` links, whose text could
  name another address than the one they open, and no ``<url>`` ones
  either (the brackets stay, around a link);
- inline code (`` `code` ``), code blocks (fenced with ```` ``` ```` or
  ``~~~``, or indented by four spaces) with their layout, ``**bold**``,
  ``*italic*`` and ``> quotes``;
- a line break is a line break, as typed; a blank line starts a paragraph.

Everything else is text, shown as typed: headings, lists, rules, tables,
images, ``[text](url)`` links, HTML and character references (``&amp;``
shows as typed). Lists are left out on purpose: a list typed line by line
already reads as one once line breaks are kept, while Markdown's would
renumber it ("1. 1. 1." becomes 1, 2, 3) and turn a line such as "2026.
What a year" into a list starting at 2026.

Two layers keep script and remote loads out. The renderer (markdown-it-py)
has only the rules above switched on, takes no HTML, and makes links of
the three schemes only, all found by linkify-it. Its output then goes through the sanitiser (nh3,
ammonia's bindings), whose allow-list is exactly what the renderer may
produce: ``ALLOWED_TAGS``, ``href`` on ``a``, ``ALLOWED_SCHEMES``, no
relative address. The sanitiser also sets every link's ``rel`` and
``target``, so a bug in the renderer can neither let script or a remote
load through nor leave a link without them.

Most chat lines hold no markup at all; ``render`` answers those from a
fast path that gives the same HTML as the full one (tests/test_formatting.py
holds that with hypothesis), in a fraction of the time
(docs/performance.md, "Formatting (2026-12-05)").
"""

import functools
import ipaddress
import re
import urllib.parse

import idna
import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML

# What the renderer may produce, and so all the sanitiser lets through.
ALLOWED_TAGS = frozenset({"p", "br", "a", "code", "pre", "strong", "em", "blockquote"})
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

# Set on every link by the sanitiser: a link opens in a new tab, gives the
# page it opens no handle on this one (noopener) and no address of it
# (noreferrer), and vouches for nothing (nofollow, ugc: user-generated).
LINK_REL = "noopener noreferrer nofollow ugc"
LINK_TARGET = "_blank"

# The top-level domains under which a host name without a scheme becomes a
# link. linkify-it's default adds every two-letter country code, which
# makes links of file names (.py is Paraguay's, .md Moldova's) and of
# attribute names (.name is a domain too).
BARE_LINK_TLDS = ["com", "net", "org", "edu", "gov", "io", "dev"]

# The renderer's rules, by markdown-it's names; every other rule is off.
BLOCK_RULES = ["code", "fence", "blockquote"]  # and "paragraph", always on
INLINE_RULES = ["newline", "escape", "backticks", "emphasis", "linkify"]

# How many texts with markup each process keeps the HTML of (LRU). A
# message's text is rendered once per frame, catch-up answer or page that
# shows it; the same texts come back in a room's page and in every catch-up
# after a reconnect, and rendering one costs 30 µs to 10 ms by its length
# and markup (docs/performance.md, "Formatting (2026-12-05)"). An entry
# takes well under 1 kB for an ordinary line, and about 40 kB at worst (a
# 2,000-character text of links and its HTML): 20 MB for a full cache.
CACHE_SIZE = 512


def _valid_link(url):
    # Asked by markdown-it of every link it would make, with its address
    # normalised (a Unicode host in punycode); a refused one stays text.
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() not in ALLOWED_SCHEMES:
        return False
    if scheme.lower() == "mailto":
        host = rest.rpartition("@")[2].partition("?")[0]
    else:
        try:
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 (read to check it: a bad port raises)
        except ValueError:  # a broken IPv6 literal, a port out of range or not a number
            return False
    return _valid_host(host)


# A host name's last label that makes it an IPv4 address for a browser
# (the WHATWG URL standard's "ends in a number").
_NUMERIC_LABEL_RE = re.compile("[0-9]+|0[xX][0-9a-fA-F]*")


@functools.lru_cache(maxsize=1024)
def _valid_host(host):
    # A valid IDNA host name (letters, digits and hyphens, or a Unicode
    # name in punycode: IDNA 2008, by the idna package), or a dotted IPv4
    # address. Anything looser, such as a name with invisible characters,
    # a broken "xn--" label or "999.1.1.1", reads as another host or none,
    # and the sanitiser, which parses addresses as browsers do, would strip
    # it, leaving a link to nowhere.
    if _NUMERIC_LABEL_RE.fullmatch(host.rstrip(".").rpartition(".")[2]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    try:
        idna.decode(host)
    except ValueError:  # idna.IDNAError is one
        return False
    return True


def _fence_without_language(self, tokens, idx, options, env):
    # The info string (```python) would become a class attribute; the
    # block is shown the same without it.
    tokens[idx].info = ""
    return RendererHTML.fence(self, tokens, idx, options, env)


def _make_renderer():
    md = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": True, "typographer": False})
    md.enable(BLOCK_RULES + INLINE_RULES)
    md.validateLink = _valid_link
    # A link's text is the address as typed, not percent- or
    # punycode-decoded: "xn--pple-43d.com" must not show as a lookalike of
    # "apple.com".
    md.normalizeLinkText = lambda url: url
    md.add_render_rule("fence", _fence_without_language)
    md.linkify.set({"fuzzy_link": True, "fuzzy_email": True, "fuzzy_ip": False})
    md.linkify.tlds(BARE_LINK_TLDS, False)
    # linkify-it also knows protocol-relative ("//host") and ftp: links;
    # neither may be one here.
    md.linkify.add("//", None).add("ftp:", None)
    return md


_markdown = _make_renderer()

_sanitiser = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={"a": {"href"}},
    set_tag_attribute_values={"a": {"target": LINK_TARGET}},
    link_rel=LINK_REL,
    url_schemes=set(ALLOWED_SCHEMES),
    url_relative="deny",
    strip_comments=True,
)

# Text that no rule of the renderer reacts to, and that neither the parser
# nor the sanitiser's serialiser changes, renders as one paragraph of its
# lines, with "&" escaped. Such text has no markup character (*_`\<>~), no
# makings of a link ("@", "//", a "." before a letter or digit: a host
# name), no whitespace but spaces and newlines (tabs; no-break spaces, which
# the serialiser writes as &nbsp;; every other character str.isspace()
# knows), no control character and no lone surrogate; and it is made of
# non-blank lines without spaces at either end. The full renderer gives the
# same HTML for such text, only slower (tests/test_formatting.py).
_NOT_PLAIN_CHARACTER_RE = re.compile(
    "[*_`\\\\<>~@\x00-\x09\x0b-\x1f\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f"
    "\u205f\u3000\ud800-\udfff]"
)
_HOST_NAME_RE = re.compile(r"\.\w")


def is_plain(text):
    """Whether ``text`` (str) holds nothing the renderer would format,
    escape other than "&", or change (bool): then ``render`` answers it
    from its fast path, one paragraph of its lines."""
    return (
        text != ""
        and text[0] not in " \n"
        and text[-1] not in " \n"
        and "\n\n" not in text
        and "\n " not in text
        and " \n" not in text
        and "//" not in text
        and _NOT_PLAIN_CHARACTER_RE.search(text) is None
        and _HOST_NAME_RE.search(text) is None
    )


def sanitise(html):
    """``html`` (str, an HTML fragment) with everything outside the
    allow-list removed (str): only ``ALLOWED_TAGS`` (the content of others
    kept as text, that of ``script`` and ``style`` dropped), ``href`` on
    ``a`` with a scheme of ``ALLOWED_SCHEMES`` (any other address
    dropped), every link given ``rel="noopener noreferrer nofollow ugc"``
    and ``target="_blank"``, no comments. The last step of ``render``."""
    return _sanitiser.clean(html)


def render_markdown(text):
    """The HTML (str) of ``text`` (str) by the full path, Markdown then the
    sanitiser, uncached: what ``render`` gives, always at full cost. Raises
    ``UnicodeEncodeError`` for text with a lone surrogate."""
    # markdown-it ends every block with a newline; the last one would be
    # text after the message, in a page's text content too.
    return sanitise(_markdown.render(text)).removesuffix("\n")


def render(text):
    """The HTML (str) of a message's ``text`` (str), formatted as this
    module's docstring says, and safe to put in a page as it is: only
    ``ALLOWED_TAGS``, links with ``href`` (``ALLOWED_SCHEMES`` only),
    ``rel="noopener noreferrer nofollow ugc"`` and ``target="_blank"``,
    and no other attribute.

    The result is a sequence of blocks, ``<p>``, ``<pre><code>`` and
    ``<blockquote>``, separated by newlines; line breaks are ``<br>``
    followed by a newline, and a code block's text keeps its spaces and
    newlines. Text that is empty or only whitespace gives
    ``""``. Raises ``UnicodeEncodeError`` for text with a lone surrogate,
    which no message holds (``chat.protocol`` refuses them).
    """
    if is_plain(text):
        return "<p>%s</p>" % text.replace("&", "&amp;").replace("\n", "<br>\n")
    return cached_render_markdown(text)


# render_markdown with the last CACHE_SIZE texts' HTML kept (functools'
# LRU cache: cache_info(), cache_clear()).
cached_render_markdown = functools.lru_cache(maxsize=CACHE_SIZE)(render_markdown)
