"""The PostgreSQL backend's psycopg2 2.9 fix, against a real PostgreSQL."""

import datetime

import dj_database_url
import pytest
from django.db.backends.postgresql.base import DatabaseWrapper as StockWrapper
from django.utils import timezone

from chat.transport.postgresql.base import DatabaseWrapper, utc_tzinfo_factory

pytestmark = pytest.mark.integration


def connect(wrapper_class, url):
    settings = dj_database_url.parse(url)
    settings.update(
        {"ATOMIC_REQUESTS": False, "AUTOCOMMIT": True, "CONN_MAX_AGE": 0, "OPTIONS": {}}
    )
    settings.setdefault("TIME_ZONE", None)
    settings.setdefault("TEST", {})
    return wrapper_class(settings)


def read_back_a_timestamp(wrapper):
    moment = datetime.datetime(2017, 5, 1, 12, 30, tzinfo=datetime.UTC)
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz", [moment])
            return moment, cursor.fetchone()[0]
    finally:
        wrapper.close()


@pytest.fixture
def postgres_url(postgres_url, django_db_blocker):
    # These connections are the test's own, outside pytest-django's test database.
    with django_db_blocker.unblock():
        yield postgres_url


def test_a_timestamp_reads_back_as_utc_through_our_backend(postgres_url):
    moment, read = read_back_a_timestamp(connect(DatabaseWrapper, postgres_url))
    assert read == moment
    assert read.utcoffset() == datetime.timedelta(0)


def test_the_stock_django_2_2_backend_fails_on_the_same_read(postgres_url):
    # The reason the fixed backend exists: if this starts passing, the
    # installed Django or psycopg2 no longer needs it.
    with pytest.raises(AssertionError, match="isn't set to UTC"):
        read_back_a_timestamp(connect(StockWrapper, postgres_url))


def test_the_tzinfo_factory_accepts_zero_in_either_form_and_nothing_else():
    assert utc_tzinfo_factory(0) is timezone.utc
    assert utc_tzinfo_factory(datetime.timedelta(0)) is timezone.utc
    with pytest.raises(AssertionError):
        utc_tzinfo_factory(datetime.timedelta(hours=1))
