"""What formatting a message's text costs (chat/formatting.py), in µs per
message, and what it adds to a message frame.

``python -m bench.formatting_speed`` times, with ``timeit`` (the best of
``--repeat`` runs, each long enough for 0.2 s), for each text below:

- ``render``: ``chat.formatting.render`` as a new message meets it, its
  cache empty (the fast path for text without markup);
- ``cached``: ``render`` of a text it has seen (a catch-up, a page);
- ``full``: the full renderer, Markdown then the sanitiser, uncached;
- ``as_dict``: ``Message.as_dict()`` and its ``json.dumps``, what the
  worker does per broadcast, with ``html`` (render uncached as above);
- the frame's size without and with ``html``, in bytes of JSON.

No database is needed: the messages are unsaved rows. ``--json`` prints
one JSON line per text instead of the table.
"""

import argparse
import datetime
import json
import os
import timeit

# A short chat line, a line with an address, and messages at the length
# limit (2,000 characters): prose, markup throughout, and the slowest input
# found for the renderer (emphasis markers that never pair).
TEXTS = {
    "short": "ok, see you at 5:30 then",
    "url": "the build log is at https://ci.example.com/builds/4512?tab=log#L20 (line 20)",
    "prose-2000": ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do. " * 31)[:2000],
    "markup-2000": (
        "**bold** and *italic* with `code` and https://example.com/a\n> a quote\n" * 30
    )[:2000],
    "worst-2000": "*_" * 1000,
}


def best_us(function, repeat):
    """The best time (float, µs) of one call of ``function`` over
    ``repeat`` timeit runs."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(1, number)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def measure(name, text, repeat):
    """One text's figures (dict): µs for ``render``, ``cached``, ``full``
    and ``as_dict``; bytes of the frame without and with ``html``."""
    from chat import formatting
    from chat.models import Message, Room

    message = Message(
        id=1,
        room=Room(label="lobby"),
        handle="ann",
        message=text,
        seq=1,
        timestamp=datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC),
    )

    def uncached():
        formatting.cached_render_markdown.cache_clear()
        return formatting.render(text)

    def broadcast():
        formatting.cached_render_markdown.cache_clear()
        return json.dumps(message.as_dict())

    formatting.render(text)
    frame = message.as_dict()
    without = dict(frame)
    del without["html"]
    return {
        "text": name,
        "characters": len(text),
        "fast_path": formatting.is_plain(text),
        "render_us": round(best_us(uncached, repeat), 1),
        "cached_us": round(best_us(lambda: formatting.render(text), repeat), 2),
        "full_us": round(best_us(lambda: formatting.render_markdown(text), repeat), 1),
        "as_dict_us": round(best_us(broadcast, repeat), 1),
        "frame_bytes": len(json.dumps(without)),
        "frame_with_html_bytes": len(json.dumps(frame)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timeit runs per figure (5)")
    parser.add_argument("--json", action="store_true", help="one JSON line per text")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")
    import django

    django.setup()
    rows = [measure(name, text, args.repeat) for name, text in TEXTS.items()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print(
        "| text | chars | fast path | render µs | cached µs | full µs | as_dict+json µs "
        "| frame bytes | with html |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            "| {text} | {characters} | {fast} | {render_us} | {cached_us} | {full_us} "
            "| {as_dict_us} | {frame_bytes} | {frame_with_html_bytes} |".format(
                fast="yes" if row["fast_path"] else "no", **row
            )
        )


if __name__ == "__main__":
    main()
