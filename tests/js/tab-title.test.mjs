// The tab's title while the page is hidden (static/chat/room/tab-title.mjs),
// imported as the server serves it, on a stand-in for the document. Run by
// tests/test_js.py, or `node --test tests/js/`.

import assert from "node:assert/strict";
import {describe, test} from "node:test";

import {TabTitle, titleWithUnread} from "../../static/chat/room/tab-title.mjs";

// A document with a title, a visibility state and its visibilitychange event.
class FakeDocument extends EventTarget {
  constructor(title) {
    super();
    this.title = title;
    this.visibilityState = "visible";
  }

  show(state) {
    this.visibilityState = state;
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

function page({following = true} = {}) {
  const doc = new FakeDocument("lobby · Chat");
  const pane = {following};
  const title = new TabTitle({doc, isSeen: () => pane.following});
  return {doc, pane, title};
}

describe("the title", () => {
  test("puts the count before the room's title", () => {
    assert.equal(titleWithUnread("lobby · Chat", 3), "(3) lobby · Chat");
    assert.equal(titleWithUnread("lobby · Chat", 0), "lobby · Chat");
  });

  test("counts what arrives while the tab is hidden", () => {
    const {doc, title} = page();
    doc.show("hidden");
    title.arrived();
    title.arrived();
    title.arrived();
    assert.equal(doc.title, "(3) lobby · Chat");
  });

  test("counts nothing while the tab is visible", () => {
    const {doc, title} = page();
    title.arrived();
    assert.equal(doc.title, "lobby · Chat");
  });

  test("is plain again once the tab is visible at the newest message", () => {
    const {doc, title} = page();
    doc.show("hidden");
    title.arrived();
    doc.show("visible");
    assert.equal(doc.title, "lobby · Chat");
    // And counts afresh the next time.
    doc.show("hidden");
    title.arrived();
    assert.equal(doc.title, "(1) lobby · Chat");
  });

  test("keeps the count until a reader scrolled up has seen the messages", () => {
    const {doc, pane, title} = page({following: false});
    doc.show("hidden");
    title.arrived();
    title.arrived();
    doc.show("visible");
    assert.equal(doc.title, "(2) lobby · Chat");
    title.seen();
    assert.equal(doc.title, "(2) lobby · Chat");
    pane.following = true;
    title.seen();
    assert.equal(doc.title, "lobby · Chat");
  });

  test("keeps the count while the tab stays hidden, whatever scrolls", () => {
    const {doc, title} = page();
    doc.show("hidden");
    title.arrived();
    title.seen();
    assert.equal(doc.title, "(1) lobby · Chat");
  });
});
