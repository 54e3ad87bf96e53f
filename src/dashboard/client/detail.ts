/**
 * The page of one Canary: actions, the current release as charts (weight over time, each metric
 * against its threshold band), workloads, webhook answers, alerts, Events and past releases. It is
 * fetched again whenever the live stream reports a change to this Canary.
 */
import type { CanaryDetail as Detail } from "../wire.ts";
import { checkList, h, phaseBadge, type Row, rows, since, token, trafficBar } from "./parts.ts";

const SVG = "http://www.w3.org/2000/svg";
let shown: { key: string; container: HTMLElement } | undefined;
/** The request the user made here, until the controller has taken it. */
let pending: { key: string; kind: string; request: string; message: string } | undefined;
let refetch: number | undefined;

export async function renderDetail(container: HTMLElement, namespace: string, name: string): Promise<void> {
  const key = `${namespace}/${name}`;
  shown = { key, container };
  const response = await fetch(`/api/canaries/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  const body = (await response.json()) as Detail | { error: string };
  if (shown?.key !== key) return;
  if ("error" in body) {
    container.replaceChildren(
      h("h1", {}, key),
      h("p", { role: "alert" }, body.error),
      h("a", { href: "/" }, "All Canaries"),
    );
    return;
  }
  const focused = document.activeElement?.id;
  container.replaceChildren(...page(body));
  if (focused) document.getElementById(focused)?.focus();
}

/** Called for every row the stream changes: refreshes this page if it is the one shown. */
export function rowChanged(row: Row): void {
  if (shown?.key !== row.key) return;
  if (pending?.key === row.key && row.acted[pending.kind] === pending.request) {
    pending.message = `The controller took the ${pending.kind} request.`;
  }
  clearTimeout(refetch);
  const [namespace = "", name = ""] = row.key.split("/");
  const container = shown.container;
  refetch = window.setTimeout(() => void renderDetail(container, namespace, name), 50);
}

function page(d: Detail): HTMLElement[] {
  const row = rows.get(d.row.key) ?? d.row;
  return [
    h("p", {}, h("a", { href: "/" }, "← All Canaries")),
    h("h1", {}, row.key),
    h(
      "p",
      { class: "summary" },
      phaseBadge(row),
      " ",
      trafficBar(row),
      ` (promoted after ${row.maxWeight}%), failed checks ${row.failedChecks}/${row.threshold}, in phase ${since(row.phaseSince)}`,
    ),
    ...(row.message ? [h("p", { class: "message" }, row.message)] : []),
    actions(row),
    section("Current release", timeline(d)),
    section("Checks (last result)", checkList(row.checks)),
    section(
      "Held by",
      row.holding.length ? h("ul", {}, ...row.holding.map((x) => h("li", {}, x))) : h("p", {}, "nothing"),
    ),
    section(
      "Workloads",
      table(
        ["Role", "Deployment", "Image", "Revision", "Pods"],
        [d.canary, d.primary].map((w, i) => [
          i === 0 ? "canary" : "primary",
          w?.name ?? "-",
          w?.image ?? "-",
          w?.revision ?? "-",
          w ? `${w.ready}/${w.replicas} ready` : "-",
        ]),
      ),
    ),
    section(
      "Webhooks and gates",
      table(
        ["Webhook", "Type", "Answer", "Message", "Time (UTC)"],
        d.webhooks.map((w) => [
          w.name,
          w.type,
          `${w.result}${w.code ? ` (${w.code})` : ""}`,
          w.message,
          utc(w.time),
        ]),
      ),
    ),
    section(
      "Alerts",
      table(
        ["Alert", "Severity", "Time (UTC)", "Message", "Delivery"],
        d.alerts.map((a) => [
          a.kind,
          a.severity,
          utc(a.time),
          a.message,
          a.deliveries.map((x) => `${x.provider}: ${x.state}${x.error ? ` (${x.error})` : ""}`).join("; ") ||
            "-",
        ]),
      ),
    ),
    section(
      "Last releases",
      table(
        ["Started (UTC)", "Ended (UTC)", "Outcome", "Cause"],
        d.releases.map((r) => [utc(r.started), r.ended ? utc(r.ended) : "-", r.outcome, r.cause ?? "-"]),
      ),
    ),
    section(
      "Events",
      table(
        ["Time (UTC)", "Type", "Reason", "Message"],
        d.events
          .slice()
          .reverse()
          .map((e) => [utc(e.time), e.type, e.reason, `${e.message}${e.count > 1 ? ` (x${e.count})` : ""}`]),
      ),
    ),
  ];
}

function section(title: string, ...content: Node[]): HTMLElement {
  const id = `h-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

function table(head: string[], body: string[][]): HTMLElement {
  if (body.length === 0) return h("p", { class: "muted" }, "none");
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...body.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

/** "15:45:07" in UTC, as every time kanaria prints. */
function utc(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19);
}

const LABELS: Record<string, string> = {
  promote: "Promote",
  abort: "Abort…",
  retry: "Retry",
  resume: "Resume",
};
const EXPLAIN: Record<string, string> = {
  promote: "Answer yes to the confirm-* webhooks of the revision under analysis.",
  abort: "Roll the release under way back now.",
  retry: "Analyse the failed revision again.",
  resume: "Clear spec.suspend.",
};

function actions(row: Row): HTMLElement {
  const status = h(
    "p",
    { id: "action-status", role: "status", "aria-live": "polite" },
    pending?.key === row.key ? pending.message : "",
  );
  const buttons = row.actions.map((kind) => {
    const b = h("button", { type: "button", id: `action-${kind}` }, LABELS[kind] ?? kind);
    b.addEventListener("click", () => confirmAction(row, kind));
    return b;
  });
  return h(
    "div",
    { class: "actions" },
    ...(buttons.length ? buttons : [h("span", { class: "muted" }, "no action possible in this phase")]),
    status,
  );
}

function confirmAction(row: Row, kind: string): void {
  // The page may be redrawn while the request is on its way: always the status line shown now.
  const say = (text: string) => {
    const status = document.getElementById("action-status");
    if (status) status.textContent = text;
  };
  const reason = h("textarea", { id: "abort-reason", required: "", rows: "2" }) as HTMLTextAreaElement;
  const dialog = h(
    "dialog",
    { "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, `${LABELS[kind]?.replace("…", "")} ${row.key}?`),
    h("p", {}, `${EXPLAIN[kind]} Revision ${row.revision ?? "-"}.`),
    ...(kind === "abort"
      ? [h("label", { for: "abort-reason" }, "Reason (goes into the Event)"), reason]
      : []),
  ) as HTMLDialogElement;
  const ok = h("button", { type: "button", id: "confirm-yes" }, `Yes, ${kind}`);
  const cancel = h("button", { type: "button", id: "confirm-no" }, "Cancel");
  dialog.append(h("p", { class: "buttons" }, ok, cancel));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  ok.addEventListener("click", async () => {
    if (kind === "abort" && !reason.value.trim()) {
      reason.focus();
      return;
    }
    dialog.close();
    say(`Sending the ${kind} request…`);
    const response = await fetch(
      `/api/canaries/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}/${kind}`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-kanaria-token": token },
        body: JSON.stringify(kind === "abort" ? { reason: reason.value } : {}),
      },
    );
    const result = (await response.json()) as { message?: string; request?: string; error?: string };
    if (!response.ok) {
      say(`Refused: ${result.error}`);
      return;
    }
    const message = `${result.message}; waiting for the controller to take it.`;
    pending = result.request ? { key: row.key, kind, request: result.request, message } : undefined;
    say(result.request ? message : (result.message ?? ""));
  });
  document.body.append(dialog);
  dialog.showModal();
}

function timeline(d: Detail): HTMLElement {
  const t = d.timeline;
  const from = Date.parse(t.from);
  const to = Math.max(Date.parse(t.to), from + 1000);
  const parts: Node[] = [h("p", {}, `From ${utc(t.from)} to ${utc(t.to)} UTC.`)];
  if (t.rolledBack) {
    const failing = t.rolledBack.failing.length ? ` Failing: ${t.rolledBack.failing.join(", ")}.` : "";
    parts.push(
      h(
        "p",
        { class: "rolled-back", role: "note" },
        `Rolled back at ${utc(t.rolledBack.time)}: ${t.rolledBack.message}.${failing}`,
      ),
    );
  }
  const weights = t.weights.map((p) => ({ x: Date.parse(p.time), y: p.weight, fails: false }));
  if (weights.length > 0) weights.push({ x: to, y: (weights.at(-1) as { y: number }).y, fails: false });
  parts.push(chart("canary weight (%)", weights, from, to, { min: 0, max: 100 }, undefined, true));
  for (const m of t.metrics) {
    const failing = t.rolledBack?.failing.includes(m.name) ? " (failed the release)" : "";
    if (m.error && m.points.length === 0) {
      parts.push(h("p", { class: "metric-error" }, `${m.name} (${m.range})${failing}: ${m.error}`));
      continue;
    }
    const pts = m.points.map((p) => ({ x: Date.parse(p.time), y: p.value, fails: p.fails }));
    parts.push(
      chart(
        `${m.name}, range ${m.range}${failing}`,
        pts,
        from,
        to,
        undefined,
        { min: m.min, max: m.max },
        false,
      ),
    );
  }
  return h("div", { class: "timeline" }, ...parts);
}

interface Point {
  x: number;
  y: number;
  fails: boolean;
}

/** A small SVG chart: a line (a step line for weights), the threshold band, failing points marked. */
function chart(
  title: string,
  points: Point[],
  from: number,
  to: number,
  fixed: { min: number; max: number } | undefined,
  band: { min?: number; max?: number } | undefined,
  step: boolean,
): HTMLElement {
  const W = 640;
  const H = 140;
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const ys = [...points.map((p) => p.y), band?.min, band?.max].filter((v): v is number => v !== undefined);
  let lo = fixed?.min ?? Math.min(...ys);
  let hi = fixed?.max ?? Math.max(...ys);
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const margin = fixed ? 0 : (hi - lo) * 0.1;
  lo -= margin;
  hi += margin;
  const x = (t: number) => pad.l + ((t - from) / (to - from)) * (W - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - (v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  const svg = document.createElementNS(SVG, "svg");
  const failing = points.filter((p) => p.fails).length;
  const label = `${title}: ${points.length} values${failing ? `, ${failing} outside the range` : ""}`;
  attrs(svg, { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" });
  if (band && (band.min !== undefined || band.max !== undefined)) {
    const top = y(Math.min(band.max ?? hi, hi));
    const bottom = y(Math.max(band.min ?? lo, lo));
    svg.append(
      el("rect", {
        x: pad.l,
        y: top,
        width: W - pad.l - pad.r,
        height: Math.max(0, bottom - top),
        class: "band",
      }),
    );
  }
  for (const v of [lo, hi])
    svg.append(el("text", { x: pad.l - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  // The first label starts at the axis and the last ends at the edge, so neither is cut.
  for (const [t, anchor] of [
    [from, "start"],
    [(from + to) / 2, "middle"],
    [to, "end"],
  ] as const) {
    svg.append(
      el(
        "text",
        { x: x(t), y: H - 6, class: "tick", "text-anchor": anchor },
        new Date(t).toISOString().slice(11, 16),
      ),
    );
  }
  if (points.length > 0) {
    let d = `M${x(points[0]?.x ?? from)},${y(points[0]?.y ?? 0)}`;
    for (const p of points.slice(1)) d += step ? `H${x(p.x)}V${y(p.y)}` : `L${x(p.x)},${y(p.y)}`;
    svg.append(el("path", { d, class: "line" }));
  }
  for (const p of points.filter((q) => q.fails))
    svg.append(el("circle", { cx: x(p.x), cy: y(p.y), r: 3, class: "fail" }));
  return h("figure", {}, h("figcaption", {}, title), svg as unknown as HTMLElement);
}

function el(tag: string, a: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  attrs(e, a);
  if (text !== undefined) e.textContent = text;
  return e;
}

function attrs(e: Element, a: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(a)) e.setAttribute(k, String(v));
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}
