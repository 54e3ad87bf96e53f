import type { Command } from "commander";
import type { CheckStatus, WebhookStatus } from "../../api/canary.ts";
import { API_VERSION } from "../../api/common.ts";
import { resolveCanary } from "../../api/defaults.ts";
import type { Deployment } from "../../workloads/meta.ts";
import {
  type CanaryObject,
  type Cluster,
  type ClusterFlags,
  canaryEvents,
  clusterOptions,
  connect,
  type EventRecord,
  getCanary,
  refusable,
} from "../canaries.ts";
import {
  type CanaryView,
  type DeploymentView,
  eventLine,
  formatChecks,
  makeStyle,
  PlainRenderer,
  type Renderer,
  type Style,
  TtyRenderer,
} from "../view.ts";

const EVENTS_SHOWN = 5;
const WATCH_POLL_MS = 2_000;

interface StatusFlags extends ClusterFlags {
  allNamespaces?: boolean;
  watch?: boolean;
  output?: string;
}

/** One Canary as `kanaria status` shows it (and prints with -o json). */
export interface CanarySummary {
  namespace: string;
  name: string;
  phase: string;
  revision?: string;
  canaryWeight: number;
  maxWeight: number;
  failedChecks: number;
  threshold: number;
  checks: CheckStatus[];
  /** confirm-* webhooks of the current revision that have not said yes. */
  gates: WebhookStatus[];
  message: string;
  suspended: boolean;
  events: EventRecord[];
}

export function register(program: Command): void {
  clusterOptions(
    program
      .command("status")
      .argument("[name]", "one Canary (default: every Canary of the namespace)")
      .description("phase, traffic, checks, gates waiting and last events of Canaries")
      .option("-A, --all-namespaces", "Canaries of every namespace")
      .option("-w, --watch", "redraw as it changes (Ctrl-C ends)")
      .option("-o, --output <format>", "text or json", "text"),
  ).action((name: string | undefined, flags: StatusFlags) =>
    refusable(async () => {
      if (flags.output !== "text" && flags.output !== "json") {
        throw new Error(`--output must be text or json, got ${flags.output}`);
      }
      const cluster = await connect(flags);
      if (flags.watch) await watch(cluster, name, flags);
      else
        process.stdout.write(
          render(
            await summaries(cluster, name, flags),
            flags.output,
            makeStyle(process.stdout.isTTY === true),
          ),
        );
    }),
  );
}

async function summaries(
  cluster: Cluster,
  name: string | undefined,
  flags: StatusFlags,
): Promise<CanarySummary[]> {
  const canaries = name
    ? [await getCanary(cluster, name)]
    : await cluster.client.list<CanaryObject>(
        API_VERSION,
        "Canary",
        flags.allNamespaces ? undefined : cluster.namespace,
      );
  return Promise.all(canaries.map(async (c) => summarize(c, await canaryEvents(cluster.client, c))));
}

export function summarize(canary: CanaryObject, events: EventRecord[]): CanarySummary {
  const status = canary.status ?? {};
  const resolved = resolveCanary(canary.spec);
  const revision = status.lastAppliedSpec;
  return {
    namespace: canary.metadata.namespace ?? "",
    name: canary.metadata.name,
    phase: status.phase ?? "(not reconciled yet)",
    ...(revision ? { revision } : {}),
    canaryWeight: status.canaryWeight ?? 0,
    maxWeight: resolved.maxWeight,
    failedChecks: status.failedChecks ?? 0,
    threshold: resolved.threshold,
    checks: status.checks ?? [],
    gates: (status.webhooks ?? []).filter(
      (w) => w.type.startsWith("confirm-") && w.result !== "pass" && w.revision === revision,
    ),
    message: status.conditions?.find((c) => c.type === "Promoted")?.message ?? "",
    suspended: canary.spec.suspend === true,
    events: events.slice(-EVENTS_SHOWN),
  };
}

export function render(all: CanarySummary[], output: string | undefined, style: Style): string {
  if (output === "json") return `${JSON.stringify(all, null, 2)}\n`;
  if (all.length === 0) return "no Canaries found\n";
  return all.map((s) => `${summaryLines(s, style).join("\n")}\n`).join("\n");
}

export function summaryLines(s: CanarySummary, style: Style): string[] {
  const label = (l: string) => style.dim(l.padEnd(8));
  const head = [
    style.bold(`${s.namespace}/${s.name}`),
    s.suspended ? style.yellow(`${s.phase} (suspended)`) : s.phase,
    `canary weight ${s.canaryWeight}% (promoted after ${s.maxWeight}%)`,
    `failed checks ${s.failedChecks}/${s.threshold}`,
    ...(s.revision ? [style.dim(`revision ${s.revision}`)] : []),
  ].join("  ");
  const lines = [head];
  for (const [i, line] of formatChecks(s.checks, style).entries()) {
    lines.push(`  ${label(i === 0 ? "checks" : "")}${line}`);
  }
  for (const [i, g] of s.gates.entries()) {
    lines.push(
      `  ${label(i === 0 ? "gates" : "")}${g.type} ${g.name}: ${style.yellow(g.result)} (${g.message})`,
    );
  }
  if (s.message) lines.push(`  ${label("status")}${s.message}`);
  for (const [i, e] of s.events.entries())
    lines.push(`  ${label(i === 0 ? "events" : "")}${eventLine(e, style)}`);
  return lines;
}

/** One Canary: the demo's live status block, its events as they come. Several: the list redrawn. */
async function watch(cluster: Cluster, name: string | undefined, flags: StatusFlags): Promise<void> {
  const style = makeStyle(process.stdout.isTTY === true && flags.output === "text");
  const write = (s: string) => process.stdout.write(s);
  const renderer: Renderer | undefined =
    name && flags.output === "text"
      ? process.stdout.isTTY
        ? new TtyRenderer({
            write,
            style,
            startedAt: Date.now(),
            columns: () => process.stdout.columns ?? 100,
          })
        : new PlainRenderer({ write, style, startedAt: Date.now() })
      : undefined;
  const seen = new Set<string>();
  let last = "";
  let stop = false;
  const stopped = untilInterrupted().then(() => {
    stop = true;
  });
  try {
    while (!stop) {
      if (renderer && name) {
        const canary = await getCanary(cluster, name);
        const events = await canaryEvents(cluster.client, canary);
        for (const e of events) {
          const key = `${e.time}/${e.reason}/${e.message}`;
          if (!seen.has(key)) renderer.log(eventLine(e, style));
          seen.add(key);
        }
        renderer.status(await liveView(cluster, canary));
      } else {
        const text = render(await summaries(cluster, name, flags), flags.output, style);
        if (text !== last) write(process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
        last = text;
      }
      await Promise.race([stopped, sleep(WATCH_POLL_MS)]);
    }
  } finally {
    renderer?.close();
  }
}

async function liveView(cluster: Cluster, canary: CanaryObject): Promise<CanaryView> {
  const s = summarize(canary, []);
  const namespace = s.namespace;
  const [primary, target] = await Promise.all(
    [`${canary.spec.targetRef.name}-primary`, canary.spec.targetRef.name].map((n) =>
      cluster.client.get<Deployment>({ apiVersion: "apps/v1", kind: "Deployment", namespace, name: n }),
    ),
  );
  return {
    title: `${s.name}.${namespace}`,
    stage: s.revision ? `revision ${s.revision}` : "",
    phase: s.phase,
    canaryWeight: s.canaryWeight,
    maxWeight: s.maxWeight,
    failedChecks: s.failedChecks,
    threshold: s.threshold,
    checks: s.checks,
    message: s.message,
    ...(primary ? { primary: deploymentView(primary) } : {}),
    ...(target ? { canary: deploymentView(target) } : {}),
  };
}

function deploymentView(d: Deployment): DeploymentView {
  return {
    name: d.metadata.name,
    ...(d.spec?.template?.spec?.containers?.[0]?.image
      ? { image: d.spec.template.spec.containers[0].image }
      : {}),
    replicas: d.spec?.replicas ?? 0,
    ready: d.status?.readyReplicas ?? 0,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves on SIGINT/SIGTERM: watching ends normally, with exit code 0. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
