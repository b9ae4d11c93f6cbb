// Images: attach, paste or drop one to send it.
//
// POST /<label>/upload/ stores the image and queues the job that makes its
// thumbnail; the page then polls the job's status until it is done (the
// image's message arrives like any other, over the socket) or has failed
// (shown beside the composer, with Retry when the job allows it).

import {safeUrl} from "./render.mjs";

// Polling a job's status: every POLL_MIN_MS at first, backing off to POLL_MAX_MS.
const POLL_MIN_MS = 1000;
const POLL_MAX_MS = 5000;

// The body of an answer as JSON, or null when it is not JSON.
function answerJson(response) {
  return response.json().catch(() => null);
}

// POST `body` (a FormData) to `url` with XMLHttpRequest, which, unlike
// fetch, reports how much of a request body has gone: calls
// onProgress(fraction sent, 0 to 1) as the browser sends it, with
// `csrfToken` in X-CSRFToken. Resolves to {ok, status, body}, the answer's
// body parsed as JSON (null when it is not JSON); rejects when no answer
// comes (network error or abort).
function postWithProgress(url, body, csrfToken, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", csrfToken);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) {
        onProgress(Math.min(event.loaded / event.total, 1));
      }
    });
    request.addEventListener("load", () => {
      let answer = null;
      try {
        answer = JSON.parse(request.responseText);
      } catch (error) {
        answer = null;
      }
      resolve({
        ok: request.status >= 200 && request.status < 300,
        status: request.status,
        body: answer
      });
    });
    request.addEventListener("error", reject);
    request.addEventListener("abort", reject);
    request.send(body);
  });
}

function refusal(response, body) {
  if (body && typeof body.detail === "string" && body.detail) {
    return body.detail;
  }
  if (response.status === 413) {
    return "That file is too large to send.";
  }
  return "The image could not be sent (HTTP " + response.status + ").";
}

function isImage(file) {
  return Boolean(file) && /^image\//.test(file.type || "");
}

function carriesFiles(event) {
  return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types).indexOf("Files") >= 0;
}

// One image being sent, shown beside the composer while its job runs.
class Upload {
  // `file`: the File; `uploads`: the Uploads it belongs to.
  constructor(file, uploads) {
    this.uploads = uploads;
    this.name = file.name || "image";
    this.statusUrl = null;
    this.timer = null;
    this.delayMs = POLL_MIN_MS;
    this.retryable = false;
    this.item = document.createElement("li");
    this.item.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = this.name;
    this.state = document.createElement("span");
    this.state.className = "upload-state";
    // How much of the file has gone, while it is being sent. The bar and
    // the figure are not text of the live list, so they are not read out
    // at every step; a screen reader finds the bar by its label.
    this.progress = document.createElement("progress");
    this.progress.className = "upload-progress";
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", "Sent of " + this.name);
    this.percent = document.createElement("span");
    this.percent.className = "upload-percent";
    this.percent.setAttribute("aria-hidden", "true");
    this.percent.textContent = "0 %";
    this.retryButton = document.createElement("button");
    this.retryButton.type = "button";
    this.retryButton.className = "retry";
    this.retryButton.textContent = "Retry";
    this.retryButton.hidden = true;
    this.dismissButton = document.createElement("button");
    this.dismissButton.type = "button";
    this.dismissButton.className = "dismiss";
    this.dismissButton.textContent = "Dismiss";
    this.dismissButton.hidden = true;
    this.item.append(
      name, " ", this.state, " ", this.progress, " ", this.percent, " ",
      this.retryButton, " ", this.dismissButton
    );
    this.retryButton.addEventListener("click", () => this.retry());
    this.dismissButton.addEventListener("click", () => {
      this.remove();
      uploads.composer.focus();
    });
    uploads.uploadList.append(this.item);
    uploads.showList();
  }

  show(state, text) {
    this.item.dataset.state = state;
    this.state.textContent = text;
    const failed = state === "failed";
    this.retryButton.hidden = !(failed && this.retryable);
    this.dismissButton.hidden = !failed;
    this.progress.hidden = this.percent.hidden = state !== "uploading";
  }

  // `fraction` (0 to 1) of the file has been sent.
  sent(fraction) {
    const percent = Math.floor(fraction * 100);
    this.progress.value = percent;
    this.percent.textContent = percent + " %";
  }

  remove() {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.uploads.followed.delete(this);
    this.item.remove();
    this.uploads.showList();
  }

  // A 202 from the upload or the retry endpoint: the job is queued.
  queued(body) {
    if (!body || typeof body.status_url !== "string" || !safeUrl(body.status_url) ||
        body.status_url.charAt(0) !== "/") {
      this.fail("The server's answer was not understood.", false);
      return;
    }
    this.statusUrl = body.status_url;
    this.delayMs = POLL_MIN_MS;
    this.uploads.followed.add(this);
    this.update(body);
  }

  // Show a status answer ({"status", "error", "retryable"}) and poll on.
  update(body) {
    const status = body && body.status;
    window.clearTimeout(this.timer);
    this.timer = null;
    if (status === "done") {
      // The message itself comes over the socket, or in the next catch-up.
      this.remove();
    } else if (status === "failed") {
      this.fail(typeof body.error === "string" && body.error ? body.error
        : "Could not process image.", body.retryable === true);
    } else {
      this.show("processing", "Processing image…");
      this.timer = window.setTimeout(() => this.poll(), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 1.5, POLL_MAX_MS);
    }
  }

  fail(text, retryable) {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.retryable = retryable;
    this.show("failed", text);
  }

  poll() {
    window.fetch(this.statusUrl, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then((response) => answerJson(response).then((body) => {
        if (response.ok) {
          this.update(body);
        } else if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          this.fail(refusal(response, body), false);
        } else {
          this.update({status: "processing"});  // the server is busy: ask again later
        }
      }), () => {
        this.update({status: "processing"});  // offline for now: ask again later
      });
  }

  retry() {
    this.retryButton.hidden = true;
    this.show("processing", "Processing image…");
    window.fetch(this.statusUrl + "retry/", {
      method: "POST",
      headers: {Accept: "application/json", "X-CSRFToken": this.uploads.csrfToken()},
      credentials: "same-origin"
    }).then((response) => answerJson(response).then((body) => {
      if (response.ok) {
        this.queued(Object.assign({status_url: this.statusUrl}, body));
      } else if (response.status === 409) {
        // Done or running after all: the status says which.
        this.delayMs = POLL_MIN_MS;
        this.poll();
      } else {
        this.fail(refusal(response, body), true);
      }
    }), () => {
      this.fail("The image could not be sent again; check the connection and retry.", true);
    });
  }
}

export class Uploads {
  // `form`: #chatform, whose data-upload-url is where images go and which
  // takes pasted and dropped ones. `attachButton`: #attach; `imageInput`:
  // #image-input; `uploadList`: #uploads. `composer`: the Composer (its
  // text is the first image's caption). `status`: the page's Status.
  // `pane`: the Pane, taken to the newest message on sending.
  constructor({form, attachButton, imageInput, uploadList, composer, status, pane}) {
    this.form = form;
    this.uploadUrl = form.dataset.uploadUrl;
    this.uploadList = uploadList;
    this.composer = composer;
    this.status = status;
    this.pane = pane;
    // The images whose jobs are being followed.
    this.followed = new Set();

    attachButton.addEventListener("click", () => {
      imageInput.click();
    });

    imageInput.addEventListener("change", () => {
      const files = Array.from(imageInput.files);
      // Cleared, so that picking the same file again still sends it.
      imageInput.value = "";
      this.sendImages(files);
    });

    // A pasted image is sent; pasted text is typed as usual.
    form.addEventListener("paste", (event) => {
      const files = Array.from((event.clipboardData && event.clipboardData.files) || [])
        .filter(isImage);
      if (files.length) {
        event.preventDefault();
        this.sendImages(files);
      }
    });

    form.addEventListener("dragover", (event) => {
      if (carriesFiles(event)) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        form.classList.add("dropping");
      }
    });

    form.addEventListener("dragleave", (event) => {
      if (!form.contains(event.relatedTarget)) {
        form.classList.remove("dropping");
      }
    });

    form.addEventListener("drop", (event) => {
      form.classList.remove("dropping");
      if (!carriesFiles(event)) {
        return;
      }
      event.preventDefault();
      const files = Array.from(event.dataTransfer.files);
      const images = files.filter(isImage);
      if (images.length) {
        this.sendImages(images);
      } else if (files.length) {
        this.status.showError("Only images can be sent.");
      }
    });

    // A file dropped beside the composer would make the browser leave the
    // room to open it: refuse the drop there instead.
    ["dragover", "drop"].forEach((type) => {
      window.addEventListener(type, (event) => {
        if (carriesFiles(event) && !form.contains(event.target)) {
          event.preventDefault();
          if (event.type === "dragover") {
            event.dataTransfer.dropEffect = "none";
          }
        }
      });
    });
  }

  // The CSRF token: from the composer's own hidden field, else the cookie.
  csrfToken() {
    const field = this.form.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) {
      return field.value;
    }
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  showList() {
    this.uploadList.hidden = !this.uploadList.firstElementChild;
  }

  // An image message has arrived: it may be one of ours, so ask at once
  // rather than at the next poll, to take its item away as it shows.
  imageArrived() {
    this.followed.forEach((upload) => {
      if (upload.timer !== null) {
        window.clearTimeout(upload.timer);
        upload.timer = null;
        upload.poll();
      }
    });
  }

  // Send one image file, with `caption` (str, may be empty) as its message.
  // Resolves to whether the server took it.
  sendImage(file, caption) {
    const upload = new Upload(file, this);
    upload.show("uploading", "Uploading image…");
    const body = new FormData();
    body.append("image", file, upload.name);
    if (caption) {
      body.append("message", caption);
    }
    return postWithProgress(this.uploadUrl, body, this.csrfToken(), (fraction) => upload.sent(fraction))
      .then((response) => {
        if (response.ok) {
          upload.queued(response.body);
          return true;
        }
        upload.remove();
        this.status.showError(refusal(response, response.body));
        return false;
      }, () => {
        upload.remove();
        this.status.showError("The image could not be sent; check the connection and try again.");
        return false;
      });
  }

  // Send the images among `files`; what is typed goes with the first as
  // its caption, and comes back to the composer if that one is refused.
  sendImages(files) {
    files = Array.from(files || []);
    if (!files.length) {
      return;
    }
    const composer = this.composer;
    const messageInput = composer.messageInput;
    this.status.clearError();
    if (!composer.named) {
      composer.askForName("Pick a name first, then send the image again.");
      return;
    }
    const caption = messageInput.value.trim() ? messageInput.value : "";
    messageInput.value = "";
    composer.fit();
    files.forEach((file, index) => {
      this.sendImage(file, index === 0 ? caption : "").then((taken) => {
        if (!taken && index === 0 && caption && !messageInput.value) {
          messageInput.value = caption;
          composer.fit();
        }
      });
    });
    // Whoever sends wants to see it arrive.
    this.pane.showNewest();
  }
}
