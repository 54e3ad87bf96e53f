/**
 * App Mesh (appmesh.k8s.aws/v1beta2) objects for a Canary, as Flagger's appmesh v1beta2 router makes
 * them: VirtualNodes <apex>-primary and <apex>-canary, VirtualRouters <apex> (the split) and
 * <apex>-canary (everything to the canary), VirtualServices <apex> and <apex>-canary. Pure: settings()
 * turns a Canary (plus what it needs of the target Deployment) into MeshSettings, the build functions
 * turn those into objects, parseRoutes() reads a split back.
 */
import type { V1OwnerReference } from "@kubernetes/client-node";
import type { Canary } from "../../api/canary.ts";
import { parseDuration } from "../../api/common.ts";
import type { KubeObject } from "../../kube/types.ts";
import { canaryKey, canaryNamespace } from "../../workloads/meta.ts";
import type { SelectorLabel } from "../../workloads/selector.ts";
import { serviceNames } from "../../workloads/services.ts";
import { RouterConfigError } from "../errors.ts";
import type { Routes } from "../router.ts";

export const APPMESH_API_VERSION = "appmesh.k8s.aws/v1beta2";
/** Flagger's annotation that turns on Envoy access logs to stdout in the generated virtual nodes. */
export const ACCESS_LOG_ANNOTATION = "appmesh.flagger.app/accesslog";

export type MeshProtocol = "http" | "http2" | "grpc" | "tcp";

export interface MeshDuration {
  unit: "ms" | "s";
  value: number;
}

export interface WeightedTarget {
  virtualNodeRef: { name: string };
  weight: number;
}

export interface HeaderMatch {
  name: string;
  match: { exact?: string; prefix?: string; suffix?: string; regex?: string };
}

export interface RetryPolicy {
  maxRetries: number;
  perRetryTimeout: MeshDuration;
  httpRetryEvents?: string[];
  tcpRetryEvents?: string[];
  grpcRetryEvents?: string[];
}

interface RouteBody {
  match?: { prefix?: string; headers?: HeaderMatch[]; metadata?: HeaderMatch[] };
  action: { weightedTargets: WeightedTarget[] };
  timeout?: { perRequest?: MeshDuration; idle?: MeshDuration };
  retryPolicy?: RetryPolicy;
}

export interface MeshRoute {
  name: string;
  priority?: number;
  httpRoute?: RouteBody;
  http2Route?: RouteBody;
  grpcRoute?: RouteBody;
  tcpRoute?: RouteBody;
}

/** The fields the App Mesh controller fills in (and then forbids changing): kept as found. */
export interface MeshIdentity {
  awsName?: string;
  meshRef?: { name: string; uid: string };
}

export type VirtualRouter = KubeObject & {
  spec: MeshIdentity & {
    listeners: { portMapping: { port: number; protocol: MeshProtocol } }[];
    routes: MeshRoute[];
  };
};
export type VirtualNode = KubeObject & { spec: MeshIdentity & Record<string, unknown> };
export type VirtualService = KubeObject & {
  spec: MeshIdentity & {
    provider: {
      virtualRouter?: { virtualRouterRef: { name: string } };
      virtualNode?: { virtualNodeRef: { name: string } };
    };
  };
};

/** Everything the objects are built from, resolved and checked once. */
export interface MeshSettings {
  namespace: string;
  /** Checked against the mesh of existing objects; unset with appmesh:v1beta2. */
  meshName: string | undefined;
  apex: string;
  primary: string;
  canary: string;
  /** Container port the Envoy listener forwards to. */
  port: number;
  protocol: MeshProtocol;
  /** App Mesh routes match on a URI prefix only: service.match[0].uri.prefix, else "/". */
  prefix: string;
  timeoutMs: number | undefined;
  retryPolicy: RetryPolicy | undefined;
  /** One header list per analysis.match entry: each becomes a prioritised route to the canary. */
  abMatches: HeaderMatch[][];
  backends: Record<string, unknown>[];
  accessLog: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hosts: string[];
  owner: V1OwnerReference;
}

const HTTP_RETRY_EVENTS = ["server-error", "gateway-error", "client-error", "stream-error"];
const GRPC_RETRY_EVENTS = ["cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"];
const TCP_RETRY_EVENTS = ["connection-error"];
/** Flagger's defaults for service.retries without retryOn/perTryTimeout/attempts. */
const DEFAULT_RETRY_ON = "gateway-error";
const DEFAULT_PER_TRY_MS = 250;
const DEFAULT_ATTEMPTS = 1;
/** App Mesh limits (VirtualRouter CRD): header name 50 characters, match value 255, 10 headers a route. */
const MAX_HEADER_NAME = 50;
const MAX_MATCH_VALUE = 255;
const MAX_HEADERS = 10;

function fail(canary: Canary, field: string, problem: string, fix: string): never {
  throw new RouterConfigError(`Canary ${canaryKey(canary)}: ${field} ${problem}; ${fix}`);
}

/** Listener protocol: service.appProtocol first, else the port name (as Flagger: "grpc" in it means gRPC). */
export function meshProtocol(canary: Canary): MeshProtocol {
  const svc = canary.spec.service;
  const app = svc.appProtocol?.toLowerCase();
  if (app === "grpc") return "grpc";
  if (app === "http2" || app === "kubernetes.io/h2c") return "http2";
  if (app === "tcp") return "tcp";
  if (app !== undefined) return "http";
  const name = (svc.portName ?? "http").toLowerCase();
  if (name.includes("grpc")) return "grpc";
  if (name.startsWith("http2") || name.startsWith("h2c")) return "http2";
  if (name.startsWith("tcp")) return "tcp";
  return "http";
}

function milliseconds(canary: Canary, field: string, text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    fail(canary, field, `is ${JSON.stringify(text)}, not a duration`, 'write it as e.g. "15s" or "500ms"');
  }
  if (!Number.isInteger(ms) || ms <= 0) {
    fail(canary, field, `is ${JSON.stringify(text)}`, "App Mesh takes whole milliseconds above 0");
  }
  return ms;
}

export const meshDuration = (ms: number): MeshDuration => ({ unit: "ms", value: ms });

function retryPolicy(canary: Canary, protocol: MeshProtocol): RetryPolicy | undefined {
  const retries = canary.spec.service.retries;
  if (!retries) return undefined;
  if (protocol === "tcp") {
    fail(
      canary,
      "spec.service.retries",
      "is set on a TCP port",
      "App Mesh TCP routes cannot retry: remove it, or use an HTTP port",
    );
  }
  const http: string[] = [];
  const grpc: string[] = [];
  const tcp: string[] = [];
  const tokens = (retries.retryOn ?? DEFAULT_RETRY_ON)
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  for (const token of tokens) {
    if (HTTP_RETRY_EVENTS.includes(token)) http.push(token);
    else if (TCP_RETRY_EVENTS.includes(token)) tcp.push(token);
    else if (protocol === "grpc" && GRPC_RETRY_EVENTS.includes(token)) grpc.push(token);
    else {
      const valid = [
        ...HTTP_RETRY_EVENTS,
        ...TCP_RETRY_EVENTS,
        ...(protocol === "grpc" ? GRPC_RETRY_EVENTS : []),
      ];
      fail(
        canary,
        "spec.service.retries.retryOn",
        `has ${JSON.stringify(token)}, which App Mesh does not retry on`,
        `use a comma-separated list of ${valid.join(", ")}`,
      );
    }
  }
  if (tokens.length === 0)
    fail(canary, "spec.service.retries.retryOn", "is empty", `list events, e.g. "${DEFAULT_RETRY_ON}"`);
  const perTry = retries.perTryTimeout
    ? milliseconds(canary, "spec.service.retries.perTryTimeout", retries.perTryTimeout)
    : DEFAULT_PER_TRY_MS;
  return {
    maxRetries: retries.attempts ?? DEFAULT_ATTEMPTS,
    perRetryTimeout: meshDuration(perTry),
    ...(http.length > 0 && { httpRetryEvents: http }),
    ...(tcp.length > 0 && { tcpRetryEvents: tcp }),
    ...(grpc.length > 0 && { grpcRetryEvents: grpc }),
  };
}

function routePrefix(canary: Canary): string {
  const matches = canary.spec.service.match ?? [];
  matches.forEach((m, i) => {
    const other = Object.keys(m).filter((k) => k !== "uri");
    const uriOps = Object.keys(m.uri ?? {}).filter((k) => k !== "prefix");
    if (i > 0 || other.length > 0 || uriOps.length > 0) {
      const field =
        i > 0 ? `spec.service.match[${i}]` : `spec.service.match[0].${other[0] ?? `uri.${uriOps[0]}`}`;
      fail(
        canary,
        field,
        "is set",
        "App Mesh routes take one URI prefix: keep only spec.service.match[0].uri.prefix",
      );
    }
  });
  return matches[0]?.uri?.prefix ?? "/";
}

function abMatches(canary: Canary, protocol: MeshProtocol): HeaderMatch[][] {
  const matches = canary.spec.analysis.match ?? [];
  if (matches.length > 0 && protocol === "tcp") {
    fail(
      canary,
      "spec.analysis.match",
      "is set on a TCP port",
      "App Mesh routes TCP by weight only: use stepWeight(s) or an HTTP port",
    );
  }
  return matches.map((m, i) => {
    const at = `spec.analysis.match[${i}]`;
    for (const field of ["uri", "method", "queryParams", "sourceLabels"] as const) {
      if (m[field] !== undefined)
        fail(canary, `${at}.${field}`, "is set", "the appmesh provider routes A/B traffic by headers only");
    }
    const headers = Object.entries(m.headers ?? {});
    if (headers.length === 0)
      fail(canary, at, "has no headers", "add a header match, e.g. headers: {x-canary: {exact: insider}}");
    if (headers.length > MAX_HEADERS)
      fail(
        canary,
        `${at}.headers`,
        `has ${headers.length} headers`,
        `App Mesh matches at most ${MAX_HEADERS} a route: split them over several matches`,
      );
    return headers.map(([name, value]) => {
      const ops = Object.entries(value).filter(([, v]) => v !== undefined);
      if (name.length > MAX_HEADER_NAME)
        fail(
          canary,
          `${at}.headers.${name}`,
          "is longer than 50 characters",
          "App Mesh header names are at most 50 characters",
        );
      if (ops.length !== 1)
        fail(
          canary,
          `${at}.headers.${name}`,
          `has ${ops.length} operators`,
          "set exactly one of exact, prefix, suffix or regex",
        );
      const [op, text] = ops[0] as [string, string];
      if (text.length === 0 || text.length > MAX_MATCH_VALUE) {
        fail(
          canary,
          `${at}.headers.${name}.${op}`,
          `is ${text.length} characters long`,
          "App Mesh matches 1 to 255 characters",
        );
      }
      return { name, match: { [op]: text } };
    });
  });
}

function backends(canary: Canary): Record<string, unknown>[] {
  return (canary.spec.service.backends ?? []).map((b, i) => {
    if (b.trim() === "")
      fail(canary, `spec.service.backends[${i}]`, "is empty", "name a virtual service or give its ARN");
    // As Flagger: an ARN names a virtual service anywhere, anything else one in the Canary's namespace.
    return {
      virtualService: b.startsWith("arn:aws") ? { virtualServiceARN: b } : { virtualServiceRef: { name: b } },
    };
  });
}

/**
 * Every setting the objects are built from, checked (check() runs this without the cluster). `port`,
 * the container port, comes from the target Deployment; the router resolves it, check() passes
 * service.port.
 */
export function settings(canary: Canary, owner: V1OwnerReference, port: number): MeshSettings {
  const svc = canary.spec.service;
  const meshName = svc.meshName;
  // appmesh:v1beta2 (Flagger's spelling) writes no mesh: App Mesh's webhook takes the namespace's.
  if (!meshName && canary.spec.provider !== "appmesh:v1beta2")
    fail(
      canary,
      "spec.service.meshName",
      "is not set",
      "provider appmesh needs the name of the mesh the namespace belongs to; or write provider appmesh:v1beta2, which takes the namespace's mesh",
    );
  const protocol = meshProtocol(canary);
  const names = serviceNames(canary);
  const apexMeta = svc.apex;
  return {
    namespace: canaryNamespace(canary),
    meshName,
    apex: names.apex,
    primary: names.primary,
    canary: names.canary,
    port,
    protocol,
    prefix: routePrefix(canary),
    timeoutMs: svc.timeout ? milliseconds(canary, "spec.service.timeout", svc.timeout) : undefined,
    retryPolicy: retryPolicy(canary, protocol),
    abMatches: abMatches(canary, protocol),
    backends: backends(canary),
    accessLog: canary.metadata.annotations?.[ACCESS_LOG_ANNOTATION] === "enabled",
    labels: { ...apexMeta?.labels },
    annotations: { ...apexMeta?.annotations },
    hosts: svc.hosts ?? [],
    owner,
  };
}

const hostname = (s: MeshSettings, service: string) => `${service}.${s.namespace}.svc.cluster.local.`;

function meta(
  s: MeshSettings,
  name: string,
  owned: boolean,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
) {
  return {
    name,
    namespace: s.namespace,
    ...(extra.labels && Object.keys(extra.labels).length > 0 && { labels: extra.labels }),
    ...(extra.annotations && Object.keys(extra.annotations).length > 0 && { annotations: extra.annotations }),
    ...(owned && { ownerReferences: [s.owner] }),
  };
}

/** The controller's defaults for awsName (name_namespace; virtual services name.namespace), kept when set. */
function identity(live: MeshIdentity | undefined, awsName: string): MeshIdentity {
  return { awsName: live?.awsName ?? awsName, ...(live?.meshRef && { meshRef: live.meshRef }) };
}

function listenerTimeout(s: MeshSettings): Record<string, unknown> | undefined {
  if (s.timeoutMs === undefined) return undefined;
  const d = meshDuration(s.timeoutMs);
  return s.protocol === "tcp" ? { tcp: { idle: d } } : { [s.protocol]: { perRequest: d } };
}

/** A virtual node for the pods with podLabel, reached through the Service `service`. */
export function buildVirtualNode(
  s: MeshSettings,
  name: string,
  service: string,
  podLabel: SelectorLabel,
  live: MeshIdentity | undefined,
  owned = true,
): VirtualNode {
  const timeout = listenerTimeout(s);
  return {
    apiVersion: APPMESH_API_VERSION,
    kind: "VirtualNode",
    metadata: meta(s, name, owned, { labels: s.labels, annotations: s.annotations }),
    spec: {
      ...identity(live, `${name}_${s.namespace}`),
      listeners: [{ portMapping: { port: s.port, protocol: s.protocol }, ...(timeout && { timeout }) }],
      serviceDiscovery: { dns: { hostname: hostname(s, service) } },
      podSelector: { matchLabels: { [podLabel.key]: podLabel.value } },
      ...(s.backends.length > 0 && { backends: s.backends }),
      ...(s.accessLog && { logging: { accessLog: { file: { path: "/dev/stdout" } } } }),
    },
  };
}

function targets(s: MeshSettings, canaryWeight: number, primaryWeight: number): WeightedTarget[] {
  return [
    { virtualNodeRef: { name: s.canary }, weight: canaryWeight },
    { virtualNodeRef: { name: s.primary }, weight: primaryWeight },
  ];
}

function route(
  s: MeshSettings,
  name: string,
  action: WeightedTarget[],
  headers?: HeaderMatch[],
  priority?: number,
): MeshRoute {
  const weightedTargets = { action: { weightedTargets: action } };
  const perRequest = s.timeoutMs === undefined ? undefined : meshDuration(s.timeoutMs);
  const at = priority === undefined ? {} : { priority };
  if (s.protocol === "tcp") {
    return {
      name,
      ...at,
      tcpRoute: { ...weightedTargets, ...(perRequest && { timeout: { idle: perRequest } }) },
    };
  }
  const body: RouteBody = {
    match:
      s.protocol === "grpc"
        ? { ...(headers && { metadata: headers }) }
        : { prefix: s.prefix, ...(headers && { headers }) },
    ...weightedTargets,
    ...(perRequest && { timeout: { perRequest } }),
    ...(s.retryPolicy && { retryPolicy: s.retryPolicy }),
  };
  const kind = s.protocol === "grpc" ? "grpcRoute" : s.protocol === "http2" ? "http2Route" : "httpRoute";
  return { name, ...at, [kind]: body };
}

/**
 * Routes of the <apex> router for a split. Weighted: one route carrying both weights. A/B: one route
 * per analysis.match entry (priority 10, 11, ...) sending matching requests to the canary, then
 * <apex>-b carrying the weights for the rest.
 */
export function apexRoutes(s: MeshSettings, routes: Routes): MeshRoute[] {
  const weighted = targets(s, routes.canaryWeight, routes.primaryWeight);
  if (!routes.matched) return [route(s, s.apex, weighted)];
  const ab = s.abMatches.map((headers, i) =>
    route(s, i === 0 ? `${s.apex}-a` : `${s.apex}-a${i + 1}`, targets(s, 100, 0), headers, 10 + i),
  );
  return [...ab, route(s, `${s.apex}-b`, weighted, undefined, Math.max(20, 10 + ab.length))];
}

export function buildVirtualRouter(
  s: MeshSettings,
  name: string,
  routes: MeshRoute[],
  live: MeshIdentity | undefined,
): VirtualRouter {
  return {
    apiVersion: APPMESH_API_VERSION,
    kind: "VirtualRouter",
    metadata: meta(s, name, true),
    spec: {
      ...identity(live, `${name}_${s.namespace}`),
      listeners: [{ portMapping: { port: s.port, protocol: s.protocol } }],
      routes,
    },
  };
}

/** The <apex>-canary router: all of its traffic to the canary, for tests that target the canary alone. */
export const canaryRoutes = (s: MeshSettings): MeshRoute[] => [route(s, s.canary, targets(s, 100, 0))];

/** App Mesh Gateway annotations on the apex virtual service when service.hosts is set (as Flagger). */
function gatewayAnnotations(s: MeshSettings, canary: Canary): Record<string, string> {
  if (s.hosts.length === 0) return {};
  const svc = canary.spec.service;
  return {
    "gateway.appmesh.k8s.aws/expose": "true",
    "gateway.appmesh.k8s.aws/domain": s.hosts.join(","),
    ...(svc.timeout && { "gateway.appmesh.k8s.aws/timeout": svc.timeout }),
    ...(svc.retries?.attempts && { "gateway.appmesh.k8s.aws/retries": String(svc.retries.attempts) }),
  };
}

export function buildVirtualService(
  s: MeshSettings,
  canary: Canary,
  name: string,
  provider: VirtualService["spec"]["provider"],
  live: MeshIdentity | undefined,
  owned = true,
): VirtualService {
  const annotations = name === s.apex ? gatewayAnnotations(s, canary) : {};
  return {
    apiVersion: APPMESH_API_VERSION,
    kind: "VirtualService",
    metadata: meta(s, name, owned, { annotations }),
    spec: { ...identity(live, `${name}.${s.namespace}`), provider },
  };
}

function body(r: MeshRoute): RouteBody | undefined {
  return r.httpRoute ?? r.http2Route ?? r.grpcRoute ?? r.tcpRoute;
}

const isMatchRoute = (r: MeshRoute) => {
  const m = body(r)?.match;
  return (m?.headers?.length ?? 0) > 0 || (m?.metadata?.length ?? 0) > 0;
};

/**
 * The split the <apex> router carries: A/B when a route matches on headers, the weights of the route
 * that does not. A router that does not route to both virtual nodes is not one kanaria wrote.
 */
export function parseRoutes(router: VirtualRouter, primary: string, canary: string): Routes {
  const routes = router.spec?.routes ?? [];
  const rest = routes.find((r) => !isMatchRoute(r));
  const weights = new Map(
    (body(rest ?? { name: "" })?.action.weightedTargets ?? []).map((t) => [t.virtualNodeRef?.name, t.weight]),
  );
  const primaryWeight = weights.get(primary);
  const canaryWeight = weights.get(canary);
  if (primaryWeight === undefined || canaryWeight === undefined) {
    throw new RouterConfigError(
      `VirtualRouter ${router.metadata.namespace}/${router.metadata.name} has no route with weighted targets ${primary} and ${canary}; ` +
        "kanaria manages this router: delete it and it will be recreated",
    );
  }
  return { primaryWeight, canaryWeight, matched: routes.some(isMatchRoute), mirrored: false };
}
