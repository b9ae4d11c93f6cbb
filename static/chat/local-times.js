// Shows each <time class="activity" datetime="…Z"> of the room list and
// each <time class="local"> of the search results in the reader's own time
// zone; without script the server's UTC text stays.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
  document.querySelectorAll("time.activity[datetime], time.local[datetime]").forEach(function (node) {
    var moment = new Date(node.getAttribute("datetime"));
    if (!isNaN(moment.getTime())) {
      node.title = node.textContent;
      node.textContent = format.format(moment);
    }
  });
}());
