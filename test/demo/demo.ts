// `make demo`: kanaria's main job, end to end, on this machine.
//
// Starts a local control plane with Prometheus and moto (test/cluster/cluster.sh, in its own state dir
// .kanaria/demo, so a `make cluster` is never touched), installs the CRDs, starts the controller as a
// child process (logs in .kanaria/demo/logs/), applies examples/podinfo/, and releases two versions of
// podinfo: 6.0.1, a good build that must be promoted, then 6.0.2, a bad build that must be rolled back.
// Shows the Canary live (phase, traffic, pods, each metric check against its range, the events) and
// ends with a summary. Cleans up everything it started, also on Ctrl-C, SIGTERM and errors;
// KANARIA_DEMO_KEEP=1 leaves the cluster running.
//
// Real traffic (real-traffic.ts) where this machine can make a network namespace: the cluster runs the
// data plane (Traefik, one real podinfo process per pod), the Canary routes through an HTTPRoute on
// Traefik's Gateway and is judged on Traefik's series (examples/podinfo's built-in checks: the
// Gateway's class is Traefik's, and the BuiltinMetrics Event among the events says so), 6.0.2 runs
// podinfo --random-error, and the demo sends steady requests itself (load.ts), showing the split
// counted from the answers next to the weight kanaria wrote, and the failed requests. Elsewhere, or with KANARIA_DATAPLANE= (empty or off), the
// traffic simulator plays the proxy and makes the metrics (6.0.2 fails about 10% of its requests), and
// the intro says why.
//
// Exit code 0 only when the good release was promoted and the bad one rolled back.
//
// Environment: KANARIA_DEMO_KEEP=1 (keep the cluster), KANARIA_DEMO_DIR (state dir, default
// .kanaria/demo), KANARIA_DATAPLANE (see above), KANARIA_DEMO_PROVIDER (gatewayapi.ts), NO_COLOR, and
// cluster.sh's (KANARIA_CACHE_DIR, KUBEBUILDER_ASSETS, ...).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { PatchStrategy } from "@kubernetes/client-node";
import pino from "pino";
import type { Canary, CanarySpec, CheckStatus } from "../../src/api/canary.ts";
import { API_VERSION, parseDuration } from "../../src/api/common.ts";
import {
  compareEvents,
  type EventRecord,
  eventRecords,
  type RawEvent,
  releaseLabel,
} from "../../src/cli/release-facts.ts";
import {
  type CanaryView,
  type DeploymentView,
  type EventLineInput,
  eventLine,
  type MeasuredView,
  makeStyle,
  PlainRenderer,
  type Renderer,
  type Style,
  TtyRenderer,
  tagOf,
} from "../../src/cli/view.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/connection.ts";
import { KubeRest } from "../../src/kube/rest.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { type AlertReceiver, readableSlackMessage, startAlertReceiver } from "../support/alert-receiver.ts";
import { installCrds, yamlFilesIn } from "../support/crds.ts";
import { readEnvFile } from "../support/env-file.ts";
import { EXAMPLES_DIR, IMAGE_REPO, loadExample, PROFILES, RELEASES, RPS } from "./example.ts";
import { firstRunNotice, missingBinaries } from "./first-run.ts";
import { exampleFor, gatewayApiCrdFiles } from "./gatewayapi.ts";
import { failureText, type Load, sendOne, startLoad, stepText, TrafficMeter } from "./load.ts";
import { type ClusterShRun, clusterSh, describeExit, REPO_ROOT, Service, tailOf } from "./processes.ts";
import {
  chooseTraffic,
  dataplaneImpossible,
  REAL_BEHAVIOUR,
  realTrafficExample,
  releasePatch,
  type TrafficChoice,
} from "./real-traffic.ts";
import {
  closingHints,
  duration,
  type Outcome,
  type ReleaseResult,
  type ReleaseTraffic,
  releaseOk,
  summaryLines,
} from "./summary.ts";

const DEMO_DIR = path.resolve(process.env.KANARIA_DEMO_DIR ?? path.join(REPO_ROOT, ".kanaria/demo"));
const LOG_DIR = path.join(DEMO_DIR, "logs");
const KEEP = process.env.KANARIA_DEMO_KEEP === "1";
const FIELD_MANAGER = "kanaria-demo";

const POLL_MS = 500;
/** The AlertProvider the demo's controller sends every alert to (a local receiver playing Slack). */
const DEMO_ALERT_PROVIDER = "demo-slack";
const INIT_TIMEOUT_MS = 120_000;
const RELEASE_TIMEOUT_MS = 240_000;
/** The live view's measured split covers the requests of the last this many seconds. */
const MEASURE_WINDOW_S = 5;
/**
 * A step's requests are counted from this long after the demo saw the new weight on the HTTPRoute:
 * the demo polls every POLL_MS, and Traefik applied a new weight 0.6-0.8 s after it appeared there
 * (test/e2e/real-traffic.test.ts), so earlier requests may still have met the previous weight.
 */
const STEP_SETTLE_MS = 1_500;
/** The Gateway cluster.sh makes (its env file's GATEWAY) until the env file is read. */
const DATAPLANE_GATEWAY = "kanaria-dataplane/traefik";

class Interrupted extends Error {
  override readonly name = "Interrupted";
}

/** Waiting for the Canary took too long: that release failed, the demo goes on. */
class TimedOut extends Error {
  override readonly name = "TimedOut";
}

interface Snapshot {
  canary?: Canary;
  primary?: DeploymentView;
  target?: DeploymentView;
  /** Real traffic: the canary's weight on the HTTPRoute, what Traefik reads (undefined: no route yet). */
  routeWeight?: number;
}

interface RouteObject extends KubeObject {
  spec?: { rules?: { backendRefs?: { name?: string; weight?: number }[] }[] };
}

interface DeploymentObject extends KubeObject {
  spec?: { replicas?: number; template?: { spec?: { containers?: { image?: string }[] } } };
  status?: { readyReplicas?: number };
}

interface EventObject extends KubeObject, Omit<RawEvent, "metadata"> {
  involvedObject?: { kind?: string; name?: string };
}

function relativeToRepo(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel.startsWith("..") ? p : rel || ".";
}

class Demo {
  readonly startedAt = Date.now();
  readonly style: Style;
  readonly out: Renderer;
  /** Real traffic through the data plane, or the simulator (and why). */
  readonly traffic: TrafficChoice;
  /** Real traffic: rebuilt with the env file's GATEWAY once the cluster is up. */
  example: ReturnType<typeof loadExample>;
  readonly #abort = new AbortController();
  #signal: NodeJS.Signals | undefined;
  #clusterRun: ClusterShRun | undefined;
  #clusterStarted = false;
  #env: Record<string, string> = {};
  #client: KubeClient | undefined;
  #rest: KubeRest | undefined;
  #controller: Service | undefined;
  #simulator: Service | undefined;
  /** Real traffic: the demo's own requests, and who answered them. */
  #load: Load | undefined;
  readonly #meter = new TrafficMeter();
  /** When the release under way started (its failed requests are counted from then). */
  #releaseStartedAt: number | undefined;
  /** Plays Slack: the controller's alerts arrive here and are printed as a person would read them. */
  #slack: AlertReceiver | undefined;
  #stage = "starting";
  #events = new Map<string, number>();
  /** The Canary's Events, oldest first: what the status block's label of this release reads. */
  #canaryEvents: EventRecord[] = [];
  #pollFailingSince: number | undefined;
  #lastSnapshot: Snapshot = {};
  /** When the last release ended: its canary got no more requests from then on. */
  #canaryQuietSince: number | undefined;
  readonly results: ReleaseResult[] = [];

  constructor() {
    this.traffic = chooseTraffic(
      { dataplane: process.env.KANARIA_DATAPLANE, provider: process.env.KANARIA_DEMO_PROVIDER },
      dataplaneImpossible,
    );
    this.example = this.traffic.real
      ? realTrafficExample(loadExample(), DATAPLANE_GATEWAY)
      : exampleFor(loadExample(), this.traffic.provider);
    const tty = process.stdout.isTTY === true && process.env.TERM !== "dumb";
    this.style = makeStyle(tty && !("NO_COLOR" in process.env));
    const write = (s: string) => {
      process.stdout.write(s);
    };
    this.out = tty
      ? new TtyRenderer({
          write,
          style: this.style,
          startedAt: this.startedAt,
          columns: () => process.stdout.columns || 100,
        })
      : new PlainRenderer({ write, style: this.style, startedAt: this.startedAt });
  }

  get #spec(): CanarySpec {
    return this.example.canary.spec;
  }

  onSignal(signal: NodeJS.Signals): void {
    if (this.#signal) {
      this.out.log(this.style.yellow(`${signal}: still cleaning up, please wait`));
      return;
    }
    this.#signal = signal;
    this.out.log(this.style.yellow(`${signal}: stopping the demo and cleaning up ...`));
    this.#abort.abort();
    this.#clusterRun?.interrupt();
  }

  get signal(): NodeJS.Signals | undefined {
    return this.#signal;
  }

  #checkAborted(): void {
    if (this.#abort.signal.aborted) throw new Interrupted(`interrupted by ${this.#signal}`);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#abort.signal.aborted) {
        reject(new Interrupted(`interrupted by ${this.#signal}`));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Interrupted(`interrupted by ${this.#signal}`));
      };
      const timer = setTimeout(() => {
        this.#abort.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      this.#abort.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  step(text: string): void {
    this.out.log(`${this.style.cyan("==>")} ${this.style.bold(text)}`);
  }

  info(text: string): void {
    this.out.log(`    ${text}`);
  }

  // ---------------------------------------------------------------------------------------------
  // the run
  // ---------------------------------------------------------------------------------------------

  async run(): Promise<boolean> {
    this.#intro();
    await this.#startCluster();
    await this.#installCrds();
    if (!this.traffic.real) await this.#startSimulator();
    await this.#startController();
    await this.#applyExample();
    await this.#waitForScrape();
    await this.#waitForInitialized();
    if (this.traffic.real) await this.#startLoad();
    for (const [i, release] of RELEASES.entries()) {
      this.results.push(await this.#release(i + 1, release.tag, release.expected, this.#what(release)));
    }
    this.out.status(this.#view(this.#lastSnapshot));
    this.out.close();
    const { style } = this;
    const write = (line = "") => process.stdout.write(`${line}\n`);
    write();
    for (const line of summaryLines(this.results, style)) write(line);
    const ok = this.results.length === RELEASES.length && this.results.every(releaseOk);
    write(
      ok
        ? style.green("  OK: the good release was promoted and the bad one rolled back.")
        : style.red(
            "  NOT OK: kanaria did not promote the good release and roll back the bad one (see above).",
          ),
    );
    write();
    this.#kubectlHints(write);
    return ok;
  }

  #intro(): void {
    const { style } = this;
    const spec = this.#spec;
    const a = spec.analysis;
    const metrics = (a.metrics ?? [])
      .map((m) => {
        const r = m.thresholdRange;
        const range = [r?.min !== undefined ? `min ${r.min}` : "", r?.max !== undefined ? `max ${r.max}` : ""]
          .filter(Boolean)
          .join(", ");
        return `${m.name} (${range}) over ${m.interval ?? "1m"}`;
      })
      .join(" and ");
    const real = this.traffic.real;
    const lines = [
      style.bold("kanaria demo: progressive delivery of podinfo on a local Kubernetes control plane"),
      `  Releases: ${RELEASES.map((r) => `${r.tag}, ${this.#what(r)} (expect: ${r.expected})`).join("; then ")}.`,
      "  Cluster:  etcd, kube-apiserver, controller-manager and scheduler; KWOK stands in for the nodes",
      ...(real
        ? [
            "            and each podinfo pod runs as a real podinfo process on its pod IP, in a network",
            "            namespace of its own with Traefik (cluster.sh's data plane).",
            `  Traffic:  real: the demo sends ${RPS} req/s through Traefik, which splits them by the HTTPRoute's`,
            "            weights; the split is counted from the answers. The built-in checks read Traefik's",
            "            series because the Gateway's class is Traefik's (the controller's BuiltinMetrics event).",
          ]
        : [
            "            (pods are scheduled and become ready, but no containers run).",
            this.traffic.provider === "gatewayapi"
              ? `  Traffic:  a simulator plays an Envoy-based Gateway: ${RPS} req/s split by the HTTPRoute's weights, the`
              : `  Traffic:  a simulator plays ingress-nginx: ${RPS} req/s split by the canary Ingress' weight, the`,
            "            request metrics of each version scraped by Prometheus.",
            style.yellow(`            ${this.traffic.simulatorBecause ?? "the simulator"}.`),
          ]),
      `  Canary:   ${relativeToRepo(EXAMPLES_DIR)}/: provider ${spec.provider}, +${a.stepWeight ?? "?"}% every ${a.interval ?? "60s"} up to ${a.maxWeight ?? 100}%, then promotion;`,
      `            checks ${metrics || "(none)"};`,
      `            rollback after ${a.threshold ?? 1} failed check${(a.threshold ?? 1) === 1 ? "" : "s"}.`,
      "",
    ];
    for (const line of lines) this.out.log(line);
  }

  /** What a release is, in the words of the traffic it meets. */
  #what(r: (typeof RELEASES)[number]): string {
    return (this.traffic.real ? REAL_BEHAVIOUR[r.tag] : undefined) ?? r.what;
  }

  async #startCluster(): Promise<void> {
    const { style } = this;
    const real = this.traffic.real;
    this.step(
      `Starting the local control plane, Prometheus and moto${real ? ", and the data plane (Traefik, podinfo processes)," : ""} in ${relativeToRepo(DEMO_DIR)}`,
    );
    // cluster.sh knows "traefik" and empty only: the demo's own choice, whatever the caller's variable said.
    const env = { ...process.env, KANARIA_CLUSTER_DIR: DEMO_DIR, KANARIA_DATAPLANE: real ? "traefik" : "" };
    if (existsSync(path.join(DEMO_DIR, "env"))) {
      this.info("stopping the cluster a previous demo left running");
      await clusterSh(["down"], env, () => {}).done;
    }
    rmSync(LOG_DIR, { recursive: true, force: true });
    mkdirSync(LOG_DIR, { recursive: true });
    const missing = missingBinaries({ dataplane: real });
    if (missing.length > 0) this.out.log(style.yellow(firstRunNotice(missing, real)));
    // Unless the cluster is to be kept, cluster.sh's watchdog stops it even if this process is killed outright.
    const upEnv = KEEP ? env : { ...env, KANARIA_CLUSTER_OWNER_PID: String(process.pid) };
    this.#clusterStarted = true;
    const started = Date.now();
    this.#clusterRun = clusterSh(["up"], upEnv, (line) => this.out.log(style.dim(`    ${line}`)));
    const code = await this.#clusterRun.done;
    this.#clusterRun = undefined;
    this.#checkAborted();
    if (code !== 0) {
      throw new Error(
        `test/cluster/cluster.sh up failed (exit code ${code}): see its messages above and ${relativeToRepo(LOG_DIR)}/`,
      );
    }
    this.#env = readEnvFile(path.join(DEMO_DIR, "env"));
    if (real) {
      if (!this.#env.PROXY_URL || !this.#env.GATEWAY)
        throw new Error(
          `${DEMO_DIR}/env has no PROXY_URL or GATEWAY: cluster.sh up did not start the data plane`,
        );
      this.example = realTrafficExample(loadExample(), this.#env.GATEWAY);
    }
    const kubeconfig = this.#kubeconfigPath();
    const connection = loadConnection(kubeconfig);
    this.#client = createKubeClient(connection, pino({ level: "silent" }));
    this.#rest = new KubeRest(connection);
    this.info(`cluster ready in ${duration(Date.now() - started)}: KUBECONFIG=${kubeconfig}`);
    this.info(
      style.dim(
        `watch along in another terminal: KUBECONFIG=${kubeconfig} kubectl -n ${this.example.namespace} get canary -w`,
      ),
    );
  }

  #kubeconfigPath(): string {
    const kubeconfig = this.#env.KUBECONFIG;
    if (!kubeconfig) throw new Error(`${DEMO_DIR}/env has no KUBECONFIG`);
    return kubeconfig;
  }

  #prometheusUrl(): string {
    const url = this.#env.PROMETHEUS_URL;
    if (!url) throw new Error(`${DEMO_DIR}/env has no PROMETHEUS_URL`);
    return url;
  }

  async #installCrds(): Promise<void> {
    this.#checkAborted();
    // With the data plane, cluster.sh has installed Gateway API's CRDs for Traefik already.
    const gatewayApi =
      this.traffic.provider === "gatewayapi" && !this.traffic.real ? gatewayApiCrdFiles() : [];
    this.step(`Installing the CRDs (crds/*.yaml${gatewayApi.length > 0 ? " and Gateway API's" : ""})`);
    const files = [...yamlFilesIn(path.join(REPO_ROOT, "crds")), ...gatewayApi];
    const names = await installCrds(this.#kubeconfigPath(), files, {
      fieldManager: FIELD_MANAGER,
    });
    this.info(`established: ${names.join(", ")}`);
  }

  async #startSimulator(): Promise<void> {
    this.#checkAborted();
    const { namespace, name } = this.example;
    const through = this.traffic.provider === "gatewayapi" ? "its HTTPRoute" : "its Ingress";
    this.step(`Starting the traffic simulator (${RPS} req/s to ${name}.${namespace} through ${through})`);
    const portFile = path.join(DEMO_DIR, "simulator.port");
    rmSync(portFile, { force: true });
    const profiles = Object.entries(PROFILES).flatMap(([tag, p]) => [
      "--profile",
      `${IMAGE_REPO}:${tag}=${p.successRate},${p.p50},${p.p99}`,
    ]);
    this.#simulator = new Service(
      "simulator",
      process.execPath,
      [
        path.join(REPO_ROOT, "test/simulator/main.ts"),
        "--kubeconfig",
        this.#kubeconfigPath(),
        "--namespace",
        namespace,
        "--target",
        name,
        ...(this.traffic.provider === "gatewayapi"
          ? ["--router", "gatewayapi"]
          : ["--ingress", this.#spec.ingressRef?.name ?? name]),
        "--rps",
        String(RPS),
        ...profiles,
        "--prometheus-targets-dir",
        this.#env.PROMETHEUS_TARGETS_DIR ?? path.join(DEMO_DIR, "prometheus/targets"),
        "--port-file",
        portFile,
      ],
      { logFile: path.join(LOG_DIR, "simulator.log") },
    );
    const deadline = Date.now() + 30_000;
    while (!existsSync(portFile) || readFileSync(portFile, "utf8").trim() === "") {
      this.#checkChildren();
      if (Date.now() > deadline)
        throw new Error(`the simulator did not start within 30s; log: ${this.#simulator.logFile}`);
      await this.#sleep(200);
    }
    const port = readFileSync(portFile, "utf8").trim();
    for (const [tag, p] of Object.entries(PROFILES)) {
      this.info(
        `podinfo ${tag}: ${Math.round(p.successRate * 1000) / 10}% of requests succeed, latency p50 ${p.p50} ms, p99 ${p.p99} ms`,
      );
    }
    this.info(
      this.style.dim(
        `metrics: http://127.0.0.1:${port}/metrics; log: ${relativeToRepo(this.#simulator.logFile)}`,
      ),
    );
  }

  async #startController(): Promise<void> {
    this.#checkAborted();
    const { namespace } = this.example;
    this.step(
      `Starting the kanaria controller (namespace ${namespace}, metrics from Prometheus ${this.#prometheusUrl()})`,
    );
    this.#slack = await startAlertReceiver({ onMessage: (m) => this.#showSlackMessage(m.body) });
    this.#controller = new Service(
      "controller",
      process.execPath,
      [
        path.join(REPO_ROOT, "src/cli/main.ts"),
        "controller",
        "--kubeconfig",
        this.#kubeconfigPath(),
        "--namespace",
        namespace,
        "--metrics-server",
        this.#prometheusUrl(),
        "--log-level",
        "info",
        // any free port: a fixed one could be taken by another run on this machine
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--alert-provider",
        `${namespace}/${DEMO_ALERT_PROVIDER}`,
        "--cluster-name",
        "kanaria-demo",
      ],
      { logFile: path.join(LOG_DIR, "controller.log") },
    );
    this.info(this.style.dim(`log: ${relativeToRepo(this.#controller.logFile)}`));
  }

  async #applyExample(): Promise<void> {
    this.#checkAborted();
    const files = [...new Set(this.example.objects.map((o) => o.file))];
    const shown = files.map(relativeToRepo);
    this.step(`Applying ${[shown.slice(0, -1).join(", "), shown.at(-1)].filter(Boolean).join(" and ")}`);
    for (const file of files) {
      const applied: string[] = [];
      for (const { obj } of this.example.objects.filter((o) => o.file === file)) {
        await this.#serverSideApply(obj);
        applied.push(`${obj.kind} ${obj.metadata.name}`);
      }
      this.info(`${path.basename(file)}: ${applied.join(", ")}`);
    }
    await this.#serverSideApply(this.#alertProvider());
    this.info(
      `AlertProvider ${DEMO_ALERT_PROVIDER}: Slack messages go to a local receiver and are shown here`,
    );
  }

  /** A Slack incoming webhook played by the local receiver (the controller's --alert-provider). */
  #alertProvider(): KubeObject {
    if (!this.#slack) throw new Error("the Slack receiver is not running");
    return {
      apiVersion: API_VERSION,
      kind: "AlertProvider",
      metadata: { name: DEMO_ALERT_PROVIDER, namespace: this.example.namespace },
      spec: { type: "slack", address: this.#slack.slackWebhook("T0DEMO/B0DEMO/demo") },
    } as KubeObject;
  }

  #showSlackMessage(payload: unknown): void {
    const [first = "", ...rest] = readableSlackMessage(payload).split("\n");
    this.out.log(`    ${this.style.cyan("slack>")} ${this.style.bold(first)}`);
    for (const line of rest) this.out.log(`    ${"      "} ${line}`);
  }

  async #serverSideApply(obj: KubeObject): Promise<void> {
    const rest = this.#restClient();
    const p = await rest.resourcePath({
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    });
    try {
      await rest.request("PATCH", p, {
        query: { fieldManager: FIELD_MANAGER, force: true },
        body: obj,
        contentType: PatchStrategy.ServerSideApply,
      });
    } catch (err) {
      throw new Error(
        `applying ${obj.kind} ${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  #restClient(): KubeRest {
    if (!this.#rest) throw new Error("no cluster connection");
    return this.#rest;
  }

  #kubeClient(): KubeClient {
    if (!this.#client) throw new Error("no cluster connection");
    return this.#client;
  }

  /** Until Prometheus scrapes the simulator, or Traefik: checks before that would find no data. */
  async #waitForScrape(): Promise<void> {
    const job = this.traffic.real ? "traefik" : "simulator";
    const query = new URL("/api/v1/query", this.#prometheusUrl());
    query.searchParams.set("query", `up{job="${job}"}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      this.#checkChildren();
      try {
        const res = await fetch(query, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
        if (body.data?.result?.some((r) => r.value?.[1] === "1")) break;
      } catch {
        // Not yet.
      }
      if (Date.now() > deadline)
        throw new Error(
          `Prometheus did not scrape the ${job} within 60s (query up{job="${job}"} at ${this.#prometheusUrl()})`,
        );
      await this.#sleep(500);
    }
    this.info(`Prometheus scrapes ${job === "traefik" ? "Traefik" : "the simulator"}`);
  }

  /**
   * Real traffic: steady requests through Traefik from here on, once it serves the route kanaria made
   * (before that its answer is a 404 that would count as a failure).
   */
  async #startLoad(): Promise<void> {
    this.#checkAborted();
    const proxyUrl = this.#env.PROXY_URL ?? "";
    const host = this.example.canary.spec.service.hosts?.[0] ?? "";
    this.step(`Sending ${RPS} req/s to ${host} through Traefik (${proxyUrl}) until the end of the demo`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      this.#checkChildren();
      const answer = await sendOne(proxyUrl, host);
      if ("release" in answer) break;
      if (Date.now() > deadline)
        throw new Error(
          `Traefik did not serve ${host} within 30s (last answer: ${answer.failure}); see ${relativeToRepo(LOG_DIR)}/traefik.log`,
        );
      await this.#sleep(250);
    }
    this.#load = startLoad({
      url: proxyUrl,
      host,
      rps: RPS,
      onOutcome: (at, o) => this.#meter.record(at, o),
    });
    this.info(
      `the view's "measured" line counts who answered the last ${MEASURE_WINDOW_S}s of them (each release's podinfo answers with its tag)`,
    );
  }

  async #waitForInitialized(): Promise<void> {
    const { namespace, name } = this.example;
    this.#stage = `initializing: creating ${name}-primary and the Services`;
    this.step(
      `Waiting for the Canary ${namespace}/${name} to initialize (${tagOf(this.example.startImage)} becomes ${name}-primary)`,
    );
    await this.#watchUntil("the Canary to be Initialized", INIT_TIMEOUT_MS, (s) =>
      s.canary?.status?.phase === "Initialized" ? true : undefined,
    );
  }

  async #release(index: number, tag: string, expected: Outcome, what: string): Promise<ReleaseResult> {
    const { namespace, name, container } = this.example;
    const image = `${IMAGE_REPO}:${tag}`;
    const a = this.#spec.analysis;
    const threshold = a.threshold ?? 1;
    const before = this.#lastSnapshot.canary?.status?.lastAppliedSpec;
    const real = this.traffic.real;
    this.#stage = `release ${index}/${RELEASES.length}: ${tag}, ${what} (expect: ${expected})`;
    this.out.log("");
    this.step(`Release ${index}/${RELEASES.length}: ${tag}, ${what}; expect: ${expected}`);
    await this.#waitForQuietWindow();
    // A strategic merge patch, as `kubectl set image` sends: merges the container by name. On real
    // traffic it also sets the message podinfo answers with and the release's podinfo flags.
    const patch = real
      ? releasePatch(container, image)
      : { spec: { template: { spec: { containers: [{ name: container, image }] } } } };
    this.info(
      this.style.dim(
        real
          ? `kubectl -n ${namespace} patch deployment/${name} -p '${JSON.stringify(patch)}'`
          : `kubectl -n ${namespace} set image deployment/${name} ${container}=${image}`,
      ),
    );
    const started = Date.now();
    this.#releaseStartedAt = started;
    const rest = this.#restClient();
    const p = await rest.resourcePath({ apiVersion: "apps/v1", kind: "Deployment", namespace, name });
    await rest.request("PATCH", p, {
      query: { fieldManager: FIELD_MANAGER },
      body: patch,
      contentType: PatchStrategy.StrategicMergePatch,
    });

    const weights: number[] = [];
    const stepTimes = new Set<string>();
    let failedChecks = 0;
    let lastChecks: CheckStatus[] = [];
    // Real traffic: each weight the HTTPRoute held during the analysis, from when the demo saw it, and
    // what its requests met.
    let step: { weight: number; since: number } | undefined;
    const steps: ReleaseTraffic["steps"] = [];
    const closeStep = (at: number) => {
      if (!step) return;
      const t = this.#meter.between(step.since + STEP_SETTLE_MS, at);
      const answered = t.byRelease.find(([r]) => r === tag)?.[1] ?? 0;
      steps.push({ weight: step.weight, answered, requests: t.total });
      this.info(
        `HTTPRoute at canary weight ${step.weight}% for ${duration(at - step.since)}: ${stepText(t, tag)}`,
      );
    };
    const trafficSoFar = (): ReleaseTraffic | undefined => {
      if (!real) return undefined;
      const t = this.#meter.between(started, Date.now());
      return { requests: t.total, failed: t.failed, failures: failureText(t), steps };
    };
    const result = (outcome: Outcome | undefined, reason?: string): ReleaseResult => {
      if (outcome) this.#canaryQuietSince = Date.now();
      if (real) closeStep(Date.now());
      step = undefined;
      const traffic = trafficSoFar();
      return {
        index,
        total: RELEASES.length,
        image,
        expected,
        outcome,
        durationMs: Date.now() - started,
        weights,
        steps: stepTimes.size,
        failedChecks,
        threshold,
        ...(reason ? { reason } : {}),
        ...(traffic ? { traffic } : {}),
      };
    };
    try {
      return await this.#watchUntil(
        `release ${tag} to be promoted or rolled back`,
        RELEASE_TIMEOUT_MS,
        (s) => {
          const status = s.canary?.status;
          // Until the controller has picked up the new revision, the status is the previous release's.
          if (!status || status.lastAppliedSpec === before) return undefined;
          if (real) {
            // A step is a weight held while Progressing: once the phase moves on (Promoting: the primary
            // rolls out the new release too), answers no longer tell the canary's share.
            const progressing = status.phase === "Progressing";
            const now = Date.now();
            if (step && (!progressing || s.routeWeight !== step.weight)) {
              closeStep(now);
              step = undefined;
            }
            if (!step && progressing && s.routeWeight !== undefined && s.routeWeight > 0)
              step = { weight: s.routeWeight, since: now };
          }
          const w = status.canaryWeight ?? 0;
          if (w > 0 && weights.at(-1) !== w) weights.push(w);
          if (status.checks?.length) {
            lastChecks = status.checks;
            stepTimes.add(status.checks.map((c) => c.time).join(","));
          }
          failedChecks = Math.max(failedChecks, status.failedChecks ?? 0);
          if (status.phase === "Succeeded") return result("promoted");
          if (status.phase === "Failed") {
            const failed = lastChecks.filter((c) => c.result !== "pass");
            const message = status.conditions?.find((c) => c.type === "Promoted")?.message;
            return result(
              "rolled back",
              failed.length > 0 ? failed.map((c) => c.message).join("; ") : message,
            );
          }
          return undefined;
        },
      );
    } catch (err) {
      if (!(err instanceof TimedOut)) throw err;
      this.out.log(this.style.red(`    ${err instanceof Error ? err.message : String(err)}`));
      return result(undefined);
    }
  }

  /**
   * The checks' queries select the canary's requests by its backend (the canary Ingress' for the
   * built-in nginx ones, the canary Service's in Traefik's series on real traffic), which is the same
   * for every release: a check whose metric window still holds the previous release's canary requests
   * would judge both releases at once. So a release waits until the longest metric interval
   * has passed since the previous one ended.
   */
  async #waitForQuietWindow(): Promise<void> {
    if (this.#canaryQuietSince === undefined) return;
    const windowMs = Math.max(
      0,
      ...(this.#spec.analysis.metrics ?? []).map((m) => parseDuration(m.interval ?? "1m")),
    );
    const until = this.#canaryQuietSince + windowMs + 2_000;
    if (until <= Date.now()) return;
    const previous = this.results.at(-1);
    this.info(
      `waiting ${duration(until - Date.now())} until the ${duration(windowMs)} metric window holds no canary requests of ${previous ? tagOf(previous.image) : "the last release"} (the checks' queries cannot tell releases apart)`,
    );
    await this.#watchUntil("the metric window", windowMs + 10_000, () =>
      Date.now() >= until ? true : undefined,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // watching
  // ---------------------------------------------------------------------------------------------

  #checkChildren(): void {
    this.#checkAborted();
    for (const service of [this.#controller, this.#simulator]) {
      if (service?.exit) {
        throw new Error(
          `the ${service.name} ${describeExit(service.exit)}; the end of its log (${relativeToRepo(service.logFile)}):\n${tailOf(service.logFile)}`,
        );
      }
    }
  }

  /** Polls the cluster, rendering each snapshot and logging new events, until `done` returns a value. */
  async #watchUntil<T>(what: string, timeoutMs: number, done: (s: Snapshot) => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#checkChildren();
      const snapshot = await this.#poll();
      const value = done(snapshot);
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        const status = snapshot.canary?.status;
        const message = status?.conditions?.find((c) => c.type === "Promoted")?.message;
        throw new TimedOut(
          `timed out after ${duration(timeoutMs)} waiting for ${what}; the Canary is in phase ${status?.phase ?? "(none)"}${message ? `: ${message}` : ""}`,
        );
      }
      await this.#sleep(POLL_MS);
    }
  }

  async #poll(): Promise<Snapshot> {
    const client = this.#kubeClient();
    const { namespace, name } = this.example;
    try {
      const [canary, primary, target, events, route] = await Promise.all([
        client.get<Canary & KubeObject>({ apiVersion: API_VERSION, kind: "Canary", namespace, name }),
        client.get<DeploymentObject>({
          apiVersion: "apps/v1",
          kind: "Deployment",
          namespace,
          name: `${name}-primary`,
        }),
        client.get<DeploymentObject>({ apiVersion: "apps/v1", kind: "Deployment", namespace, name }),
        client.list<EventObject>("v1", "Event", namespace),
        this.traffic.real
          ? client.get<RouteObject>({
              apiVersion: "gateway.networking.k8s.io/v1",
              kind: "HTTPRoute",
              namespace,
              name,
            })
          : undefined,
      ]);
      this.#pollFailingSince = undefined;
      this.#logNewEvents(events);
      const routeWeight = canaryWeightOn(route, name);
      this.#lastSnapshot = {
        canary,
        primary: deploymentView(primary),
        target: deploymentView(target),
        ...(routeWeight !== undefined ? { routeWeight } : {}),
      };
      this.out.status(this.#view(this.#lastSnapshot));
    } catch (err) {
      // A slow or restarting API server: keep showing the last state for a while.
      this.#pollFailingSince ??= Date.now();
      if (Date.now() - this.#pollFailingSince > 30_000) {
        throw new Error(
          `reading the Canary failed for 30s: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    return this.#lastSnapshot;
  }

  #logNewEvents(events: EventObject[]): void {
    const { name } = this.example;
    const mine = events.filter((e) => e.involvedObject?.kind === "Canary" && e.involvedObject.name === name);
    this.#canaryEvents = eventRecords(mine);
    const fresh = mine
      .filter((e) => (this.#events.get(e.metadata.name) ?? 0) < (e.count ?? 1))
      .sort(compareEvents);
    for (const e of fresh) {
      this.#events.set(e.metadata.name, e.count ?? 1);
      const event: EventLineInput = {
        type: e.type ?? "Normal",
        reason: e.reason ?? "",
        message: e.message ?? "",
        count: e.count ?? 1,
      };
      this.out.log(eventLine(event, this.style));
    }
  }

  #view(s: Snapshot): CanaryView {
    const { namespace, name } = this.example;
    const status = s.canary?.status;
    const a = this.#spec.analysis;
    return {
      title: `${name}.${namespace}`,
      stage: this.#stage,
      phase: status?.phase,
      canaryWeight: status?.canaryWeight,
      release: s.canary ? releaseLabel(s.canary, this.#canaryEvents) : "not created yet",
      failedChecks: status?.failedChecks,
      threshold: a.threshold ?? 1,
      checks: status?.checks,
      message: status?.conditions?.find((c) => c.type === "Promoted")?.message,
      primary: s.primary,
      canary: s.target,
      // Until the demo's requests start (the route is served once the Canary is initialized).
      ...(this.#load ? { measured: this.#measured(s) } : {}),
    };
  }

  /** The last seconds' answers by release: the primary's first, then the canary's, then any other. */
  #measured(s: Snapshot): MeasuredView {
    const now = Date.now();
    const t = this.#meter.between(now - MEASURE_WINDOW_S * 1000, now);
    const primaryTag = s.primary ? tagOf(s.primary.image) : undefined;
    const canaryTag = s.target ? tagOf(s.target.image) : undefined;
    const role = (release: string) =>
      release === primaryTag ? `primary ${release}` : release === canaryTag ? `canary ${release}` : release;
    const rank = (release: string) => (release === primaryTag ? 0 : release === canaryTag ? 1 : 2);
    const answers = [...t.byRelease]
      .sort((a, b) => rank(a[0]) - rank(b[0]))
      .map(([release, count]) => ({ label: role(release), count }));
    return {
      windowSeconds: MEASURE_WINDOW_S,
      answers,
      failed: t.failed,
      ...(s.routeWeight !== undefined ? { routeWeight: s.routeWeight, routeKind: "HTTPRoute" } : {}),
      ...(this.#releaseStartedAt !== undefined
        ? { failedThisRelease: this.#meter.between(this.#releaseStartedAt, now).failed }
        : {}),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // the end
  // ---------------------------------------------------------------------------------------------

  #kubectlHints(write: (line?: string) => void): void {
    const { namespace, name } = this.example;
    const hints = closingHints({
      keep: KEEP,
      kubeconfig: this.#env.KUBECONFIG,
      namespace,
      name,
      route: this.traffic.provider === "gatewayapi" ? "httproute" : "ingress",
      demoDir: relativeToRepo(DEMO_DIR),
      ...(this.traffic.real && this.#env.PROXY_URL
        ? { proxy: { url: this.#env.PROXY_URL, host: this.example.canary.spec.service.hosts?.[0] ?? "" } }
        : {}),
    });
    for (const [i, line] of hints.entries()) write(i === 0 ? this.style.bold(line) : line);
    write();
  }

  /** Stops everything this run started; safe to call more than once and after any failure. */
  async cleanup(): Promise<void> {
    const log = (line: string) => process.stdout.write(`${this.style.dim(line)}\n`);
    this.out.close();
    if (this.#load) {
      const load = this.#load;
      this.#load = undefined;
      await load.stop();
      log("stopped the demo's requests");
    }
    for (const service of [this.#controller, this.#simulator]) {
      if (!service) continue;
      const exit = await service.stop();
      log(`stopped the ${service.name} (${exit.signal ? exit.signal : `exit code ${exit.code}`})`);
    }
    this.#controller = undefined;
    this.#simulator = undefined;
    await this.#slack?.close();
    this.#slack = undefined;
    if (!this.#clusterStarted) return;
    this.#clusterStarted = false;
    if (KEEP) {
      log(`the cluster in ${relativeToRepo(DEMO_DIR)} keeps running (KANARIA_DEMO_KEEP=1)`);
      return;
    }
    const code = await clusterSh(["down"], { ...process.env, KANARIA_CLUSTER_DIR: DEMO_DIR }, (line) =>
      log(line),
    ).done;
    if (code !== 0) {
      log(
        `cluster.sh down exited ${code}: check for leftovers with KANARIA_CLUSTER_DIR=${DEMO_DIR} bash test/cluster/cluster.sh status`,
      );
      return;
    }
    // Keep the logs for a look afterwards; drop etcd's and Prometheus' data, the keys and the rest.
    for (const entry of existsSync(DEMO_DIR) ? readdirSync(DEMO_DIR) : []) {
      if (entry !== "logs") rmSync(path.join(DEMO_DIR, entry), { recursive: true, force: true });
    }
    log(`logs: ${relativeToRepo(LOG_DIR)}/`);
  }
}

/** The canary's weight in the HTTPRoute's weighted rule (the one naming both primary and canary). */
function canaryWeightOn(route: RouteObject | undefined, name: string): number | undefined {
  const weighted = route?.spec?.rules?.find((r) => (r.backendRefs?.length ?? 0) === 2);
  const ref = weighted?.backendRefs?.find((b) => b.name === `${name}-canary`);
  return ref ? (ref.weight ?? 1) : undefined;
}

function deploymentView(d: DeploymentObject | undefined): DeploymentView | undefined {
  if (!d) return undefined;
  return {
    name: d.metadata.name,
    image: d.spec?.template?.spec?.containers?.[0]?.image,
    replicas: d.spec?.replicas ?? 1,
    ready: d.status?.readyReplicas ?? 0,
  };
}

async function main(): Promise<number> {
  let demo: Demo;
  try {
    demo = new Demo();
  } catch (err) {
    process.stderr.write(`kanaria demo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const onSignal = (signal: NodeJS.Signals) => demo.onSignal(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  const ticker = setInterval(() => demo.out.tick(), 1000);
  let ok = false;
  let failure: unknown;
  try {
    ok = await demo.run();
  } catch (err) {
    failure = err;
  }
  clearInterval(ticker);
  demo.out.close();
  if (failure !== undefined && !(failure instanceof Interrupted)) {
    const message = failure instanceof Error ? failure.message : String(failure);
    process.stdout.write(`\n${demo.style.red(`kanaria demo failed: ${message}`)}\n`);
    process.stdout.write(
      `${demo.style.dim(`logs: ${relativeToRepo(LOG_DIR)}/ (controller.log, simulator.log, and the cluster's)${KEEP ? "" : "; KANARIA_DEMO_KEEP=1 keeps the cluster for a look"}`)}\n`,
    );
  }
  try {
    await demo.cleanup();
  } catch (err) {
    process.stdout.write(
      `${demo.style.red(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`)}\n`,
    );
    ok = false;
  }
  process.stdout.write(`total time ${duration(Date.now() - demo.startedAt)}\n`);
  if (demo.signal) return demo.signal === "SIGINT" ? 130 : demo.signal === "SIGHUP" ? 129 : 143;
  return ok ? 0 : 1;
}

process.exit(await main());
