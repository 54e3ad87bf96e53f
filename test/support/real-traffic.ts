// Requests through the real data plane (KANARIA_DATAPLANE=traefik) for the test/e2e/real-traffic*.test.ts
// files: podinfo Deployments whose answers name their release, and GETs through Traefik's web
// entrypoint counted by that name. Without a data plane nothing here may be called (the files skip).
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { type DataPlane, inject } from "vitest";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { testClient } from "./canary-observer.ts";
import { useController } from "./controller.ts";
import { type GateServer, useGateServer } from "./gate-server.ts";
import { useNamespace, waitFor } from "./k8s.ts";
import { IMAGE } from "./manifests.ts";

/**
 * The data plane of the test cluster, undefined when it has none (the real-traffic files then skip).
 * Throws when KANARIA_DATAPLANE asks for one and the cluster lacks it, so a wrong cluster is not
 * mistaken for a skip.
 */
export function realDataPlane(): DataPlane | undefined {
  const dataplane = inject("dataplane");
  if (process.env.KANARIA_DATAPLANE === "traefik" && !dataplane) {
    throw new Error(
      "KANARIA_DATAPLANE=traefik but the test cluster has no data plane (no PROXY_URL in its env file)",
    );
  }
  return dataplane;
}

/**
 * What each real-traffic e2e file sets up: the data plane (undefined: the file skips), a namespace of
 * its own with a controller process watching it, and a gate server for the webhooks that hold or turn
 * down a release.
 */
export function useRealTraffic(namespacePrefix: string): {
  dataplane: DataPlane | undefined;
  ns: string;
  client: KubeClient;
  gates: GateServer;
} {
  const dataplane = realDataPlane();
  const ns = useNamespace(namespacePrefix);
  const client = testClient();
  useController(ns);
  const gates = useGateServer();
  return { dataplane, ns, client, gates };
}

/** namespace and name of the data plane's Gateway, for a Canary's spec.service.gatewayRefs. */
export function gatewayRef(): { namespace: string; name: string } {
  const [namespace = "", name = ""] = (inject("dataplane")?.gateway ?? "").split("/");
  return { namespace, name };
}

/**
 * The Traefik version the data plane runs: the one test/cluster/versions.env pins and cluster.sh
 * builds. Behaviour that differs between Traefik releases (filters on a backendRef) is asserted per
 * version, so moving the pin moves the expectation with it.
 */
export function traefikVersion(): [number, number, number] {
  const env = readFileSync(join(import.meta.dirname, "../cluster/versions.env"), "utf8");
  const m = /^TRAEFIK_VERSION=v(\d+)\.(\d+)\.(\d+)/m.exec(env);
  if (!m) throw new Error("test/cluster/versions.env has no TRAEFIK_VERSION=vX.Y.Z line");
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** podinfo 6.9.2 answering with MESSAGE, ready on /readyz as in Flagger's podinfo manifests. */
export function podinfoApp(
  namespace: string,
  name: string,
  message: string,
  extraArgs: string[] = [],
  replicas = 1,
): KubeObject {
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "podinfod",
              image: `${IMAGE}:6.9.2`,
              command: ["./podinfo", "--port=9898", "--level=info", ...extraArgs],
              env: [{ name: "PODINFO_UI_MESSAGE", value: message }],
              ports: [{ name: "http", containerPort: 9898, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/readyz", port: 9898 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
  return deployment as KubeObject;
}

// 16: real-traffic-nginx.test.ts runs its three cases at once, each counting with 8 clients while a
// steady load of 4 runs; fewer sockets would queue requests behind each other's.
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

export interface Answer {
  status: number;
  /** podinfo's message ("" when the body is not podinfo's JSON, e.g. Traefik's 404 or 503 page). */
  message: string;
  /** Every Set-Cookie header of the response, as sent. */
  setCookie: string[];
}

/** One GET of PATH (default /) through Traefik's web entrypoint for HOST. */
export function get(host: string, headers: Record<string, string> = {}, path = "/"): Promise<Answer> {
  const url = new URL(inject("dataplane")?.proxyUrl ?? "http://127.0.0.1:1");
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, headers: { ...headers, host }, agent, timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let message = "";
          try {
            message =
              (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: string }).message ?? "";
          } catch {
            // not podinfo's JSON (e.g. Traefik's 404 or 503 page)
          }
          resolve({ status: res.statusCode ?? 0, message, setCookie: res.headers["set-cookie"] ?? [] });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

export interface Counted {
  byMessage: Map<string, number>;
  failed: number;
  /** The distinct Set-Cookie values of the 200 answers, by the message that carried them. */
  setCookieByMessage: Map<string, Set<string>>;
}

/** N requests, 8 at a time; how many each message answered, how many were not 200, the cookies set. */
export async function count(host: string, n: number, headers: Record<string, string> = {}): Promise<Counted> {
  const byMessage = new Map<string, number>();
  const setCookieByMessage = new Map<string, Set<string>>();
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await get(host, headers);
      if (r.status !== 200) {
        failed++;
        continue;
      }
      byMessage.set(r.message, (byMessage.get(r.message) ?? 0) + 1);
      const cookies = setCookieByMessage.get(r.message) ?? new Set<string>();
      for (const c of r.setCookie) cookies.add(c);
      setCookieByMessage.set(r.message, cookies);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { byMessage, failed, setCookieByMessage };
}

/**
 * Rounds of N requests for HOST (with HEADERS) until release GONE answers none of a round, as when its
 * last pod drains; resolves with that round and the requests that failed over all the rounds.
 */
export async function countUntilGone(
  host: string,
  n: number,
  gone: string,
  description: string,
  headers: Record<string, string> = {},
): Promise<{ last: Counted; failed: number }> {
  let failed = 0;
  const last = await waitFor(() => count(host, n, headers), {
    description,
    until: (r) => {
      failed += r.failed;
      return (r.byMessage.get(gone) ?? 0) === 0;
    },
    timeoutMs: 20_000,
  });
  return { last, failed };
}

/**
 * Waits until Traefik serves HOST: a new HTTPRoute or Ingress is a 404 until its provider has loaded it
 * (after the provider's throttle). WHAT names the object in the timeout message.
 */
export async function served(host: string, what: "HTTPRoute" | "Ingress" = "HTTPRoute"): Promise<void> {
  await waitFor(() => get(host), {
    description: `Traefik serving the ${what} for ${host}`,
    until: (r) => r.status === 200,
    timeoutMs: 20_000,
  });
}

/** Requests from 4 clients, each at most one per 20 ms (~200/s), until stop() is called; stop() resolves with what answered and what failed. */
export function steadyLoad(host: string): {
  stop: () => Promise<{ byMessage: Map<string, number>; failed: string[] }>;
} {
  const byMessage = new Map<string, number>();
  const failed: string[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await get(host);
        if (r.status !== 200) failed.push(`HTTP ${r.status}`);
        else byMessage.set(r.message, (byMessage.get(r.message) ?? 0) + 1);
      } catch (err) {
        failed.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Promise.all(Array.from({ length: 4 }, worker));
  return {
    async stop() {
      running = false;
      await workers;
      return { byMessage, failed };
    },
  };
}
