"""The room list in headless Chromium, against the real split."""

import datetime
import os
import zoneinfo

import pytest
from selenium.webdriver.common.by import By

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    send_from_a_worker,
    shown_texts,
    sign_up,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def unread_on_the_list(page, label):
    """The unread figure the room list shows for room ``label`` (int), or
    None when it shows none."""
    return page.execute_script(
        "var room = document.querySelector('.rooms [data-label=\"' + arguments[0] + '\"]');"
        "var unread = room && room.querySelector('.unread[data-unread]');"
        "return unread ? Number(unread.dataset.unread) : null;",
        label,
    )


def unread_after_reload(page, base_url, label):
    page.get(base_url + "/")
    return unread_on_the_list(page, label)


def test_reading_a_room_lowers_its_unread_count_on_the_room_list(browser, split, split_env):
    label = unique_label("unread")
    env = dict(os.environ, **split_env)
    send_from_a_worker(env, label, ["seen before"])
    page = browser()
    sign_up(page, split, unique_name("reader"))

    # Opening the room reads it up to its newest message, "seen before".
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    wait_until(page, lambda driver: unread_after_reload(driver, split.base_url, label) == 0)

    send_from_a_worker(env, label, ["new 1", "new 2", "new 3"])
    wait_until(page, lambda driver: unread_after_reload(driver, split.base_url, label) == 3)

    page.find_element(By.CSS_SELECTOR, '.rooms [data-label="%s"] a' % label).click()
    wait_until_connected(page)
    wait_for_text(page, "new 3")
    # Where the reader left off is marked, and shown.
    divider = page.find_element(By.ID, "unread")
    assert divider.text == "New messages"
    assert divider.is_displayed()
    following = divider.find_element(By.XPATH, "following-sibling::li[1]")
    assert following.find_element(By.CLASS_NAME, "text").text == "new 1"
    assert shown_texts(page) == ["seen before", "new 1", "new 2", "new 3"]

    wait_until(page, lambda driver: unread_after_reload(driver, split.base_url, label) == 0)


def test_the_room_list_never_scrolls_sideways_on_a_phone(browser, split, split_env):
    label = unique_label("x" * 38)
    send_from_a_worker(dict(os.environ, **split_env), label, ["hello"])
    page = browser(width=360, height=740)

    for path in ("/", "/accounts/login/", "/accounts/signup/"):
        page.get(split.base_url + path)
        assert page.execute_script("return window.innerWidth;") == 360
        assert fits_the_width(page), path
    # Signed in, the header names the account and the list counts unread messages.
    sign_up(page, split, unique_name("phone"))
    page.get(split.base_url + "/")
    assert fits_the_width(page)


def test_the_room_lists_last_activity_is_shown_in_the_readers_time_zone(browser, split, split_env):
    label = unique_label("zone-list")
    send_from_a_worker(dict(os.environ, **split_env), label, ["what time is it?"])
    page = browser()
    page.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    page.get(split.base_url + "/")

    time = page.find_element(By.CSS_SELECTOR, '.rooms [data-label="%s"] time.activity' % label)
    stamp = datetime.datetime.fromisoformat(time.get_attribute("datetime").replace("Z", "+00:00"))
    in_kolkata = stamp.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    # Kolkata is UTC+5:30, so its minutes differ from the server's UTC ones.
    assert "%d:%02d" % (in_kolkata.hour % 12 or 12, in_kolkata.minute) in time.text
    assert "UTC" not in time.text
    assert time.get_attribute("title").endswith("UTC")
