import type { Command } from "commander";
import type { CheckStatus, WebhookStatus } from "../../api/canary.ts";
import { API_VERSION } from "../../api/common.ts";
import { targetKind } from "../../workloads/kinds.ts";
import type { Workload } from "../../workloads/meta.ts";
import { observeWorkload, readyPods } from "../../workloads/primary.ts";
import {
  type CanaryObject,
  type Cluster,
  type ClusterFlags,
  canaryEventsIn,
  clusterOptions,
  connect,
  type EventRecord,
  getCanary,
  refusable,
} from "../canaries.ts";
import { releaseFacts, releaseLabel, resolveAsRun } from "../release-facts.ts";
import { detailLines, listLines } from "../status-view.ts";
import {
  type CanaryView,
  type DeploymentView,
  eventLine,
  makeStyle,
  PlainRenderer,
  type Renderer,
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
      .argument("[name]", "one Canary in detail (default: one line per Canary of the namespace)")
      .description("what happened to each release: phase, traffic, checks, what holds it, last events")
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
      else process.stdout.write(render(await read(cluster, name, flags), name, flags, terminal()));
    }),
  );
}

/** The Canaries asked for and the Events of every Canary in their namespace(s): two requests. */
interface Snapshot {
  canaries: CanaryObject[];
  events: Map<string, EventRecord[]>;
}

async function read(cluster: Cluster, name: string | undefined, flags: StatusFlags): Promise<Snapshot> {
  const everywhere = flags.allNamespaces === true && !name;
  const [canaries, events] = await Promise.all([
    name
      ? getCanary(cluster, name).then((c) => [c])
      : cluster.client.list<CanaryObject>(API_VERSION, "Canary", everywhere ? undefined : cluster.namespace),
    canaryEventsIn(cluster.client, everywhere ? undefined : cluster.namespace),
  ]);
  return { canaries, events };
}

function eventsOf(snapshot: Snapshot, canary: CanaryObject): EventRecord[] {
  return snapshot.events.get(`${canary.metadata.namespace}/${canary.metadata.name}`) ?? [];
}

export function summarize(canary: CanaryObject, events: EventRecord[]): CanarySummary {
  const status = canary.status ?? {};
  const resolved = resolveAsRun(canary);
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

/** What the terminal is: its size and whether it takes colors. A pipe has no width (nothing is cut). */
export interface Terminal {
  columns: number;
  rows?: number;
  color: boolean;
  now: Date;
}

function terminal(): Terminal {
  const tty = process.stdout.isTTY === true;
  return {
    columns: tty ? process.stdout.columns || 100 : Number.POSITIVE_INFINITY,
    ...(tty && process.stdout.rows ? { rows: process.stdout.rows } : {}),
    color: tty && !("NO_COLOR" in process.env),
    now: new Date(),
  };
}

/**
 * -o json: the summaries, as they always were. Text: one Canary by name in detail, else one line per
 * Canary (with `fitRows`, no more lines than the terminal has rows).
 */
export function render(
  snapshot: Snapshot,
  name: string | undefined,
  flags: Pick<StatusFlags, "output" | "allNamespaces">,
  term: Terminal,
  fitRows = false,
): string {
  if (flags.output === "json")
    return `${JSON.stringify(
      snapshot.canaries.map((c) => summarize(c, eventsOf(snapshot, c))),
      null,
      2,
    )}\n`;
  const opts = { style: makeStyle(term.color), width: term.columns, now: term.now };
  const facts = (c: CanaryObject) => releaseFacts(c, eventsOf(snapshot, c), term.now);
  const [one] = snapshot.canaries;
  const lines =
    name && one
      ? detailLines(facts(one), eventsOf(snapshot, one), opts)
      : listLines(snapshot.canaries.map(facts), {
          ...opts,
          allNamespaces: flags.allNamespaces === true,
          ...(fitRows && term.rows ? { rows: term.rows - 1 } : {}),
        });
  return `${lines.join("\n")}\n`;
}

/** One Canary on a terminal: its status block redrawn, its Events as they come. Else the view redrawn. */
async function watch(cluster: Cluster, name: string | undefined, flags: StatusFlags): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const style = makeStyle(terminal().color && flags.output === "text");
  const write = (s: string) => process.stdout.write(s);
  const renderer: Renderer | undefined =
    name && flags.output === "text"
      ? tty
        ? new TtyRenderer({ write, style, startedAt: Date.now(), columns: () => terminal().columns })
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
      const snapshot = await read(cluster, name, flags);
      const [canary] = snapshot.canaries;
      if (renderer && canary) {
        const events = eventsOf(snapshot, canary);
        for (const e of events) {
          const key = `${e.time}/${e.reason}/${e.message}`;
          if (!seen.has(key)) renderer.log(eventLine(e, style));
          seen.add(key);
        }
        renderer.status(await liveView(cluster, canary, events));
      } else {
        const text = render(snapshot, name, flags, terminal(), tty);
        if (text !== last) write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
        last = text;
      }
      await Promise.race([stopped, sleep(WATCH_POLL_MS)]);
    }
  } finally {
    renderer?.close();
  }
}

async function liveView(cluster: Cluster, canary: CanaryObject, events: EventRecord[]): Promise<CanaryView> {
  const s = summarize(canary, []);
  const namespace = s.namespace;
  const kind = targetKind(canary);
  const [primary, target] = await Promise.all(
    [`${canary.spec.targetRef.name}-primary`, canary.spec.targetRef.name].map((n) =>
      cluster.client.get<Workload>(kind.ref(namespace, n)),
    ),
  );
  return {
    title: `${s.name}.${namespace}`,
    stage: s.revision ? `revision ${s.revision}` : "",
    phase: canary.status?.phase,
    canaryWeight: s.canaryWeight,
    release: releaseLabel(canary, events),
    failedChecks: s.failedChecks,
    threshold: s.threshold,
    checks: s.checks,
    message: s.message,
    ...(primary ? { primary: deploymentView(primary) } : {}),
    ...(target ? { canary: deploymentView(target) } : {}),
  };
}

function deploymentView(d: Workload): DeploymentView {
  return {
    name: d.metadata.name,
    ...(d.spec?.template?.spec?.containers?.[0]?.image
      ? { image: d.spec.template.spec.containers[0].image }
      : {}),
    replicas: observeWorkload(d).replicas,
    ready: readyPods(d),
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
