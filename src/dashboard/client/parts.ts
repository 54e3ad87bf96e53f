/**
 * What both pages of the dashboard draw with: the element helper, the list's rows as the stream
 * last sent them, the session token, and the small widgets (phase, traffic, checks). Its own module
 * so the list (app.ts) and one Canary's page (detail.ts) share them without importing each other.
 */

import type { CheckFact, CanaryRow as Row } from "../wire.ts";

export type { Row };

export const token = document.querySelector<HTMLMetaElement>('meta[name="kanaria-token"]')?.content ?? "";

/** Every Canary as the server last sent it, by namespace/name. */
export const rows = new Map<string, Row>();

/** An element with attributes and children; strings become text nodes. */
export function h(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

/** "48s", "2m05s", "3h04m": as `kanaria status` writes durations. */
export function since(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const total = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
  return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}m`;
}

export function phaseBadge(row: Pick<Row, "phase" | "suspended">): HTMLElement {
  const tone =
    row.phase === "Failed" ? "bad" : ["Succeeded", "Initialized"].includes(row.phase) ? "good" : "busy";
  return h("span", { class: `phase ${tone}` }, row.suspended ? `${row.phase} (suspended)` : row.phase);
}

/** primary/canary split as a bar, with the numbers in words for screen readers and without color. */
export function trafficBar(row: Pick<Row, "canaryWeight" | "maxWeight">): HTMLElement {
  const w = row.canaryWeight;
  const primary = h("span", { class: "primary" });
  const canary = h("span", { class: "canary" });
  // Through the CSSOM: the page's CSP allows no inline style attributes.
  primary.style.width = `${100 - w}%`;
  canary.style.width = `${w}%`;
  const bar = h(
    "span",
    { class: "bar", role: "img", "aria-label": `primary ${100 - w}%, canary ${w}%` },
    primary,
    canary,
  );
  return h("span", { class: "traffic" }, bar, ` ${w}% canary`);
}

export function checkList(checks: CheckFact[]): HTMLElement {
  if (checks.length === 0) return h("span", { class: "muted" }, "none in this analysis yet");
  return h(
    "ul",
    { class: "checks" },
    ...checks.map((c) =>
      h(
        "li",
        { title: c.message },
        `${c.name} ${c.value} (${c.range}) `,
        h("span", { class: `result ${c.result}` }, c.result),
      ),
    ),
  );
}
