"""Images in messages on the room page, in headless Chromium: attached,
pasted or dropped in one page, shown in every page of the room and after a
reload, refused with the server's reason, and a failed job retried."""

import io
import os

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from bench.chat_client import unique_label
from tests.browser.pages import (
    attach_image,
    fits_the_width,
    make_private,
    open_room,
    pick_guest_name,
    shown_images,
    shown_texts,
    sign_up,
    unique_name,
    upload_items,
    wait_for_loaded_images,
    wait_until,
    wait_until_connected,
    write_png,
)
from tests.browser.test_room_page import hand_frame, open_room_keeping_sockets

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Records what the page asks of the upload endpoints in window.uploadRequests
# ({path, method, csrf, fields}, and for a POST with a body `progress`, the
# fractions sent that the browser reported), whether by fetch or by
# XMLHttpRequest, then lets the request through to the server. With
# window.fakeUploads set, answers it instead, from window.fakeJob ({status,
# retryable, error}), as a server whose job is in that state would; a faked
# upload reports 40 % sent first and, with window.holdUploads set, waits
# there until window.finishUpload() is called.
RECORD_UPLOADS = """
window.uploadRequests = [];
window.fakeUploads = false;
window.holdUploads = false;
window.fakeJob = {status: "processing", retryable: false};

function isUpload(path) {
  return path.indexOf("/upload/") >= 0;
}

// What a server whose job is in window.fakeJob's state answers: {status, body}.
function fakeAnswer(path) {
  var label = window.location.pathname.split("/")[1];
  var statusUrl = "/" + label + "/upload/6f1c4a/";
  if (path === "/" + label + "/upload/") {
    return {status: 202, body: {id: "6f1c4a", status: "pending", status_url: statusUrl}};
  }
  if (path === statusUrl + "retry/") {
    window.fakeJob = {status: "pending", retryable: false};
    return {status: 202, body: {id: "6f1c4a", status: "pending", retryable: false}};
  }
  var body = {id: "6f1c4a", status: window.fakeJob.status, retryable: window.fakeJob.retryable};
  if (window.fakeJob.error) {
    body.error = window.fakeJob.error;
  }
  return {status: 200, body: body};
}

var realFetch = window.fetch;
window.fetch = function (resource, init) {
  init = init || {};
  var path = new URL(String(resource), window.location.href).pathname;
  if (!isUpload(path)) {
    return realFetch.apply(this, arguments);
  }
  var headers = init.headers || {};
  window.uploadRequests.push({
    path: path,
    method: init.method || "GET",
    csrf: headers["X-CSRFToken"] || null,
    fields: init.body instanceof FormData ? Array.from(init.body.keys()) : null
  });
  if (!window.fakeUploads) {
    return realFetch.apply(this, arguments);
  }
  var answer = fakeAnswer(path);
  return Promise.resolve(new Response(JSON.stringify(answer.body), {
    status: answer.status, headers: {"Content-Type": "application/json"}
  }));
};

var xhr = XMLHttpRequest.prototype;
var realOpen = xhr.open, realHeader = xhr.setRequestHeader, realSend = xhr.send;
xhr.open = function (method, url) {
  this.recorded = {
    path: new URL(String(url), window.location.href).pathname,
    method: method, csrf: null, fields: null, progress: []
  };
  return realOpen.apply(this, arguments);
};
xhr.setRequestHeader = function (name, value) {
  if (this.recorded && name === "X-CSRFToken") {
    this.recorded.csrf = value;
  }
  return realHeader.apply(this, arguments);
};
xhr.send = function (body) {
  var recorded = this.recorded;
  if (!recorded || !isUpload(recorded.path)) {
    return realSend.apply(this, arguments);
  }
  recorded.fields = body instanceof FormData ? Array.from(body.keys()) : null;
  window.uploadRequests.push(recorded);
  this.upload.addEventListener("progress", function (event) {
    if (event.lengthComputable) {
      recorded.progress.push(event.loaded / event.total);
    }
  });
  if (!window.fakeUploads) {
    return realSend.apply(this, arguments);
  }
  var request = this;
  var answer = fakeAnswer(recorded.path);
  request.upload.dispatchEvent(
    new ProgressEvent("progress", {lengthComputable: true, loaded: 40, total: 100}));
  window.finishUpload = function () {
    request.upload.dispatchEvent(
      new ProgressEvent("progress", {lengthComputable: true, loaded: 100, total: 100}));
    Object.defineProperty(request, "status", {value: answer.status});
    Object.defineProperty(request, "responseText", {value: JSON.stringify(answer.body)});
    request.dispatchEvent(new ProgressEvent("load"));
  };
  if (!window.holdUploads) {
    setTimeout(window.finishUpload, 0);
  }
};
"""

# Makes a PNG in the page (a canvas) and hands it to the composer as a
# paste ("paste") or a drag and drop ("drop"), as the browser would.
HAND_IMAGE = """
var kind = arguments[0], name = arguments[1], done = arguments[arguments.length - 1];
var canvas = document.createElement("canvas");
canvas.width = 300;
canvas.height = 200;
var g = canvas.getContext("2d");
g.fillStyle = "#1f5fbf";
g.fillRect(0, 0, 300, 200);
g.fillStyle = "#ffd666";
g.fillRect(100, 50, 100, 100);
canvas.toBlob(function (blob) {
  var data = new DataTransfer();
  data.items.add(new File([blob], name, {type: "image/png"}));
  var target = document.getElementById("message");
  var init = {bubbles: true, cancelable: true};
  if (kind === "paste") {
    target.dispatchEvent(new ClipboardEvent("paste", Object.assign({clipboardData: data}, init)));
  } else {
    target.dispatchEvent(new DragEvent("dragover", Object.assign({dataTransfer: data}, init)));
    target.dispatchEvent(new DragEvent("drop", Object.assign({dataTransfer: data}, init)));
  }
  done();
}, "image/png");
"""


def open_room_recording_uploads(browser, split, label, fake=False, name=None, **size):
    """A new browser on room ``label``'s page, recording its uploads
    (``RECORD_UPLOADS``, answered by the page itself with ``fake``), with
    the guest name ``name`` picked unless it is None."""
    page = browser(**size)
    page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_UPLOADS})
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    if name is not None:
        pick_guest_name(page, name)
    if fake:
        page.execute_script("window.fakeUploads = true;")
    return page


def upload_requests(page):
    """What the page asked of the upload endpoints (list of dict)."""
    return page.execute_script("return window.uploadRequests;")


def csrf_field(page):
    return page.find_element(
        By.CSS_SELECTOR, "#chatform input[name=csrfmiddlewaretoken]"
    ).get_attribute("value")


def fetch_status(page, url):
    """The status (int) and Content-Type (str) with which ``url`` answers
    the page."""
    return page.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done([r.status, r.headers.get('Content-Type')]),"
        " () => done([0, '']));",
        url,
    )


def error_shown(page):
    """The text of the page's error line once it shows, else None."""
    error = page.find_element(By.ID, "error")
    return error.text if error.is_displayed() and error.text else None


def test_an_attached_image_appears_in_both_pages_and_after_a_reload(browser, split, tmp_path):
    label = unique_label("image")
    ann_name = unique_name("ann")
    ann = open_room_recording_uploads(browser, split, label, name=ann_name)
    bob = open_room(browser, split, label)
    picture = write_png(tmp_path / "harbour.png", 640, 320)

    ann.find_element(By.ID, "message").send_keys("the harbour at dawn")
    attach_image(ann, picture)

    for page in (ann, bob):
        (image,) = wait_for_loaded_images(page, 1)
        assert image["alt"] == "the harbour at dawn"
        assert image["text"] == "the harbour at dawn"
        assert image["loading"] == "lazy"
        assert image["src"].startswith("/media/uploads/thumbnails/")
        assert image["href"].startswith("/media/uploads/")
        # The thumbnail's size, at most 480 px on its long side, as 640 × 320 is.
        width, height = int(image["width"]), int(image["height"])
        assert 0 < width <= 480 and abs(width - 2 * height) <= 2
        handles = [h.text for h in page.find_elements(By.CSS_SELECTOR, "#messages .handle")]
        assert handles == [ann_name]
    assert fetch_status(bob, image["href"]) == [200, "image/png"]
    # The caption was taken from the composer, and the job's item has gone.
    assert ann.find_element(By.ID, "message").get_attribute("value") == ""
    wait_until(ann, lambda driver: upload_items(driver) == [])
    assert not ann.find_element(By.ID, "uploads").is_displayed()
    # The sender is the page's guest, named by the server, not by a field;
    # the token came from the page's form.
    (sent,) = [r for r in upload_requests(ann) if r["method"] == "POST"]
    assert sent["path"] == "/%s/upload/" % label
    assert sorted(sent["fields"]) == ["image", "message"]
    assert sent["csrf"] and sent["csrf"] == csrf_field(ann)
    # The browser reported the file's progress as it went, up to all of it.
    assert sent["progress"] and sent["progress"][-1] == 1

    bob.refresh()
    wait_until_connected(bob)
    (again,) = wait_for_loaded_images(bob, 1)
    assert again == dict(image, loaded=True)


def test_a_private_rooms_image_shows_to_its_members_and_to_nobody_else(
    browser, split, split_env, tmp_path
):
    label = unique_label("private")
    member = browser()
    name = unique_name("member")
    sign_up(member, split, name)
    make_private(dict(os.environ, **split_env), label, members=[name])
    member.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(member)

    attach_image(member, write_png(tmp_path / "plans.png"))

    (image,) = wait_for_loaded_images(member, 1)
    # Served by the chat, to the member's session.
    assert image["src"].startswith("/media/uploads/thumbnails/")
    assert fetch_status(member, image["href"]) == [200, "image/png"]
    # A page without an account, on the same site, is told of no such file.
    stranger = browser()
    stranger.get(split.base_url + "/")
    assert fetch_status(stranger, image["src"])[0] == 404
    assert fetch_status(stranger, image["href"])[0] == 404


def test_a_file_that_is_not_an_image_is_refused_with_the_servers_reason(browser, split, tmp_path):
    page = open_room(browser, split, unique_label("notimage"))
    fake = tmp_path / "notes.png"
    fake.write_text("These are notes, not a picture.\n" * 20)

    # A name of its own: its uploads count against its session's rate limit,
    # not against the address that every anonymous page here shares.
    pick_guest_name(page, unique_name("ann"))
    page.find_element(By.ID, "message").send_keys("my notes")
    attach_image(page, fake)

    reason = wait_until(page, error_shown)
    # The server's sentence, not the page's fallback naming an HTTP status.
    assert "HTTP" not in reason
    assert page.find_element(By.ID, "error").get_attribute("role") == "alert"
    assert upload_items(page) == []
    # The caption comes back to the composer, to go with a better file.
    assert page.find_element(By.ID, "message").get_attribute("value") == "my notes"
    assert shown_texts(page) == []


def test_pasted_and_dropped_images_are_sent_from_a_page_with_a_name(browser, split):
    label = unique_label("paste")
    name = unique_name("gwen")
    page = open_room_recording_uploads(browser, split, label)
    pick_guest_name(page, name)

    page.execute_async_script(HAND_IMAGE, "paste", "pasted.png")
    (pasted,) = wait_for_loaded_images(page, 1)
    page.execute_async_script(HAND_IMAGE, "drop", "dropped.png")
    images = wait_for_loaded_images(page, 2)

    # Without a caption, the message is the file's name.
    assert [image["text"] for image in images] == ["pasted.png", "dropped.png"]
    # The second continues the first's group: its name is there, but not shown.
    handles = [
        h.get_attribute("textContent")
        for h in page.find_elements(By.CSS_SELECTOR, "#messages .handle")
    ]
    assert handles == [name, name]
    # A page with a name of its own sends no handle, and no empty caption.
    posts = [r for r in upload_requests(page) if r["method"] == "POST"]
    assert [sorted(r["fields"]) for r in posts] == [["image"], ["image"]]
    assert all(r["csrf"] == csrf_field(page) for r in posts)


def upload_progress(page):
    """The progress shown for each image being sent: a list of ``(bar
    shown, bar value, figure shown, figure text)``."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#uploads .upload'), li => {"
        "  var bar = li.querySelector('progress'), figure = li.querySelector('.upload-percent');"
        "  return [bar.offsetParent !== null, bar.value, figure.offsetParent !== null,"
        "          figure.textContent];"
        "});"
    )


def test_an_image_being_sent_shows_how_much_has_gone(browser, split, tmp_path):
    page = open_room_recording_uploads(
        browser, split, unique_label("progress"), fake=True, name=unique_name("ann")
    )
    page.execute_script("window.holdUploads = true;")

    attach_image(page, write_png(tmp_path / "mountain.png"))

    # The browser has sent 40 % of the file, and the server has not answered.
    wait_until(page, lambda driver: upload_progress(driver) == [[True, 40, True, "40 %"]])
    (item,) = upload_items(page)
    assert (item["state"], item["text"]) == ("uploading", "Uploading image…")
    bar = page.find_element(By.CSS_SELECTOR, "#uploads progress")
    assert bar.get_attribute("aria-label") == "Sent of mountain.png"
    assert (
        page.find_element(By.CSS_SELECTOR, "#uploads .upload-percent").get_attribute("aria-hidden")
        == "true"
    )

    page.execute_script("window.finishUpload();")

    # All of it has gone and the job is queued: the bar gives way to the job's state.
    wait_until(page, lambda driver: upload_items(driver)[0]["state"] == "processing")
    assert upload_progress(page) == [[False, 100, False, "100 %"]]


def test_a_failed_job_is_shown_with_the_servers_reason_and_can_be_retried(browser, split, tmp_path):
    page = open_room_recording_uploads(
        browser, split, unique_label("retry"), fake=True, name=unique_name("ann")
    )

    attach_image(page, write_png(tmp_path / "sunset.png"))

    wait_until(
        page,
        lambda driver: (
            upload_items(driver)
            == [
                {
                    "name": "sunset.png",
                    "state": "processing",
                    "text": "Processing image…",
                    "retry": False,
                    "dismiss": False,
                }
            ]
        ),
    )
    page.execute_script(
        "window.fakeJob = {status: 'failed', retryable: true, error: 'Could not process image.'};"
    )
    wait_until(page, lambda driver: upload_items(driver)[0]["state"] == "failed")
    assert upload_items(page) == [
        {
            "name": "sunset.png",
            "state": "failed",
            "text": "Could not process image.",
            "retry": True,
            "dismiss": True,
        }
    ]

    page.find_element(By.CSS_SELECTOR, "#uploads .retry").click()

    wait_until(page, lambda driver: upload_items(driver)[0]["state"] == "processing")
    retries = [r for r in upload_requests(page) if r["path"].endswith("/retry/")]
    assert retries == [
        {
            "path": "/%s/upload/6f1c4a/retry/" % page.current_url.split("/")[3],
            "method": "POST",
            "csrf": csrf_field(page),
            "fields": None,
        }
    ]
    page.execute_script("window.fakeJob = {status: 'done', retryable: false};")
    wait_until(page, lambda driver: upload_items(driver) == [])
    assert not page.find_element(By.ID, "uploads").is_displayed()


def test_a_broken_image_fails_in_its_job_and_a_retry_asks_the_server_again(
    browser, split, tmp_path
):
    page = open_room_recording_uploads(browser, split, unique_label("broken"))
    # A JPEG cut short: its header passes the upload's checks, but its
    # pixels cannot be decoded, so the job itself fails.
    whole = io.BytesIO()
    Image.effect_noise((800, 600), 80).convert("RGB").save(whole, format="JPEG", quality=90)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 3])
    # A name of its own: its uploads count against its session's rate limit,
    # not against the address that every anonymous page here shares.
    pick_guest_name(page, unique_name("ann"))

    attach_image(page, broken)

    def failed(driver):
        items = upload_items(driver)
        return items[0] if items and items[0]["state"] == "failed" else None

    item = wait_until(page, failed)
    assert item["name"] == "broken.jpg"
    assert item["text"] and item["retry"] and item["dismiss"]
    page.find_element(By.CSS_SELECTOR, "#uploads .retry").click()

    def asked_again(driver):
        paths = [r["path"] for r in upload_requests(driver)]
        retried = [n for n, path in enumerate(paths) if path.endswith("/retry/")]
        return retried and len(paths) > retried[0] + 1 and failed(driver)

    wait_until(page, asked_again)
    (retry,) = [r for r in upload_requests(page) if r["path"].endswith("/retry/")]
    assert retry["method"] == "POST" and retry["csrf"] == csrf_field(page)
    assert shown_texts(page) == []


def test_a_job_that_cannot_be_retried_offers_only_to_dismiss_it(browser, split, tmp_path):
    page = open_room_recording_uploads(
        browser, split, unique_label("noretry"), fake=True, name=unique_name("ann")
    )
    page.execute_script(
        "window.fakeJob = {status: 'failed', retryable: false, error: 'Could not process image.'};"
    )

    attach_image(page, write_png(tmp_path / "broken.png"))

    wait_until(page, lambda driver: [i["state"] for i in upload_items(driver)] == ["failed"])
    (item,) = upload_items(page)
    assert (item["retry"], item["dismiss"]) == (False, True)
    page.find_element(By.CSS_SELECTOR, "#uploads .dismiss").click()
    wait_until(page, lambda driver: upload_items(driver) == [])
    assert page.switch_to.active_element == page.find_element(By.ID, "message")


def test_an_anonymous_page_asks_for_a_name_before_sending_an_image(browser, split, tmp_path):
    page = open_room_recording_uploads(browser, split, unique_label("noname"))

    attach_image(page, write_png(tmp_path / "nameless.png"))

    wait_until(page, expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "Pick a name" in page.find_element(By.ID, "error").text
    assert page.switch_to.active_element == page.find_element(
        By.CSS_SELECTOR, "#guestform input[name=name]"
    )
    assert upload_requests(page) == []


IMAGE = {"url": "/media/uploads/a.png", "thumbnail_url": "/media/uploads/thumbnails/a.png"}


def image_frame(n, message, **image):
    return {
        "type": "message",
        "id": 10**9 + n,
        "seq": n,
        "timestamp": "2026-11-30T12:00:00Z",
        "handle": "ann",
        "message": message,
        "image": dict(IMAGE, width=240, height=120, **image),
    }


def test_image_addresses_other_than_paths_and_https_are_never_shown(browser, split):
    page = open_room_keeping_sockets(browser, split, unique_label("imageurls"))
    attack = "<img src=x onerror=\"document.body.dataset.pwned='yes'\">"

    hand_frame(page, image_frame(1, "script", url="javascript:alert(1)"))
    hand_frame(page, image_frame(2, "data", thumbnail_url="data:image/png;base64,AAAA"))
    hand_frame(page, image_frame(3, "elsewhere", thumbnail_url="//evil.example/a.png"))
    hand_frame(page, image_frame(4, "plain http", url="http://evil.example/a.png"))
    hand_frame(page, image_frame(5, attack))
    hand_frame(page, image_frame(6, "cdn", url="https://cdn.example/a.png"))

    # Shown once the page's first catch-up, which holds frames back, is done.
    texts = ["script", "data", "elsewhere", "plain http", attack, "cdn"]
    wait_until(page, lambda driver: shown_texts(driver) == texts)
    images = shown_images(page)
    assert [(i["text"], i["href"]) for i in images] == [
        (attack, "/media/uploads/a.png"),
        ("cdn", "https://cdn.example/a.png"),
    ]
    assert images[0]["alt"] == attack
    assert (images[0]["width"], images[0]["height"]) == ("240", "120")
    assert page.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None


@pytest.mark.parametrize("width", [360, 1400])
def test_a_large_image_fits_the_column_and_the_composer_fits_the_window(
    browser, split, tmp_path, width
):
    label = unique_label("fit")
    page = open_room(browser, split, label, width=width, height=760)
    # A name of its own: its uploads count against its session's rate limit,
    # not against the address that every anonymous page here shares.
    pick_guest_name(page, unique_name("ann"))

    attach_image(page, write_png(tmp_path / "wide.png", 1600, 1000))

    wait_for_loaded_images(page, 1)
    box = page.execute_script(
        "var img = document.querySelector('#messages a.image img').getBoundingClientRect();"
        "var list = document.getElementById('messages').getBoundingClientRect();"
        "var attach = document.getElementById('attach').getBoundingClientRect();"
        "var send = document.querySelector('#chatform .send').getBoundingClientRect();"
        "var text = document.getElementById('message').getBoundingClientRect();"
        "return {img: [img.left, img.right, img.width, img.height],"
        " list: [list.left, list.right], attach: [attach.bottom, attach.right, attach.width],"
        " send: [send.bottom, send.right], text: [text.top, text.bottom]};"
    )
    assert fits_the_width(page)
    img_left, img_right, img_width, img_height = box["img"]
    assert box["list"][0] <= img_left and img_right <= box["list"][1]
    # Shrunk to the column or not, it keeps its shape (1600 × 1000).
    assert abs(img_width / img_height - 1.6) < 0.05
    # The Attach button sits beside Send, on the message field's row, inside the window.
    assert abs(box["attach"][0] - box["send"][0]) <= 1
    assert box["text"][0] < box["attach"][0] <= box["text"][1] + 1
    assert box["send"][1] <= width and box["attach"][2] >= 40
