"""Formatting a message's text (chat/formatting.py): what is formatted, what
stays text, and that nothing a message holds can run script or load
anything, whatever construct it hides in."""

import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from chat import formatting
from chat.formatting import render

# What the page may receive, written out here rather than read from the
# module, so that widening the module's allow-list fails these tests.
ALLOWED_TAGS = {"p", "br", "a", "code", "pre", "strong", "em", "blockquote"}
LINK_ATTRIBUTES = {"href", "rel", "target"}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
REL = "noopener noreferrer nofollow ugc"


@dataclass
class Element:
    tag: str
    attrs: dict
    parent: "Element | None"
    children: list = field(default_factory=list)
    text: str = ""


class Fragment(HTMLParser):
    """An HTML fragment parsed by the standard library: its elements in
    document order, its text (without the newlines between blocks; a
    ``<br>`` is followed by one), and anything that is neither (comments,
    declarations, processing instructions)."""

    VOID = {"br"}

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.open = self.root
        self.elements = []
        self.oddities = []
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self.open)
        assert len(element.attrs) == len(attrs), "repeated attribute in <%s>" % tag
        self.open.children.append(element)
        self.elements.append(element)
        if tag not in self.VOID:
            self.open = element

    def handle_startendtag(self, tag, attrs):
        self.oddities.append("self-closing <%s/>" % tag)
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        assert self.open.tag == tag, "</%s> closes <%s>" % (tag, self.open.tag)
        self.open = self.open.parent

    def handle_data(self, data):
        if self.open.tag in ("#root", "blockquote") and not data.strip():
            return
        self.text += data
        self.open.text += data

    def handle_comment(self, data):
        self.oddities.append("comment")

    def handle_decl(self, decl):
        self.oddities.append("declaration")

    def handle_pi(self, data):
        self.oddities.append("processing instruction")

    def unknown_decl(self, data):
        self.oddities.append("unknown declaration")

    def tags(self):
        return [element.tag for element in self.elements]

    def links(self):
        return [element for element in self.elements if element.tag == "a"]


def assert_safe(html, links_have_addresses=True):
    """Fail unless ``html`` holds only allowed elements and attributes,
    every link opens an http, https or mailto address in a new tab, and
    everything is closed: nothing can run script or load a resource.
    Unless ``links_have_addresses``, a link may also have no ``href``
    (the sanitiser's answer to one it refused). Returns the parsed
    fragment."""
    fragment = Fragment(html)
    assert fragment.open is fragment.root, "unclosed <%s>" % fragment.open.tag
    assert fragment.oddities == []
    for element in fragment.elements:
        assert element.tag in ALLOWED_TAGS, html
        if element.tag == "a":
            if not links_have_addresses and "href" not in element.attrs:
                assert element.attrs == {"rel": REL, "target": "_blank"}, html
                continue
            assert set(element.attrs) == LINK_ATTRIBUTES, html
            assert element.attrs["rel"] == REL
            assert element.attrs["target"] == "_blank"
            href = element.attrs["href"]
            assert href == href.strip() and not re.search(r"[\x00-\x20\x7f]", href), href
            assert urllib.parse.urlsplit(href).scheme.lower() in ALLOWED_SCHEMES, href
            assert not href.startswith("//"), href
        else:
            assert element.attrs == {}, html
    return fragment


def alphanumerics(text):
    return [character for character in text if character.isalnum()]


# ---- What is formatted -------------------------------------------------------


def test_a_url_becomes_a_link_that_opens_in_a_new_tab_and_vouches_for_nothing():
    fragment = assert_safe(render("the log is at https://ci.example.com/builds/45?tab=log#L2."))

    (link,) = fragment.links()
    assert link.attrs == {
        "href": "https://ci.example.com/builds/45?tab=log#L2",
        "rel": "noopener noreferrer nofollow ugc",
        "target": "_blank",
    }
    assert link.text == "https://ci.example.com/builds/45?tab=log#L2"
    # The full stop ends the sentence, not the address.
    assert fragment.text == "the log is at https://ci.example.com/builds/45?tab=log#L2."


def test_an_email_address_becomes_a_mailto_link():
    (link,) = assert_safe(render("write to ann@example.com")).links()

    assert (link.attrs["href"], link.text) == ("mailto:ann@example.com", "ann@example.com")


def test_a_bare_host_name_under_a_generic_domain_becomes_a_link_and_a_file_name_does_not():
    fragment = assert_safe(render("see www.example.org and example.com, not models.py or X.md"))

    assert [link.attrs["href"] for link in fragment.links()] == [
        "http://www.example.org",
        "http://example.com",
    ]
    assert fragment.text == "see www.example.org and example.com, not models.py or X.md"


@pytest.mark.parametrize(
    "text",
    [
        "https://pay\u200bpal.com/",
        "https://xn--zz.com/",
        "https://\u00ad.com/",
        "http://999.1.1.1/",
        "http://1.2.3.4.5/",
        "http://a^b/",
        "http://a$b.com/",
        "http://-a.com/",
        "https://",
    ],
)
def test_an_address_whose_host_is_no_valid_name_or_ipv4_address_is_no_link(text):
    fragment = assert_safe(render(text))

    assert fragment.links() == []
    assert fragment.text == text


def test_an_ipv4_address_and_localhost_are_hosts_too():
    fragment = assert_safe(render("http://127.0.0.1:8000/x and http://localhost/y"))

    assert [link.attrs["href"] for link in fragment.links()] == [
        "http://127.0.0.1:8000/x",
        "http://localhost/y",
    ]


def test_a_links_text_is_the_address_as_typed_never_a_decoded_lookalike():
    (link,) = assert_safe(render("https://xn--pple-43d.com/%41")).links()

    assert link.text == "https://xn--pple-43d.com/%41"


def test_a_markdown_link_shows_the_address_it_opens_not_other_text():
    fragment = assert_safe(render("[your bank](https://evil.example/login)"))

    (link,) = fragment.links()
    assert link.attrs["href"] == link.text == "https://evil.example/login"
    assert fragment.text == "[your bank](https://evil.example/login)"


def test_an_address_in_angle_brackets_is_a_link_and_the_brackets_stay():
    fragment = assert_safe(render("<https://example.com/c>, <mailto:ann@example.com>"))

    assert [link.text for link in fragment.links()] == [
        "https://example.com/c",
        "mailto:ann@example.com",
    ]
    assert fragment.text == "<https://example.com/c>, <mailto:ann@example.com>"


def test_inline_code_bold_and_italic_are_formatted():
    fragment = assert_safe(render("run `make  test` **now**, *please* _really_"))

    assert [(element.tag, element.text) for element in fragment.elements] == [
        ("p", "run  ,  "),
        ("code", "make  test"),
        ("strong", "now"),
        ("em", "please"),
        ("em", "really"),
    ]


def test_a_fenced_code_block_keeps_its_layout_and_loses_its_language():
    code = "def f(x):\n    if x:\n\n        return  x * 2   # *not* italic\n    <b>no</b> https://a.example"

    fragment = assert_safe(render("look:\n```python\n%s\n```\nok?" % code))

    assert fragment.tags() == ["p", "pre", "code", "p"]
    pre, block = fragment.elements[1:3]
    assert block.parent is pre and block.attrs == {}
    assert block.text == code + "\n"


def test_a_code_block_indented_by_four_spaces_keeps_its_layout():
    fragment = assert_safe(render("    for i in range(3):\n        print(i)"))

    assert fragment.tags() == ["pre", "code"]
    assert fragment.elements[1].text == "for i in range(3):\n    print(i)\n"


def test_a_tilde_fence_is_a_code_block_too():
    fragment = assert_safe(render("~~~\n*a*\n~~~"))

    assert fragment.tags() == ["pre", "code"]
    assert fragment.elements[1].text == "*a*\n"


def test_a_quote_is_a_blockquote_that_can_hold_formatting():
    fragment = assert_safe(render("> she said\n> **no**\n\nand left"))

    assert fragment.tags() == ["blockquote", "p", "br", "strong", "p"]
    assert fragment.elements[0].children[0].tag == "p"


def test_a_line_break_stays_a_line_break_and_a_blank_line_starts_a_paragraph():
    fragment = assert_safe(render("one\ntwo\n\nthree"))

    assert fragment.tags() == ["p", "br", "p"]
    assert [element.text for element in fragment.elements] == ["one\ntwo", "", "three"]


def test_a_backslash_escapes_markup():
    fragment = assert_safe(render(r"\*not italic\* 2\*3"))

    assert fragment.tags() == ["p"]
    assert fragment.text == "*not italic* 2*3"


def test_empty_or_blank_text_renders_as_nothing():
    assert render("") == render("   \n\n ") == ""


# ---- What stays text ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# not a heading",
        "not a heading either\n===",
        "1. not\n2. a list",
        "- nor\n- this",
        "2026. What a year",
        "---",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "~~not struck~~",
        "&amp; &lt;b&gt; &#106; &copy;",
        "<b>bold?</b> <i>no</i>",
        "a <!-- comment --> b",
    ],
)
def test_everything_else_shows_as_typed(text):
    fragment = assert_safe(render(text))

    assert set(fragment.tags()) <= {"p", "br"}
    assert fragment.text == text


def test_an_image_loads_nothing_and_its_address_is_a_plain_link():
    fragment = assert_safe(render("![cat](https://img.example/cat.png)"))

    assert fragment.tags() == ["p", "a"]
    assert fragment.text == "![cat](https://img.example/cat.png)"


def test_a_link_reference_definition_is_text_not_a_hidden_line():
    fragment = assert_safe(render("[1]\n\n[1]: https://example.com/x"))

    assert fragment.text == "[1][1]: https://example.com/x"


def test_an_address_inside_code_stays_code():
    fragment = assert_safe(render("`https://example.com/x`"))

    assert fragment.tags() == ["p", "code"]


@pytest.mark.parametrize(
    "text", ["ftp://files.example/x", "//evil.example/x", "file:///etc/passwd", "irc://x.example"]
)
def test_an_address_of_another_scheme_stays_text(text):
    fragment = assert_safe(render(text))

    assert fragment.links() == []
    assert fragment.text == text


# ---- Nothing runs, nothing loads ---------------------------------------------

# Payloads in the manner of OWASP's XSS filter evasion cheat sheet.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "<ScRiPt>alert(String.fromCharCode(88,83,83))</sCrIpT>",
    '<script/x src="https://xss.example/x.js"></script>',
    "<<SCRIPT>alert(1);//\\<</SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    '<img src="jav&#x09;ascript:alert(1)">',
    "<img src=`javascript:alert(1)`>",
    '<img srcset="https://evil.example/x.png 1x">',
    '<img """><script>alert(1)</script>">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>">',
    "<style>body{background:url(https://evil.example/)}</style>",
    '<div style="background-image:url(javascript:alert(1))">x</div>',
    '<p style="x:expression(alert(1))">x</p>',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="https://ok.example/" onclick="alert(1)">x</a>',
    "<body onload=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<video><source onerror="alert(1)"></video>',
    "<details open ontoggle=alert(1)>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<?xml-stylesheet href="https://evil.example/x"?>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x](java&#09;script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](//evil.example/)",
    "[x](/relative/path)",
    '[x](https://ok.example/"onmouseover="alert(1))',
    '[x](https://ok.example/ "title" onmouseover=alert(1))',
    "[x][1]\n\n[1]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "<file:///etc/passwd>",
    '<https://ok.example/"onmouseover="alert(1)>',
    "javascript:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    'https://ok.example/"><script>alert(1)</script>',
    "https://ok.example/'onmouseover='alert(1)'",
    "https://ok.example/<img src=x onerror=alert(1)>",
    "https://ok.example/`onmouseover=alert(1)`",
    "![x](https://evil.example/x.png)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[![x](https://evil.example/x.png)](https://ok.example/)",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<scr\x00ipt>alert(1)</scr\x00ipt>",
    "jav\x00ascript:alert(1)",
    "java\u200bscript:alert(1)",
    "[x](java\u200bscript:alert(1))",
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",
    '<a href="\u2028javascript:alert(1)">x</a>',
    "[x](\u2028javascript:alert(1))",
    "https://ok.example/\u202egnp.exe",
    "<div>\n<script>alert(1)</script>\n</div>",
    "**<img src=x onerror=alert(1)>**",
    "*[x](javascript:alert(1))*",
    "> <svg onload=alert(1)>\n> [x](javascript:alert(1))",
    "`<script>`alert(1)`</script>`",
]

# Where a payload can hide: each construct the renderer formats, and some
# it does not.
CONTEXTS = [
    "{}",
    "text {} text\nmore text",
    "**{}**",
    "*{}*",
    "_{}_",
    "`{}`",
    "``{}``",
    "```\n{}\n```",
    "```{}\nx\n```",
    "    {}",
    "> {}",
    "> > **{}**",
    "[{}](https://ok.example/)",
    "[link](https://ok.example/{})",
    "https://ok.example/{}",
    "<https://ok.example/{}>",
    "ann@{}.example",
    "# {}",
    "- {}",
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_in_any_construct_can_run_script_or_load_anything(payload, context):
    assert_safe(render(context.format(payload)))


# The payloads that are HTML and nothing else Markdown reads: no autolink,
# code span, backslash escape or line break.
HTML_PAYLOADS = [p for p in PAYLOADS if re.match("<[^h]", p) and not re.search(r"[`\\\n]", p)]


@pytest.mark.parametrize("payload", HTML_PAYLOADS)
def test_html_in_a_message_shows_as_text(payload):
    fragment = assert_safe(render(payload))

    # An address inside the HTML may still be a link, its text unchanged.
    assert set(fragment.tags()) <= {"p", "a"}
    assert fragment.text == payload.replace("\x00", "\ufffd")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_in_a_code_block_shows_exactly_as_typed(payload):
    fragment = assert_safe(render("```\n%s\n```" % payload))

    assert fragment.tags() == ["pre", "code"]
    assert fragment.text == payload.replace("\x00", "\ufffd") + "\n"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_sanitiser_alone_lets_no_payload_through_as_html(payload):
    # As if the renderer had passed the payload through untouched: the
    # last step still removes whatever could run or load.
    assert_safe(formatting.sanitise(payload), links_have_addresses=False)


def test_a_quote_cannot_close_a_links_address_and_add_an_attribute():
    for text in (
        'https://ok.example/"onmouseover="alert(1)',
        "https://ok.example/'onmouseover='alert(1)'",
        '<https://ok.example/"onmouseover="alert(1)>',
    ):
        (link,) = assert_safe(render(text)).links()
        assert "onmouseover" in link.attrs["href"]
        assert set(link.attrs) == LINK_ATTRIBUTES


# ---- Properties, for any text ------------------------------------------------

# Text made mostly of what the renderer reacts to, so that its constructs
# meet, nest and break off in every way.
MARKUP_PIECES = [
    "*", "**", "_", "`", "```", "~~~", "\\", "<", ">", "> ", "&", "#", "[", "]", "(", ")",
    "!", ":", "/", "//", ".", "@", '"', "'", "=", " ", "  ", "    ", "\t", "\n", "\n\n",
    "a", "Z", "7", "é", "😀", "\u00a0", "\u2028", "\u200b", "\x00", "\r",
    "http://", "https://", "mailto:", "javascript:", "data:", "www.", "example", ".com",
    ".py", "xn--p1ai", "localhost", "%41", "&#106;", "&amp;", "<script>", "<img src=x ",
    "onerror=", "<a href=", "</a>", "[x](", "![x](",
]  # fmt: skip
markup_text = st.lists(st.sampled_from(MARKUP_PIECES), max_size=40).map("".join)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
# No lone surrogates: a message cannot hold one (chat.protocol refuses them).
texts = markup_text | any_text


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
@example('[a](javascript:alert(1)) <img src=x onerror="alert(1)"> https://ok.example/"x')
def test_any_text_renders_only_allowed_elements_attributes_and_schemes(text):
    assert_safe(render(text))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_the_sanitiser_alone_makes_any_html_safe(html):
    assert_safe(formatting.sanitise(html), links_have_addresses=False)


# Addresses with hosts of every kind of character, valid or not.
HOST_PIECES = list("abcXYZ019.-_~$^%[]:@!*'()+,;=") + ["xn--", "é", "\u200b", "\u00ad", "255"]
host_text = st.lists(st.sampled_from(HOST_PIECES), min_size=1, max_size=20).map("".join)
addresses = st.tuples(
    st.sampled_from(["http://", "https://", "mailto:a@", "a@", "www.", "", "<https://"]),
    host_text,
    st.sampled_from(["", ".com", ".org/x", ".io/a?b=1#c", "/", ":8080/p", ">"]),
).map("".join)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(addresses)
@example("http://999.1.1.1 http://a^b https://xn--zz.com http://a~:8080/p")
def test_every_link_made_of_any_address_keeps_its_address(text):
    # assert_safe requires an href on every link: a host the sanitiser
    # would refuse must stay text, never become a link to nowhere.
    assert_safe(render(text))


# A line that opens or closes a fenced code block, in a quote or not: its
# info string ("```python") is not shown. Lines end at "\n", "\r\n" or "\r".
FENCE_RE = re.compile(r"^(?: {0,3}> ?)* {0,3}(```|~~~)", re.MULTILINE)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
@example("**bold** _it_ `code` > quote https://example.com/a?b=1 a@b.example [x](y) &amp;")
def test_every_letter_and_digit_typed_is_shown_in_order(text):
    # Markup characters, spaces and a link's "mailto:" may come and go;
    # letters and digits never do, outside a code fence's info string.
    assume(not FENCE_RE.search(re.sub("\r\n?", "\n", text)))

    fragment = assert_safe(render(text))

    assert alphanumerics(fragment.text) == alphanumerics(text)


# Text made mostly of what the fast path takes, with a little of what it
# must not, to probe its edges.
PLAIN_PIECES = [
    "a", "Z", "7", "é", "😀", "ǅ", "\u0301", "\u200b", "\ufeff", "\U0010ffff", " ", "  ",
    "\n", ".", ". ", ",", ":", "/", "-", "+", "=", "#", "!", "?", "'", '"', "(", ")",
    "[", "]", "|", "%", "&", "1.", "com", "org", "io", "www", "http", "mailto", "localhost",
    "xn--p1ai", "\u00a0", "\u2028", "\x85", "\t", "\r", "*", "_", "`", "@", "<", ">", "~",
]  # fmt: skip
plain_text = st.lists(st.sampled_from(PLAIN_PIECES), max_size=40).map("".join)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(plain_text | any_text)
@example('ok, see you at 5:30. Tom & Jerry\'s "place" (the usual)\nbring 2/3 of it!')
def test_the_fast_path_gives_what_the_full_renderer_gives(text):
    assume(formatting.is_plain(text))

    assert render(text) == formatting.render_markdown(text)


@pytest.mark.parametrize(
    "text",
    [
        "ok, see you at 5:30.",
        'Tom & Jerry\'s "place" (the usual)\nbring 2/3 of it!',
        "Lorem ipsum dolor sit amet, consectetur. " * 40,
        "b:4f2a:12:345:........",
    ],
)
def test_everyday_chat_text_takes_the_fast_path(text):
    assert formatting.is_plain(text.strip())
