"""The pages' Content-Security-Policy header (django-csp, chat/settings.py)
and where it lets images come from."""

import pytest

from chat import settings as chat_settings


def policy(response):
    """The response's Content-Security-Policy as a dict of directive to its
    list of sources."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/lobby/", "/accounts/login/"])
def test_every_page_allows_scripts_styles_and_sockets_from_this_site_only(client, path):
    directives = policy(client.get(path))
    assert directives["default-src"] == ["'self'"]
    assert "script-src" not in directives  # falls back to default-src: no inline, no eval
    assert "style-src" not in directives
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["img-src"] == ["'self'"]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, []),
        (
            {
                "DEFAULT_FILE_STORAGE": "storages.backends.s3boto3.S3Boto3Storage",
                "AWS_S3_CUSTOM_DOMAIN": "cdn.example.com",
            },
            ["https://cdn.example.com"],
        ),
        (
            {
                "DEFAULT_FILE_STORAGE": "storages.backends.s3boto3.S3Boto3Storage",
                "AWS_S3_ENDPOINT_URL": "https://minio.example.com:9000/some/path",
            },
            ["https://minio.example.com:9000"],
        ),
        (
            {
                "DEFAULT_FILE_STORAGE": "storages.backends.s3boto3.S3Boto3Storage",
                "AWS_STORAGE_BUCKET_NAME": "chat-media",
                "AWS_S3_REGION_NAME": "eu-west-1",
            },
            [
                "https://chat-media.s3.amazonaws.com",
                "https://chat-media.s3.eu-west-1.amazonaws.com",
            ],
        ),
    ],
)
def test_images_may_come_from_where_the_storage_keeps_them(monkeypatch, overrides, expected):
    for name in ("AWS_S3_CUSTOM_DOMAIN", "AWS_S3_ENDPOINT_URL", "AWS_STORAGE_BUCKET_NAME"):
        monkeypatch.setattr(chat_settings, name, None)
    for name, value in overrides.items():
        monkeypatch.setattr(chat_settings, name, value)
    assert chat_settings.media_origins() == expected
