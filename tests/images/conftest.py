"""What the image tests share: a media directory of each test's own."""

import pytest
from django.core.cache import caches

from chat import ratelimit


@pytest.fixture
def media_root(tmp_path, settings):
    """Every test that uses it stores its files in a directory of its own
    (``MEDIA_ROOT``), returned as a ``Path``, and starts with full
    rate-limit buckets."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    caches[ratelimit.CACHE_ALIAS].clear()
    return tmp_path / "media"
