"""What the browser tests do on the site's pages: open a room, say
something, sign up, pick a guest name, read the roster and the typing line,
and post from outside the browser as a worker would."""

import subprocess
import sys
import uuid

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.split import PROJECT_DIR

WAIT_SECONDS = 30
PASSWORD = "a quiet harbour at dawn 73"


def set_viewport(page, width, height):
    """Give ``page`` a viewport of ``width`` by ``height`` CSS pixels. Below
    a desk's width it is a phone's: touch-sized, with the page's viewport
    meta tag applied (a headless window cannot be made that narrow)."""
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def wait_until(page, condition, seconds=WAIT_SECONDS):
    """Wait until ``condition(page)`` is truthy; returns its value. An
    element gone stale because a navigation replaced the page (a form just
    submitted) counts as not yet."""
    return WebDriverWait(
        page, seconds, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def wait_until_connected(page, connected=True):
    """Wait for the page's script to report its socket open (or closed)."""
    expected = "true" if connected else "false"
    wait_until(
        page,
        lambda driver: (
            driver.find_element(By.TAG_NAME, "body").get_attribute("data-connected") == expected
        ),
    )


def open_room(browser, split, label, **size):
    """A new browser (``size``: its ``width`` and ``height``) on room
    ``label``'s page, its socket open."""
    page = browser(**size)
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    return page


def say(page, text):
    """Send ``text`` from the composer, under the name the page chats as (a
    page without one is asked to pick one first: ``pick_guest_name``)."""
    page.find_element(By.ID, "message").send_keys(text)
    page.find_element(By.CSS_SELECTOR, "#chatform button[type=submit]").click()


def shown_texts(page):
    """The texts of the messages shown, oldest first (list of str)."""
    return [li.text for li in page.find_elements(By.CSS_SELECTOR, "#messages .text")]


def wait_for_text(page, text):
    wait_until(page, lambda driver: text in shown_texts(driver))


def unique_name(stem):
    """A username or guest name (str) no other test uses."""
    return "%s%s" % (stem, uuid.uuid4().hex[:6])


def sign_up(page, split, username, next_path=""):
    """Create the account ``username`` at /accounts/signup/ and wait until
    the page it lands on shows it signed in."""
    query = "?next=%s" % next_path if next_path else ""
    page.get("%s/accounts/signup/%s" % (split.base_url, query))
    page.find_element(By.NAME, "username").send_keys(username)
    page.find_element(By.NAME, "password1").send_keys(PASSWORD)
    page.find_element(By.NAME, "password2").send_keys(PASSWORD)
    page.find_element(By.CSS_SELECTOR, ".signup-form button[type=submit]").click()
    wait_until(page, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".account .signed-in"))


def chatting_as(page):
    """The handle the composer says the page chats as, or None."""
    found = page.find_elements(By.ID, "me")
    return found[0].text if found else None


def pick_guest_name(page, name):
    """Pick ``name`` in the room page's guest form and wait for the room to
    come back speaking as it. The field is emptied first: after a refused
    name it holds that name."""
    field = page.find_element(By.CSS_SELECTOR, "#guestform input[name=name]")
    field.clear()
    field.send_keys(name)
    page.find_element(By.CSS_SELECTOR, "#guestform button[type=submit]").click()
    wait_until(page, lambda driver: chatting_as(driver) == name)
    wait_until_connected(page)


def two_guests(browser, split, label):
    """Two pages on room ``label``, each with a fresh guest name picked;
    returns ``(ann, bob, ann_name, bob_name)``."""
    ann_name, bob_name = unique_name("ann"), unique_name("bob")
    ann, bob = open_room(browser, split, label), open_room(browser, split, label)
    pick_guest_name(ann, ann_name)
    pick_guest_name(bob, bob_name)
    return ann, bob, ann_name, bob_name


def roster(page):
    """The handles the roster lists (list of str), whether it is folded or not."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#members li'),"
        " li => li.firstChild.textContent);"
    )


def typing_line(page):
    """What the typing line says (str)."""
    return page.execute_script("return document.getElementById('typing').textContent;")


def fits_the_width(page):
    """True when nothing on the page is wider than its window."""
    return page.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;")


def send_from_a_worker(env, label, texts, handle="bob"):
    """Store and broadcast ``texts`` in room ``label`` as a worker would,
    through ``chat.services``, in a process with the split's ``env``."""
    send_lines_from_a_worker(env, label, [(handle, text) for text in texts])


def send_lines_from_a_worker(env, label, lines):
    """Store and broadcast ``lines`` (``(handle, text)`` pairs of str) in
    room ``label``, in order, as ``send_from_a_worker`` does."""
    run_in_the_project(
        env,
        "from chat import services\n"
        "room = services.open_room(%r)\n"
        "for handle, text in %r:\n"
        "    services.post_message(room, handle, text)\n" % (label, list(lines)),
    )


def make_private(env, label, members=(), owners=()):
    """Make room ``label`` private, with ``members`` and ``owners``
    (usernames, str), as ``manage.py chatroom create`` does."""
    run_in_the_project(
        env,
        "from chat import services\n"
        "services.configure_room(%r, private=True, members=%r, owners=%r)\n"
        % (label, list(members), list(owners)),
    )


def run_in_the_project(env, code):
    """Run ``code`` (str) with ``manage.py shell`` in a process with the
    split's ``env``."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=env, check=True
    )


# ---- Images in messages ------------------------------------------------------


def write_png(path, width=640, height=320, colours=((31, 95, 191), (242, 139, 130))):
    """Write a PNG of ``width`` by ``height`` pixels to ``path`` (a Path):
    two colour bands and a disc, so that a thumbnail of it is visibly an
    image. Returns ``path``."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height), colours[0])
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, height * 2 // 3, width, height), fill=colours[1])
    radius = min(width, height) // 4
    centre = (width * 2 // 3, height // 3)
    draw.ellipse(
        (centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius),
        fill=(255, 214, 102),
    )
    picture.save(path, format="PNG")
    return path


def attach_image(page, path):
    """Pick the file at ``path`` in the composer's image input, as the
    Attach button's file chooser would."""
    page.find_element(By.ID, "image-input").send_keys(str(path))


def shown_images(page):
    """The image messages shown, oldest first: a list of dicts with the
    thumbnail's ``src``, ``alt``, ``width`` and ``height`` attributes (str
    or None), the link's ``href`` attribute, ``loaded`` (bool: the picture
    arrived and decoded) and ``text`` (the message's text)."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#messages li[data-id]'))"
        ".filter(li => li.querySelector('a.image img')).map(li => {"
        "  var img = li.querySelector('a.image img');"
        "  return {src: img.getAttribute('src'), alt: img.getAttribute('alt'),"
        "    width: img.getAttribute('width'), height: img.getAttribute('height'),"
        "    loading: img.getAttribute('loading'),"
        "    href: li.querySelector('a.image').getAttribute('href'),"
        "    loaded: img.complete && img.naturalWidth > 0,"
        "    text: li.querySelector('.text').textContent};"
        "});"
    )


def wait_for_loaded_images(page, count):
    """Wait until ``count`` image messages are shown with their pictures
    loaded; returns ``shown_images(page)``."""

    def loaded(driver):
        images = shown_images(driver)
        return images if len(images) == count and all(i["loaded"] for i in images) else None

    return wait_until(page, loaded)


def upload_items(page):
    """The images being sent, as the list beside the composer shows them:
    dicts of ``name``, ``state`` (``uploading``, ``processing`` or
    ``failed``), ``text``, and whether the ``retry`` and ``dismiss``
    buttons show (bool)."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#uploads .upload'), li => ({"
        "  name: li.querySelector('.upload-name').textContent,"
        "  state: li.dataset.state,"
        "  text: li.querySelector('.upload-state').textContent,"
        "  retry: !li.querySelector('.retry').hidden,"
        "  dismiss: !li.querySelector('.dismiss').hidden}));"
    )
