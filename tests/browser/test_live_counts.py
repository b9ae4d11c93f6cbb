"""The sidebar of the reader's rooms and the live room list, kept up to
date over the /stream/ socket, in headless Chromium against the real
split."""

import os

import pytest
from selenium.webdriver.common.by import By

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    send_from_a_worker,
    sign_up,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def sidebar_unread(page, label):
    """The unread count the sidebar shows for room ``label`` (int; 0 when
    hidden), or None when the room is not in the sidebar."""
    return page.execute_script(
        "var item = document.querySelector("
        "'#sidebar-rooms li[data-label=\"' + arguments[0] + '\"]');"
        "if (!item) return null;"
        "var count = item.querySelector('.unread');"
        "return count.hidden ? 0 : Number(count.textContent.trim().split(' ')[0]);",
        label,
    )


def list_unread(page, label):
    return page.execute_script(
        "var item = document.querySelector("
        "'.rooms li[data-label=\"' + arguments[0] + '\"] .unread');"
        "return item ? Number(item.dataset.unread) : null;",
        label,
    )


def open_and_read(page, split, label, text):
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    wait_for_text(page, text)


def test_the_sidebars_count_rises_from_another_window_and_clears_when_the_room_is_read(
    browser, split, split_env
):
    env = dict(os.environ, **split_env)
    here, there = unique_label("here"), unique_label("there")
    send_from_a_worker(env, there, ["first"])
    send_from_a_worker(env, here, ["hi"])
    first = browser()
    sign_up(first, split, unique_name("sid"))
    open_and_read(first, split, there, "first")
    open_and_read(first, split, here, "hi")
    wait_until(first, lambda page: sidebar_unread(page, there) == 0)

    # Another window (another reader) writes in the other room.
    second = browser()
    second.get("%s/%s/" % (split.base_url, there))
    wait_until_connected(second)
    send_from_a_worker(env, there, ["one", "two"])
    wait_until(first, lambda page: sidebar_unread(page, there) == 2)
    # The menu button counts them too (shown on a narrow screen).
    assert first.find_element(By.ID, "rooms-menu-count").get_attribute("data-count") == "2"

    # Switching rooms from the sidebar: the room is read there, and its
    # count clears in the sidebar of the first room's page, in a third tab.
    watcher = browser()
    watcher.get(first.current_url)
    for cookie in first.get_cookies():
        watcher.add_cookie(cookie)
    watcher.get("%s/%s/" % (split.base_url, here))
    wait_until_connected(watcher)
    wait_until(watcher, lambda page: sidebar_unread(page, there) == 2)
    first.find_element(By.CSS_SELECTOR, '#sidebar-rooms li[data-label="%s"] a' % there).click()
    wait_until_connected(first)
    wait_for_text(first, "two")
    assert first.find_elements(By.ID, "sidebar")
    wait_until(watcher, lambda page: sidebar_unread(page, there) == 0)


def test_the_room_list_updates_its_unread_counts_live(browser, split, split_env):
    env = dict(os.environ, **split_env)
    label = unique_label("listed")
    send_from_a_worker(env, label, ["before"])
    page = browser()
    sign_up(page, split, unique_name("lisa"))
    open_and_read(page, split, label, "before")
    page.get(split.base_url + "/")
    wait_until(page, lambda driver: list_unread(driver, label) == 0)
    send_from_a_worker(env, label, ["after 1", "after 2", "after 3"])
    # No reload: the count comes over /stream/.
    wait_until(page, lambda driver: list_unread(driver, label) == 3)
    page.save_screenshot("/tmp/stream-list-1280.png")


def test_at_360_px_the_sidebar_folds_behind_a_menu_button(browser, split, split_env):
    env = dict(os.environ, **split_env)
    label, other = unique_label("narrow"), unique_label("elsewhere")
    send_from_a_worker(env, other, ["over there"])
    send_from_a_worker(env, label, ["right here"])
    page = browser(width=360, height=740)
    sign_up(page, split, unique_name("nia"))
    open_and_read(page, split, other, "over there")
    open_and_read(page, split, label, "right here")
    sidebar = page.find_element(By.ID, "sidebar")
    menu = page.find_element(By.ID, "rooms-menu")
    assert menu.is_displayed()
    assert not sidebar.is_displayed()
    menu.click()
    wait_until(page, lambda driver: sidebar.is_displayed())
    assert menu.get_attribute("aria-expanded") == "true"
    wait_until(page, lambda driver: sidebar_unread(driver, other) == 0)
    assert fits_the_width(page)
    page.save_screenshot("/tmp/stream-sidebar-360.png")
    menu.click()
    page.save_screenshot("/tmp/stream-room-360.png")
    menu.click()
    menu.click()
    wait_until(page, lambda driver: not sidebar.is_displayed())


def test_at_1400_px_the_sidebar_is_a_column_beside_the_room(browser, split, split_env):
    env = dict(os.environ, **split_env)
    label, other = unique_label("wide"), unique_label("next-door")
    send_from_a_worker(env, other, ["next door"])
    send_from_a_worker(env, label, ["wide room"])
    page = browser(width=1400, height=900)
    sign_up(page, split, unique_name("wanda"))
    open_and_read(page, split, other, "next door")
    open_and_read(page, split, label, "wide room")
    assert page.find_element(By.ID, "sidebar").is_displayed()
    assert not page.find_element(By.ID, "rooms-menu").is_displayed()
    send_from_a_worker(env, other, ["psst"])
    wait_until(page, lambda driver: sidebar_unread(driver, other) == 1)
    page.find_element(By.CSS_SELECTOR, ".topic-edit summary").click()
    page.find_element(By.ID, "topic-input").send_keys("Where the wide things are")
    page.find_element(By.CSS_SELECTOR, "#topicform button[type=submit]").click()
    wait_until(page, lambda driver: driver.find_elements(By.ID, "topic"))
    wait_until_connected(page)
    wait_until(page, lambda driver: sidebar_unread(driver, other) == 1)
    page.save_screenshot("/tmp/stream-sidebar-1400.png")


# ---- Rooms easier to make and share (added 2026-12-05) ---------------------


def test_a_name_opens_a_room_with_a_label_made_from_it(browser, split):
    page = browser()
    sign_up(page, split, unique_name("nat"))
    page.get(split.base_url + "/")
    name = "Team Standup %s" % unique_name("x")
    field = page.find_element(By.NAME, "label")
    field.send_keys(name)
    field.submit()
    wait_until_connected(page)
    assert page.current_url == "%s/%s/" % (split.base_url, name.lower().replace(" ", "-"))
    assert page.find_element(By.ID, "room-title").text == name


def test_a_topic_set_on_the_page_shows_in_the_header(browser, split):
    label = unique_label("topical")
    page = browser()
    sign_up(page, split, unique_name("tom"))
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    page.find_element(By.CSS_SELECTOR, ".topic-edit summary").click()
    page.find_element(By.ID, "topic-input").send_keys("Release planning, Fridays")
    page.find_element(By.CSS_SELECTOR, "#topicform button[type=submit]").click()
    wait_until(page, lambda driver: driver.find_elements(By.ID, "topic"))
    assert page.find_element(By.ID, "topic").text == "Release planning, Fridays"


def test_the_copy_button_copies_the_rooms_full_url_on_a_phone(browser, split):
    label = unique_label("shared")
    page = browser(width=360, height=740)
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    page.execute_cdp_cmd(
        "Browser.grantPermissions",
        {
            "origin": split.base_url,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        },
    )
    button = page.find_element(By.ID, "copy-link")
    assert button.is_displayed()
    assert page.find_element(By.ID, "share-link").is_displayed()
    button.click()
    wait_until(page, lambda driver: driver.find_element(By.ID, "copy-status").text == "Link copied")
    copied = page.execute_async_script(
        "var done = arguments[0]; navigator.clipboard.readText().then(done, () => done(null));"
    )
    assert copied == "%s/%s/" % (split.base_url, label)
    assert fits_the_width(page)
    page.save_screenshot("/tmp/stream-share-360.png")


def list_online(page, label):
    return page.execute_script(
        "var item = document.querySelector("
        "'.rooms li[data-label=\"' + arguments[0] + '\"] .online');"
        "return item ? parseInt(item.textContent, 10) : null;",
        label,
    )


def test_leaving_a_room_for_the_list_shows_it_read_and_left_without_a_reload(
    browser, split, split_env
):
    env = dict(os.environ, **split_env)
    label = unique_label("left")
    send_from_a_worker(env, label, ["old news"])
    page = browser()
    sign_up(page, split, unique_name("leo"))
    open_and_read(page, split, label, "old news")
    send_from_a_worker(env, label, ["fresh 1", "fresh 2", "fresh 3"])
    wait_for_text(page, "fresh 3")
    # From the room to the list by the sidebar's link: whatever the list
    # rendered while the room's socket was closing, it settles on the truth.
    page.find_element(By.CSS_SELECTOR, ".sidebar-all a").click()
    wait_until(page, lambda driver: list_unread(driver, label) == 0)
    wait_until(page, lambda driver: list_online(driver, label) == 0)
