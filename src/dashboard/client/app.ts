/**
 * The dashboard's page: the list of Canaries, kept current by the server's event stream (no
 * polling), and the page of one Canary (detail.ts). Plain DOM: one table row per Canary, replaced
 * when that Canary changes, so an update costs one row whatever the number of Canaries. Every value
 * goes in as text (textContent), never as HTML.
 */

import { renderDetail, rowChanged } from "./detail.ts";
import { checkList, h, phaseBadge, type Row, rows, since, trafficBar } from "./parts.ts";

const main = document.getElementById("main") as HTMLElement;
const connection = document.getElementById("connection") as HTMLElement;

const rendered = new Map<string, HTMLTableRowElement>();
const filters = { namespace: "", phase: "", text: "" };
let tbody: HTMLTableSectionElement | undefined;
let counter: HTMLElement | undefined;
let firstRender = true;

function listRow(row: Row): HTMLTableRowElement {
  const tr = h(
    "tr",
    { "data-key": row.key },
    h(
      "td",
      {},
      h(
        "a",
        { href: `/canary/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}` },
        row.key,
      ),
    ),
    h("td", {}, phaseBadge(row)),
    h("td", {}, trafficBar(row)),
    h("td", {}, checkList(row.checks)),
    h(
      "td",
      {},
      row.holding.length ? h("ul", { class: "holding" }, ...row.holding.map((x) => h("li", {}, x))) : "-",
    ),
    h("td", { class: "since", "data-since": row.phaseSince ?? "" }, since(row.phaseSince)),
  ) as HTMLTableRowElement;
  tr.hidden = !matches(row);
  return tr;
}

function matches(row: Row): boolean {
  if (filters.namespace && row.namespace !== filters.namespace) return false;
  if (filters.phase && row.phase !== filters.phase) return false;
  const text = filters.text.trim().toLowerCase();
  if (!text) return true;
  return [row.key, row.message, ...row.holding, ...row.checks.map((c) => c.name)].some((s) =>
    s.toLowerCase().includes(text),
  );
}

function select(id: string, label: string, values: string[], current: string): HTMLElement {
  const s = h("select", { id }, h("option", { value: "" }, `every ${label}`)) as HTMLSelectElement;
  for (const v of values) s.append(h("option", { value: v }, v));
  s.value = current;
  return h("label", { for: id }, `${label[0]?.toUpperCase()}${label.slice(1)} `, s);
}

function renderList(): void {
  const sorted = [...rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const namespaces = [...new Set(sorted.map((r) => r.namespace))];
  const phases = [...new Set(sorted.map((r) => r.phase))].sort();
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter Canaries" },
    select("filter-namespace", "namespace", namespaces, filters.namespace),
    select("filter-phase", "phase", phases, filters.phase),
    h(
      "label",
      { for: "filter-text" },
      "Text ",
      h("input", { id: "filter-text", type: "search", value: filters.text }),
    ),
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("input", (e) => {
    const t = e.target as HTMLInputElement;
    if (t.id === "filter-namespace") filters.namespace = t.value;
    if (t.id === "filter-phase") filters.phase = t.value;
    if (t.id === "filter-text") filters.text = t.value;
    applyFilters();
  });
  tbody = h("tbody") as HTMLTableSectionElement;
  rendered.clear();
  appendRows(tbody, sorted.slice(0, FIRST_SCREEN));
  counter = h("p", { id: "count", role: "status" });
  const table = h(
    "table",
    { class: "canaries" },
    h("caption", {}, "Canaries, live"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Canary", "Phase", "Traffic", "Checks (last result)", "Held by", "In phase"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    tbody,
  );
  main.replaceChildren(h("h1", {}, "Canaries"), form, counter, table);
  updateCount();
  void appendRest(tbody, sorted.slice(FIRST_SCREEN));
}

/** Rows a first screen shows; the rest follow in chunks, so a long list shows at once. */
const FIRST_SCREEN = 60;
const CHUNK = 250;

function appendRows(body: HTMLTableSectionElement, list: Row[]): void {
  const fragment = document.createDocumentFragment();
  for (const row of list) {
    const tr = listRow(rows.get(row.key) ?? row);
    rendered.set(row.key, tr);
    fragment.append(tr);
  }
  body.append(fragment);
}

async function appendRest(body: HTMLTableSectionElement, rest: Row[]): Promise<void> {
  for (let i = 0; i < rest.length; i += CHUNK) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (tbody !== body) return; // the page changed meanwhile
    appendRows(
      body,
      rest.slice(i, i + CHUNK).filter((r) => rows.has(r.key)),
    );
    updateCount();
  }
  // Canaries added while the chunks were being drawn.
  patchList(
    [...rows.values()].filter((r) => !rendered.has(r.key)),
    [],
  );
}

function applyFilters(): void {
  for (const [key, tr] of rendered) tr.hidden = !matches(rows.get(key) as Row);
  updateCount();
}

function updateCount(): void {
  if (!counter) return;
  const shown = [...rendered.values()].filter((tr) => !tr.hidden).length;
  counter.textContent = `${shown} of ${rows.size} Canaries shown`;
}

/** One changed Canary: its row replaced (or added in order, or removed), nothing else touched. */
function patchList(upsert: Row[], remove: string[]): void {
  if (!tbody) return;
  for (const key of remove) {
    rendered.get(key)?.remove();
    rendered.delete(key);
  }
  for (const row of upsert) {
    const tr = listRow(row);
    const old = rendered.get(row.key);
    if (old) old.replaceWith(tr);
    else {
      const next = [...rendered.keys()].sort().find((k) => k > row.key);
      tbody.insertBefore(tr, next ? (rendered.get(next) as HTMLTableRowElement) : null);
    }
    rendered.set(row.key, tr);
  }
  updateCount();
}

function route(): void {
  const m = /^\/canary\/([^/]+)\/([^/]+)$/.exec(location.pathname);
  if (m) {
    tbody = undefined;
    counter = undefined;
    void renderDetail(main, decodeURIComponent(m[1] as string), decodeURIComponent(m[2] as string));
  } else if (rows.size > 0 || !firstRender) {
    renderList();
  }
}

function connect(): void {
  const source = new EventSource("/api/live");
  source.addEventListener("open", () => {
    connection.textContent = "live";
  });
  source.addEventListener("error", () => {
    connection.textContent = "reconnecting…";
  });
  source.addEventListener("snapshot", (e) => {
    const start = performance.now();
    rows.clear();
    for (const row of (JSON.parse((e as MessageEvent).data) as { rows: Row[] }).rows) rows.set(row.key, row);
    if (!location.pathname.startsWith("/canary/")) renderList();
    // A Canary page opened before the server had seen its Canary shows it now.
    else for (const row of rows.values()) rowChanged(row);
    if (firstRender) {
      firstRender = false;
      performance.mark("kanaria:first-render", { detail: { rows: rows.size } });
      performance.measure("kanaria:snapshot", { start, detail: { rows: rows.size } });
    }
    connection.textContent = "live";
  });
  source.addEventListener("rows", (e) => {
    const start = performance.now();
    const data = JSON.parse((e as MessageEvent).data) as { upsert: Row[]; remove: string[] };
    for (const key of data.remove) rows.delete(key);
    for (const row of data.upsert) rows.set(row.key, row);
    patchList(data.upsert, data.remove);
    for (const row of data.upsert) rowChanged(row);
    performance.measure("kanaria:update", { start, detail: { keys: data.upsert.map((r) => r.key) } });
  });
}

// Links inside the page change the view without reloading (the stream stays open).
document.addEventListener("click", (e) => {
  const a = (e.target as Element).closest?.("a");
  if (!a || a.origin !== location.origin || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  history.pushState(null, "", a.pathname);
  route();
  main.focus();
});
window.addEventListener("popstate", route);
setInterval(() => {
  for (const cell of document.querySelectorAll<HTMLElement>("td.since"))
    cell.textContent = since(cell.dataset.since || undefined);
}, 1000);

connect();
route();
