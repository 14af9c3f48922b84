/**
 * The browser half of live updates, served as `/assets/live.js`: one EventSource on the console's
 * `/events` stream; each `run` event marks its run, and at most every 200 ms every element whose
 * `data-live-on` names that run (or `*`) gets the htmx event `jetflow-event`, which its
 * `hx-trigger` turns into a re-fetch. Bursts (a stage ending, the next starting) become one fetch,
 * and the last event of a burst is never dropped. EventSource reconnects by itself; the pages'
 * slow `every` poll covers the gaps. `<body data-live>` says whether the stream is open.
 */
export const LIVE_SCRIPT = `(() => {
  const src = document.body.getAttribute("data-live-events");
  if (!src || !window.EventSource) return;
  const es = new EventSource(src);
  const pending = new Set();
  let timer = null;
  const flush = () => {
    timer = null;
    const ids = new Set(pending);
    pending.clear();
    for (const el of document.querySelectorAll("[data-live-on]")) {
      const on = el.getAttribute("data-live-on");
      if (on === "*" || ids.has(on)) window.htmx.trigger(el, "jetflow-event");
    }
  };
  es.addEventListener("run", (m) => {
    let notice;
    try { notice = JSON.parse(m.data); } catch (err) { console.warn("jetflow console: bad live event", err); return; }
    pending.add(notice.runId);
    if (timer === null) timer = setTimeout(flush, 200);
  });
  es.addEventListener("open", () => { document.body.dataset.live = "on"; });
  es.addEventListener("error", () => { document.body.dataset.live = "off"; });
})();
`;
