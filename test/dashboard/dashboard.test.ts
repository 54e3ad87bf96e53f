// `kanaria dashboard` in a real browser (Debian's Chromium, driven by playwright-core) against the
// local control plane: the list of 1,000 Canaries and how fast it renders and updates, a release's
// live update, a promote and an abort clicked in the page (the annotations land, the controller's
// answer shows), the timeline of a rolled-back release (metric history from the real Prometheus),
// keyboard navigation and axe-core's accessibility rules. Screenshots go to
// .kanaria/dashboard-screenshots/ for people to look at. The controller's part (acting on a request,
// recording status) is played by the test writing the Canary status, as test/controller does not
// need to be exercised again here.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import axe from "axe-core";
import pino from "pino";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { REQUEST_ANNOTATIONS } from "../../src/controller/requests.ts";
import { type Dashboard, startDashboard } from "../../src/dashboard/server.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { testClient } from "../support/canary-observer.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";

const REPO = path.resolve(import.meta.dirname, "../..");
const SHOTS = path.join(REPO, ".kanaria/dashboard-screenshots");
const FLEET = 1000;
const USER = "dashboard-tester";
/** Waits on the page: generous, as the machine may be busy. */
const POLL = { timeout: 15_000 };

const ns = useNamespace("dashboard");
const client = testClient();
let dashboard: Dashboard;
let browser: Browser;
let page: Page;

type CanaryObject = Canary & KubeObject;

function spec(metrics: NonNullable<Canary["spec"]["analysis"]["metrics"]> = []) {
  return {
    provider: "nginx" as const,
    ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "web" },
    analysis: { interval: "10s", threshold: 1, maxWeight: 50, stepWeight: 10, metrics },
  };
}

async function createCanary(name: string, metrics?: Parameters<typeof spec>[0]): Promise<CanaryObject> {
  return client.apply(canary(ns, name, spec(metrics)) as CanaryObject);
}

async function setStatus(name: string, status: Canary["status"]): Promise<void> {
  const current = await client.get<CanaryObject>({
    apiVersion: API_VERSION,
    kind: "Canary",
    namespace: ns,
    name,
  });
  if (!current) throw new Error(`Canary ${name} vanished`);
  await client.replaceStatus({ ...current, status });
}

function progressing(weight: number, revision = "rev-1"): Canary["status"] {
  return {
    phase: "Progressing",
    canaryWeight: weight,
    failedChecks: 0,
    lastAppliedSpec: revision,
    lastPromotedSpec: "rev-0",
    lastTransitionTime: new Date(Date.now() - 95_000).toISOString(),
    checks: [
      {
        name: "request-success-rate",
        result: "pass",
        value: 99.5,
        thresholdRange: { min: 99 },
        message: "99.50 within min 99",
        time: new Date().toISOString(),
      },
    ],
  };
}

/** An Event about a Canary at a given time, as the controller records them. */
async function event(
  name: string,
  reason: string,
  message: string,
  at: Date,
  type = "Normal",
): Promise<void> {
  await client.apply({
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${name}.${reason.toLowerCase()}.${at.getTime()}`, namespace: ns },
    involvedObject: { apiVersion: API_VERSION, kind: "Canary", name, namespace: ns },
    reason,
    message,
    type,
    count: 1,
    firstTimestamp: at.toISOString(),
    lastTimestamp: at.toISOString(),
    source: { component: "kanaria" },
  } as KubeObject);
}

/** The request annotation of a kind, once written. */
function requestWritten(name: string, kind: keyof typeof REQUEST_ANNOTATIONS): Promise<string> {
  return waitFor(
    async () =>
      (await client.get<CanaryObject>({ apiVersion: API_VERSION, kind: "Canary", namespace: ns, name }))
        ?.metadata.annotations?.[REQUEST_ANNOTATIONS[kind]] as string,
    { description: `the ${kind} annotation on ${name}` },
  );
}

/** The status of GET /api/live with these headers, from outside the browser (which would not send them). */
function statusOf(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/api/live", headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
  });
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** The whole page, or the first screen of a long one (1,000 rows do not fit a picture). */
async function screenshot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

async function axeViolations(): Promise<string[]> {
  // Through the DevTools protocol, as the page's own CSP allows no script but its own. Rows hidden by
  // a filter are left out: axe on 1,000 table rows takes minutes on a busy machine.
  await page.evaluate(axe.source);
  const result = (await page.evaluate(
    `axe.run({ exclude: [["tr[hidden]"]] }, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"] } })`,
  )) as axe.AxeResults;
  return result.violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
  );
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // The project's way to get Debian tools (cluster.sh installs it when missing).
  const executablePath = execFileSync("bash", [path.join(REPO, "test/cluster/cluster.sh"), "chromium"], {
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .at(-1) as string;
  const names = Array.from({ length: FLEET }, (_, i) => `app-${String(i).padStart(4, "0")}`);
  const phases = ["Progressing", "Succeeded", "Failed", "WaitingPromotion"] as const;
  await inBatches(names, 25, async (name) => {
    const i = Number(name.slice(4));
    const phase = phases[i % phases.length] as (typeof phases)[number];
    const created = await createCanary(name);
    await client.replaceStatus({ ...created, status: { ...progressing((i % 5) * 10), phase } });
  });
  const connection = kubeConnection();
  dashboard = await startDashboard({
    connection,
    cluster: { client: createKubeClient(connection, pino({ level: "silent" })), namespace: ns, user: USER },
    namespace: ns,
    port: 0,
    metricsServer: inject("prometheusUrl"),
    logger: pino({ level: "warn" }),
  });
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
});

describe("kanaria dashboard in Chromium", () => {
  it("lists 1,000 Canaries within a second, filters them and stays accessible", async () => {
    await page.goto(dashboard.url);
    expect(new URL(page.url()).search).toBe(""); // the token left the address bar for a cookie
    await page.waitForSelector(`tr[data-key="${ns}/app-0999"]`);
    const firstRender = await page.evaluate(
      () => performance.getEntriesByName("kanaria:first-render")[0]?.startTime,
    );
    console.log(`dashboard: first render of ${FLEET} Canaries after ${firstRender?.toFixed(0)} ms`);
    expect(firstRender).toBeLessThan(1000);
    await expect.poll(() => page.textContent("#count"), POLL).toBe(`${FLEET} of ${FLEET} Canaries shown`);

    await page.selectOption("#filter-phase", "Failed");
    expect(await page.textContent("#count")).toBe(`${FLEET / 4} of ${FLEET} Canaries shown`);
    await page.fill("#filter-text", "app-000");
    // app-0000..app-0009 whose index is 2 mod 4: 2 and 6.
    expect(await page.textContent("#count")).toBe(`2 of ${FLEET} Canaries shown`);
    expect(await axeViolations()).toEqual([]);
    await page.fill("#filter-text", "");
    await page.selectOption("#filter-phase", "");
    await screenshot("list", false);
  });

  it("shows a release's progress as the Canary changes, each update under 100 ms in the page", async () => {
    const row = page.locator(`tr[data-key="${ns}/app-0000"]`);
    await expect.poll(() => row.textContent(), POLL).toContain("0% canary");
    const timings: number[] = [];
    for (const weight of [10, 20, 30, 40]) {
      const written = Date.now();
      await setStatus("app-0000", progressing(weight));
      await expect
        .poll(() => row.textContent(), { timeout: 10_000, interval: 20 })
        .toContain(`${weight}% canary`);
      const shown = Date.now() - written;
      const update = await page.evaluate(
        (key) =>
          performance
            .getEntriesByName("kanaria:update")
            .filter((m) => (m as { detail?: { keys?: string[] } }).detail?.keys?.includes(key))
            .at(-1)?.duration,
        `${ns}/app-0000`,
      );
      timings.push(update as number);
      console.log(
        `dashboard: weight ${weight}% shown ${shown} ms after the write, page update ${update?.toFixed(1)} ms`,
      );
    }
    for (const t of timings) expect(t).toBeLessThan(100);
  });

  it("promotes and aborts from the page, with the user's identity, and shows the controller's answer", async () => {
    await createCanary("checkout");
    await setStatus("checkout", progressing(30, "rev-42"));
    await page.goto(`http://127.0.0.1:${dashboard.port}/canary/${ns}/checkout`);
    await page.click("#action-promote");
    await page.click("#confirm-yes");
    await expect.poll(() => page.textContent("#action-status"), POLL).toContain("promotion of");
    const promoted = await requestWritten("checkout", "promote");
    expect(JSON.parse(promoted)).toMatchObject({ revision: "rev-42", by: USER });
    // The controller takes it: status.requests records the value acted on.
    await setStatus("checkout", { ...progressing(30, "rev-42"), requests: { promote: promoted } });
    await expect
      .poll(() => page.textContent("#action-status"))
      .toContain("The controller took the promote request");

    await page.click("#action-abort");
    await page.click("#confirm-yes"); // no reason yet: refused in the dialog
    expect(await page.locator("dialog").isVisible()).toBe(true);
    await page.fill("#abort-reason", "p99 latency doubled in eu-west");
    await page.click("#confirm-yes");
    const aborted = await requestWritten("checkout", "abort");
    expect(JSON.parse(aborted)).toMatchObject({
      revision: "rev-42",
      by: USER,
      reason: "p99 latency doubled in eu-west",
    });
    await setStatus("checkout", {
      ...progressing(0, "rev-42"),
      phase: "Failed",
      requests: { promote: promoted, abort: aborted },
    });
    await expect
      .poll(() => page.textContent("#action-status"))
      .toContain("The controller took the abort request");
    await expect.poll(() => page.textContent(".summary"), POLL).toContain("Failed");
    await screenshot("actions");
  });

  it("refuses an action without the page's token, and one the phase does not allow", async () => {
    const post = (headers: Record<string, string>) =>
      page.evaluate(
        async ({ url, headers }) => (await fetch(url, { method: "POST", headers, body: "{}" })).status,
        { url: `/api/canaries/${ns}/checkout/retry`, headers },
      );
    expect(await post({ "content-type": "application/json" })).toBe(403);
    expect(
      await post({ "content-type": "application/json", "x-kanaria-token": dashboard.session.token }),
    ).toBe(200);
    expect(
      await post({ "content-type": "application/json", "x-kanaria-token": dashboard.session.token.slice(1) }),
    ).toBe(403);
    // A page of another origin cannot even read the list.
    expect(await statusOf(dashboard.port, { host: `rebind.example:${dashboard.port}` })).toBe(403);
    expect(await statusOf(dashboard.port, { origin: "http://evil.example" })).toBe(403);
  });

  it("draws a rolled-back release: weight over time, the failing metric from Prometheus' history against its band", async () => {
    await client.apply({
      apiVersion: API_VERSION,
      kind: "MetricTemplate",
      metadata: { name: "success-rate", namespace: ns },
      spec: { provider: { type: "prometheus", address: inject("prometheusUrl") }, query: "vector(95)" },
    } as KubeObject);
    await createCanary("payments", [
      { name: "success-rate", thresholdRange: { min: 99 }, templateRef: { name: "success-rate" } },
    ]);
    const t0 = Date.now() - 120_000;
    const at = (s: number) => new Date(t0 + s * 1000);
    await event("payments", "NewRevision", "New revision detected! Scaling up payments", at(0));
    await event("payments", "Progressing", "Advance payments canary weight 10", at(20));
    await event("payments", "Progressing", "Advance payments canary weight 20", at(40));
    const why = "failed checks threshold reached 1/1: success-rate 95.00 below min 99";
    await event("payments", "RolledBack", `Canary failed! Rolling back payments: ${why}`, at(60), "Warning");
    await setStatus("payments", {
      phase: "Failed",
      canaryWeight: 0,
      failedChecks: 1,
      lastAppliedSpec: "rev-7",
      lastPromotedSpec: "rev-6",
      lastTransitionTime: at(60).toISOString(),
      checks: [
        {
          name: "success-rate",
          result: "fail",
          value: 95,
          thresholdRange: { min: 99 },
          message: "95.00 below min 99",
          time: at(60).toISOString(),
        },
      ],
    });
    await page.goto(`http://127.0.0.1:${dashboard.port}/`);
    await page.fill("#filter-text", "payments");
    // Keyboard only from here: Tab to the Canary's link, Enter opens its page.
    let focused = "";
    for (let i = 0; i < 15 && !focused.endsWith("/payments"); i++) {
      await page.keyboard.press("Tab");
      focused = (await page.evaluate(`document.activeElement?.pathname ?? ""`)) as string;
    }
    expect(focused).toBe(`/canary/${ns}/payments`);
    await page.keyboard.press("Enter");
    const banner = page.locator(".rolled-back");
    await expect.poll(() => banner.textContent(), { timeout: 20_000 }).toContain("Failing: success-rate.");
    expect(await banner.textContent()).toContain(why);
    const chart = page.locator("figure", { hasText: "success-rate, range min 99 (failed the release)" });
    await expect.poll(() => chart.count(), POLL).toBe(1);
    // Prometheus' history over the release, every value outside the band (vector(95) against min 99).
    const label = (await chart.locator("svg").getAttribute("aria-label")) ?? "";
    const [, values, failing] = /(\d+) values, (\d+) outside the range/.exec(label) ?? [];
    expect(Number(values)).toBeGreaterThanOrEqual(5);
    expect(failing).toBe(values);
    expect(
      await page.locator("figure", { hasText: "canary weight" }).locator("svg").getAttribute("aria-label"),
    ).toMatch(/canary weight \(%\): \d+ values/);
    expect(await page.textContent("#h-last-releases + table")).toContain("rolled back");
    await screenshot("rolled-back");
    expect(await axeViolations()).toEqual([]);
  });
});
