"""The pictures of the site in docs/screenshots/, taken from the real split
in a database of their own so that no other test's rooms show in them.

Every run takes them and checks the pages they show; they replace the ones
in docs/screenshots/ only when ``UPDATE_SCREENSHOTS=1`` is set (``make
screenshots``), so that a test run leaves the work tree as it found it."""

import os
import uuid

import pytest
from selenium.webdriver.common.by import By

from bench.split import PROJECT_DIR, production_env, running
from tests import services
from tests.browser.pages import (
    attach_image,
    fits_the_width,
    open_room,
    pick_guest_name,
    roster,
    say,
    send_from_a_worker,
    send_lines_from_a_worker,
    set_viewport,
    sign_up,
    typing_line,
    upload_items,
    wait_for_loaded_images,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"

LOBBY = [
    ("carl", "Morning! Is the release still on for Thursday?"),
    ("bob", "Yes, unless the migration review finds something."),
    ("ann", "I'm reading it now. The plan is in the usual place:"),
    ("ann", "https://example.com/releases/2026-12/migration-plan-with-a-rather-long-address"),
    ("bob", "Thanks. Two things from me:\n1. the index rebuild\n2. the rollback notes"),
    ("carl", "I can take the rollback notes."),
]


@pytest.fixture
def screenshots(tmp_path):
    """The directory the pictures are saved in: docs/screenshots/ with
    ``UPDATE_SCREENSHOTS=1`` in the environment, else one of the test's own."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path


@pytest.fixture
def own_split(redis_url, postgres_url):
    """A split with a fresh database and channel-layer prefix of its own."""
    tag = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
    prefix = "asgi-shots-%s:" % tag
    with services.scratch_database(postgres_url, "chat_shots_%s" % tag) as database_url:
        with running(production_env(database_url, redis_url, prefix), workers=2) as split:
            yield split
    services.delete_redis_prefix(redis_url, prefix)


def until_typing_shows(ann, bob, handle):
    """Type in ``bob``'s composer until ``ann``'s page says ``handle`` is typing."""

    def typed_and_shown(driver):
        bob.find_element(By.ID, "message").send_keys(".")
        return typing_line(driver) == "%s is typing…" % handle

    wait_until(ann, typed_and_shown)


def test_the_room_and_the_room_list_are_photographed(browser, own_split, screenshots):
    send_lines_from_a_worker(own_split.env, "lobby", LOBBY)
    send_from_a_worker(own_split.env, "design", ["New icons are up for review."], handle="dee")
    send_from_a_worker(own_split.env, "release-planning", ["Freeze starts Monday."], "ann")

    # A signed-in reader who has seen "design" before its latest messages.
    carl = browser(width=1000, height=640)
    sign_up(carl, own_split, "carl")
    carl.get(own_split.base_url + "/design/")
    wait_until_connected(carl)
    carl.get(own_split.base_url + "/")
    send_from_a_worker(own_split.env, "design", ["Dark mode too?", "Yes, both."], handle="dee")

    bob = open_room(browser, own_split, "lobby", width=800, height=600)
    pick_guest_name(bob, "bob")
    ann = open_room(browser, own_split, "lobby", width=1400, height=860)
    pick_guest_name(ann, "ann")
    wait_until(ann, lambda driver: roster(driver) == ["ann", "bob"])
    wait_for_text(ann, LOBBY[-1][1])

    until_typing_shows(ann, bob, "bob")
    assert fits_the_width(ann)
    ann.save_screenshot(str(screenshots / "room-wide.png"))

    set_viewport(ann, 360, 760)
    wait_until(ann, lambda driver: driver.execute_script("return window.innerWidth;") == 360)
    # Folded on a phone; opened here to show who is in.
    ann.find_element(By.CSS_SELECTOR, "#roster summary").click()
    wait_until(ann, lambda driver: driver.find_element(By.ID, "members").is_displayed())
    until_typing_shows(ann, bob, "bob")
    assert fits_the_width(ann)
    ann.save_screenshot(str(screenshots / "room-narrow.png"))

    def listed(driver):
        driver.get(own_split.base_url + "/")
        return driver.execute_script(
            "var design = document.querySelector('.rooms [data-label=design] .unread');"
            "var lobby = document.querySelector('.rooms [data-label=lobby] .online');"
            "return design && design.dataset.unread === '2'"
            " && lobby && lobby.textContent.trim() === '2 online';"
        )

    wait_until(carl, listed)
    assert fits_the_width(carl)
    carl.save_screenshot(str(screenshots / "rooms.png"))


PHOTOS = [
    ("bob", "Who was at the harbour this morning?"),
    ("carl", "Me! The light was unreal."),
]


def harbour_png(path, width=1200, height=800):
    """Write a picture of a sunrise over the sea (a PNG) to ``path``."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    horizon = height * 3 // 5

    def blend(top, bottom, t):
        return tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))

    for y in range(horizon):  # the sky, from deep blue to amber
        draw.line((0, y, width, y), fill=blend((38, 52, 110), (250, 170, 95), y / horizon))
    radius = height // 8
    sun = (width * 3 // 5, horizon)
    draw.ellipse(
        (sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius), fill=(255, 226, 140)
    )
    for y in range(horizon, height):  # the sea, darkening towards the shore
        t = (y - horizon) / (height - horizon)
        draw.line((0, y, width, y), fill=blend((70, 90, 140), (18, 28, 56), t))
    for n in range(12):  # the sun's path on the water
        y = horizon + 12 + n * (height - horizon) // 13
        half = radius * (12 - n) // 14 + 6
        draw.line((sun[0] - half, y, sun[0] + half, y), fill=(255, 214, 130), width=3)
    picture.save(path, format="PNG")
    return path


def test_a_room_with_an_image_is_photographed(browser, own_split, tmp_path, screenshots):
    send_lines_from_a_worker(own_split.env, "photos", PHOTOS)
    bob = open_room(browser, own_split, "photos", width=800, height=600)
    pick_guest_name(bob, "bob")
    ann = open_room(browser, own_split, "photos", width=1400, height=860)
    pick_guest_name(ann, "ann")
    wait_for_text(ann, PHOTOS[-1][1])

    ann.find_element(By.ID, "message").send_keys("Here it is, from the pier")
    attach_image(ann, harbour_png(tmp_path / "harbour.png"))
    wait_for_loaded_images(bob, 1)
    say(bob, "Wow. Can I use it for the newsletter?")
    wait_for_text(ann, "Wow. Can I use it for the newsletter?")
    wait_for_loaded_images(ann, 1)
    # The job's item beside the composer goes once the image shows.
    wait_until(ann, lambda driver: upload_items(driver) == [])

    assert fits_the_width(ann)
    ann.save_screenshot(str(screenshots / "room-image-wide.png"))

    set_viewport(ann, 360, 760)
    wait_until(ann, lambda driver: driver.execute_script("return window.innerWidth;") == 360)
    wait_until(
        ann,
        lambda driver: driver.execute_script(
            "var s = document.getElementById('scroller');"
            "return s.scrollHeight - s.scrollTop - s.clientHeight < 2;"
        ),
    )
    assert fits_the_width(ann)
    ann.save_screenshot(str(screenshots / "room-image-narrow.png"))
