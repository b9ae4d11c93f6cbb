"""Template filters for message text: ``{% load chat_formatting %}``."""

from django import template
from django.utils.safestring import mark_safe

from chat import formatting

register = template.Library()


@register.filter
def formatted(text):
    """``text`` (a message's text, str) as ``chat.formatting.render`` makes
    it: sanitised HTML, marked safe so the template inserts it as HTML.
    The only place a template receives a message's HTML: its text never
    reaches a page through ``|safe``."""
    return mark_safe(formatting.render(str(text)))
