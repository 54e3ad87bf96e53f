// The end of `make demo`: what each release was expected to do, what it did, and the summary lines.
// Demo-only, so it lives here and not in the shipped CLI (src/cli/view.ts has the live view both use).
import { type Style, tagOf } from "../../src/cli/view.ts";

/** "48s", "2m05s". */
export function duration(ms: number): string {
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total}s`;
  return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
}

export type Outcome = "promoted" | "rolled back";

export interface ReleaseResult {
  index: number;
  total: number;
  image: string;
  expected: Outcome;
  /** undefined: neither happened in time. */
  outcome?: Outcome;
  durationMs: number;
  /** Canary weights the release went through, in order. */
  weights: number[];
  /** Analysis steps run (checks evaluated). */
  steps: number;
  failedChecks: number;
  threshold: number;
  /** Why it was rolled back: the failed checks' messages (metric, value, range). */
  reason?: string;
  /** On real traffic: the demo's requests during the release, counted from the answers. */
  traffic?: ReleaseTraffic;
}

export interface ReleaseTraffic {
  requests: number;
  failed: number;
  /** Why they failed ("HTTP 500 ×4, HTTP 400 ×3"), "" when none did. */
  failures: string;
  /** Each step: the weight on the route and the share of its requests the new release answered. */
  steps: { weight: number; answered: number; requests: number }[];
}

function share(part: number, total: number): string {
  return total === 0 ? "-" : `${Math.round((part / total) * 1000) / 10}%`;
}

/** "traffic: 1,500 requests, 0 failed; the new release answered 19.6% at weight 20%, ...". */
export function trafficLine(t: ReleaseTraffic, tag: string): string {
  const failed = t.failed > 0 ? `${t.failed.toLocaleString("en-US")} failed (${t.failures})` : "0 failed";
  const steps = t.steps.map((s) => `${share(s.answered, s.requests)} at weight ${s.weight}%`).join(", ");
  return `traffic: ${t.requests.toLocaleString("en-US")} requests, ${failed}${steps ? `; ${tag} answered ${steps}` : ""}`;
}

export function releaseOk(r: ReleaseResult): boolean {
  return r.outcome === r.expected;
}

export function summaryLines(results: ReleaseResult[], style: Style): string[] {
  const lines = [style.bold("Summary")];
  for (const r of results) {
    const outcome = r.outcome ?? "neither promoted nor rolled back";
    const shown = releaseOk(r) ? style.green(outcome) : style.red(`${outcome} (expected: ${r.expected})`);
    const weights = r.weights.length > 0 ? ` at ${r.weights.map((w) => `${w}%`).join(" -> ")}` : "";
    const steps = `${r.steps} analysis step${r.steps === 1 ? "" : "s"}${weights}`;
    const failed = `failed checks ${r.failedChecks}/${r.threshold}`;
    lines.push(
      `  release ${r.index}/${r.total}  ${tagOf(r.image)}  ${shown} after ${duration(r.durationMs)}: ${steps}, ${failed}`,
    );
    if (r.traffic) lines.push(`      ${trafficLine(r.traffic, tagOf(r.image))}`);
    if (r.reason) lines.push(`      reason: ${r.reason}`);
  }
  return lines;
}

export interface HintsInput {
  /** KANARIA_DEMO_KEEP=1: the cluster stays up after the demo. */
  keep: boolean;
  kubeconfig: string | undefined;
  namespace: string;
  name: string;
  /** What carries the traffic split: the canary Ingress or the HTTPRoute. */
  route: "ingress" | "httproute";
  /** The demo's state dir, as the user can type it. */
  demoDir: string;
  /** Real traffic: Traefik's entrypoint (PROXY_URL) and the host the demo's requests went to. */
  proxy?: { url: string; host: string };
}

/**
 * The demo's last words: kubectl commands to look around only when the cluster is still there to
 * answer them (KANARIA_DEMO_KEEP=1); otherwise how to keep it next time.
 */
export function closingHints(h: HintsInput): string[] {
  if (!h.keep || !h.kubeconfig) {
    return [
      "The cluster is torn down now that the demo is over.",
      "  To look at the Canary, its Events and the routes with kubectl afterwards, keep it running:",
      "    KANARIA_DEMO_KEEP=1 make demo",
      `  The controller's and the cluster's logs stay in ${h.demoDir}/logs/.`,
    ];
  }
  const n = `kubectl -n ${h.namespace}`;
  return [
    "The cluster keeps running (KANARIA_DEMO_KEEP=1): look at the objects with kubectl.",
    `  export KUBECONFIG=${h.kubeconfig}`,
    `  ${n} get canaries,deployments,services,${h.route === "httproute" ? "httproutes" : "ingresses"}`,
    `  ${n} describe canary ${h.name}`,
    `  ${n} get events --field-selector involvedObject.kind=Canary --sort-by=.lastTimestamp`,
    `  ${n} get canary ${h.name} -o jsonpath='{range .status.checks[*]}{.message}{"\\n"}{end}'`,
    h.route === "httproute"
      ? `  ${n} get httproute ${h.name} -o yaml`
      : `  ${n} get ingress ${h.name}-canary -o yaml`,
    ...(h.proxy
      ? [
          `  curl -s -H 'Host: ${h.proxy.host}' ${h.proxy.url}/   # podinfo through Traefik, as the demo's requests went`,
        ]
      : []),
    `  The controller and ${h.proxy ? "the demo's requests" : "the simulator"} are stopped. Stop the cluster with (the next make demo does, too):`,
    `    KANARIA_CLUSTER_DIR=${h.demoDir} bash test/cluster/cluster.sh down`,
  ];
}
