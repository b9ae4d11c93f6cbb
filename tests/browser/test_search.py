"""Search in headless Chromium against the real split: the header's box on
the room list and the room page, a result's highlighted words, and its
permalink opening the message highlighted in its room; the pictures at
360 and 1,400 px."""

import os
import random
import string

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    send_lines_from_a_worker,
    wait_until,
    wait_until_connected,
)


def shoot(page, tmp_path, name):
    """Save a screenshot of ``page`` as ``<name>.png`` in ``tmp_path``, and
    in ``$SCREENSHOT_DIR`` too when it is set, to be looked at."""
    page.save_screenshot(str(tmp_path / (name + ".png")))
    if os.environ.get("SCREENSHOT_DIR"):
        page.save_screenshot(os.path.join(os.environ["SCREENSHOT_DIR"], name + ".png"))


def test_a_search_from_the_room_page_finds_the_message_and_its_permalink_opens_it_highlighted(
    browser, split, split_env, tmp_path
):
    label = unique_label("searched")
    env = dict(os.environ, **split_env)
    word = "".join(random.choice(string.ascii_lowercase) for _ in range(10))
    lines = [("bob", "filler line %d" % n) for n in range(80)]
    lines[30] = ("ann", "the %s deploy is <b>done</b>, see the notes" % word)
    lines[60] = ("cat", "another %s mention, later" % word)
    send_lines_from_a_worker(env, label, lines)

    page = browser(width=1400, height=900)
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    box = page.find_element(By.CSS_SELECTOR, ".site-header .site-search input[name=q]")
    box.send_keys("%s in:%s" % (word, label), Keys.ENTER)
    wait_until(page, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".result"))
    results = page.find_elements(By.CSS_SELECTOR, ".result")
    assert [r.get_attribute("data-seq") for r in results] == ["61", "31"]
    older = results[1]
    assert older.find_element(By.CSS_SELECTOR, ".handle").text == "ann"
    assert older.find_element(By.CSS_SELECTOR, ".result-room").text == label
    assert [m.text for m in older.find_elements(By.TAG_NAME, "mark")] == [word]
    assert "<b>done</b>" in older.find_element(By.CSS_SELECTOR, ".text").text
    assert page.find_element(By.ID, "search-q").get_attribute("value") == "%s in:%s" % (
        word,
        label,
    )
    assert fits_the_width(page)
    shoot(page, tmp_path, "search-wide")

    narrow = browser(width=360, height=740)
    narrow.get(page.current_url)
    wait_until(narrow, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".result"))
    assert fits_the_width(narrow)
    shoot(narrow, tmp_path, "search-narrow")

    older.find_element(By.CSS_SELECTOR, ".permalink").click()
    wait_until(page, lambda driver: "?at=31" in driver.current_url)
    wait_until_connected(page)
    highlighted = page.find_element(By.CSS_SELECTOR, "#messages li.highlighted")
    assert highlighted.get_attribute("data-seq") == "31"
    assert word in highlighted.find_element(By.CSS_SELECTOR, ".text").text
    assert page.execute_script(
        "var r = arguments[0].getBoundingClientRect(),"
        " s = document.getElementById('scroller').getBoundingClientRect();"
        "return r.top >= s.top && r.bottom <= s.bottom;",
        highlighted,
    )
    shoot(page, tmp_path, "search-permalink-wide")


def test_the_header_box_fits_a_phone_and_an_empty_search_says_what_to_type(
    browser, split, tmp_path
):
    page = browser(width=360, height=740)
    page.get("%s/%s/" % (split.base_url, unique_label("narrow")))
    wait_until_connected(page)
    assert page.find_element(By.CSS_SELECTOR, ".site-search input").is_displayed()
    assert fits_the_width(page)
    shoot(page, tmp_path, "search-box-room-narrow")
    page.get(split.base_url + "/")
    page.find_element(By.CSS_SELECTOR, ".site-search button").click()
    alerts = wait_until(page, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".search-error"))
    alert = alerts[0]
    assert alert.text == "Type a word to search for."
    assert fits_the_width(page)
    shoot(page, tmp_path, "search-empty-narrow")
