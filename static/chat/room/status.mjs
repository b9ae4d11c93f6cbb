// The room's two lines of news: the connection's status ("Connected",
// "Disconnected; reconnecting in 3 s…") and the last error, shown until
// cleared (a refused frame, an upload the server turned down). An error
// tied to the connection (what a socket answered, or that there is no
// socket) is cleared when a new socket opens: it no longer holds.

export class Status {
  // `statusLine` and `errorLine`: the page's #status and #error elements.
  constructor(statusLine, errorLine) {
    this.statusLine = statusLine;
    this.errorLine = errorLine;
    // Whether the error shown is tied to the connection.
    this.aboutConnection = false;
  }

  set(text) {
    this.statusLine.textContent = text;
  }

  // Show `text` on the error line; `connection`: whether it is tied to the
  // connection, and so goes when a new socket opens.
  showError(text, {connection = false} = {}) {
    this.errorLine.textContent = text;
    this.errorLine.hidden = false;
    this.aboutConnection = connection;
  }

  clearError() {
    this.errorLine.textContent = "";
    this.errorLine.hidden = true;
    this.aboutConnection = false;
  }

  // A new socket has opened: an error about the last one goes.
  connected() {
    if (this.aboutConnection) {
      this.clearError();
    }
  }
}
