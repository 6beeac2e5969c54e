// att dashboard: live updates and countdowns (no inline script: the CSP forbids it).
//
// Live: one EventSource on /ui/events (att's event stream). A region that wants to follow
// some events says so with data-live="upstream.,invocation" (kind prefixes) and an htmx
// hx-get with hx-trigger="live" and an id; on a matching event it gets a "live" event (at
// most once per 400 ms) and htmx re-fetches it. A region whose fetch is still in flight is
// asked again once that fetch is done: htmx drops a trigger while a request is in flight, and
// the answer in flight may predate the event (regions are swapped whole, so they are kept by
// id, not by element); when the stream (re)opens, every region is fetched once. A list
// #live-events gets each event prepended (as text).
// Countdowns: <time data-until="RFC 3339"> shows "in 12 s" and ticks every second.
(function () {
  "use strict";
  var pending = new Set();
  var timer = null;
  function flush() {
    timer = null;
    var busy = [];
    pending.forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || !window.htmx) { return; }
      if (el.classList.contains("htmx-request")) { busy.push(id); } else { htmx.trigger(el, "live"); }
    });
    pending.clear();
    busy.forEach(function (id) { pending.add(id); });
    if (pending.size) { timer = setTimeout(flush, 400); }
  }
  function onEvent(kind) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var wants = el.getAttribute("data-live").split(",");
      for (var i = 0; i < wants.length; i++) {
        if (el.id && wants[i] && kind.indexOf(wants[i]) === 0) { pending.add(el.id); break; }
      }
    });
    if (pending.size && !timer) { timer = setTimeout(flush, 400); }
  }
  function addToList(ev) {
    var list = document.getElementById("live-events");
    if (!list) { return; }
    var li = document.createElement("li");
    var when = (ev.at || "").replace("T", " ").replace(/\..*$/, "");
    li.textContent = when + "  " + ev.kind + (ev.correlation_id ? "  [" + ev.correlation_id + "]" : "") +
      "  " + JSON.stringify(ev.data).slice(0, 200);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 50) { list.removeChild(list.lastChild); }
  }
  function follow() {
    if (!window.EventSource || !document.querySelector("[data-live], #live-events")) { return; }
    var state = document.getElementById("live-state");
    var source = new EventSource("/ui/events");
    // On each (re)open every region is fetched once more: an event that came between the
    // page's render and the stream's opening (or while it reconnected) was heard by nobody,
    // and a region would show its old state until the next one (a run's page stuck at
    // "running" after the run had ended). Not a region with fields someone may be filling
    // in: what they typed would be swapped away.
    source.onopen = function () {
      if (state) { state.textContent = "live"; }
      document.body.setAttribute("data-live-open", "1");
      document.querySelectorAll("[data-live]").forEach(function (el) {
        if (el.id && !el.querySelector("input:not([type=hidden]), select, textarea")) { pending.add(el.id); }
      });
      if (pending.size && !timer) { timer = setTimeout(flush, 400); }
    };
    source.onerror = function () { if (state) { state.textContent = "reconnecting…"; } };
    source.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      addToList(ev);
      onEvent(ev.kind || "");
    };
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-until]").forEach(function (t) {
      var left = Math.round((Date.parse(t.getAttribute("data-until")) - now) / 1000);
      t.textContent = left > 0 ? "in " + left + " s" : "now";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    follow();
    setInterval(tick, 1000);
  });
})();
