// The room's two lines of news: the connection's status ("Connected",
// "Disconnected; reconnecting in 3 s…") and the last error, shown until
// cleared (a refused frame, an upload the server turned down).

export class Status {
  // `statusLine` and `errorLine`: the page's #status and #error elements.
  constructor(statusLine, errorLine) {
    this.statusLine = statusLine;
    this.errorLine = errorLine;
  }

  set(text) {
    this.statusLine.textContent = text;
  }

  showError(text) {
    this.errorLine.textContent = text;
    this.errorLine.hidden = false;
  }

  clearError() {
    this.errorLine.textContent = "";
    this.errorLine.hidden = true;
  }
}
