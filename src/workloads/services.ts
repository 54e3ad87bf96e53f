import type { V1Container, V1ServicePort } from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import { DEFAULTS } from "../api/defaults.ts";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, ObjectRef } from "../kube/types.ts";
import {
  canaryKey,
  canaryNamespace,
  canaryOwnerReference,
  controllingCanary,
  type Service,
  type Workload,
} from "./meta.ts";
import { type SelectorLabel, selectorLabel } from "./selector.ts";

export interface ServiceNames {
  /** What clients call; selects the primary's pods. */
  apex: string;
  primary: string;
  canary: string;
}

export function serviceNames(canary: Canary): ServiceNames {
  const apex = canary.spec.service.name ?? canary.spec.targetRef.name;
  return { apex, primary: `${apex}-primary`, canary: `${apex}-canary` };
}

/** spec.service cannot be turned into valid Services for the target; the message names the field and the fix. */
export class ServiceConfigError extends ConfigBlockerError {
  override readonly name = "ServiceConfigError";

  constructor(message: string) {
    super("InvalidServicePort", message);
  }
}

/** Service-mesh proxies whose ports must not be published (as Flagger). */
const SIDECARS = new Set(["istio-proxy", "envoy"]);

function appContainers(target: Workload): V1Container[] {
  return (target.spec?.template?.spec?.containers ?? []).filter((c) => !SIDECARS.has(c.name));
}

function mainPort(canary: Canary, target: Workload): V1ServicePort {
  const svc = canary.spec.service;
  const targetPort = svc.targetPort ?? svc.port;
  if (typeof targetPort === "string") {
    const named = appContainers(target).flatMap((c) =>
      (c.ports ?? []).flatMap((p) => (p.name ? [p.name] : [])),
    );
    if (!named.includes(targetPort)) {
      throw new ServiceConfigError(
        `Canary ${canaryKey(canary)}: spec.service.targetPort ${JSON.stringify(targetPort)} is not the name of a port of ` +
          `${target.kind} ${objectKey(target)} (named ports: ${named.join(", ") || "none"}); ` +
          `set spec.service.targetPort to one of them or to a port number`,
      );
    }
  }
  if (typeof targetPort === "number") {
    // Declaring ports is optional in Kubernetes, so only a list that lacks this one is a mistake (a typo).
    const declared = appContainers(target).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
    if (declared.length > 0 && !declared.includes(targetPort)) {
      const field = svc.targetPort === undefined ? "port" : "targetPort";
      throw new ServiceConfigError(
        `Canary ${canaryKey(canary)}: spec.service.${field} ${targetPort} is not a container port of ` +
          `${target.kind} ${objectKey(target)} (ports: ${declared.join(", ")}); ` +
          `set spec.service.${field} to one of them, or declare the port in the pod template's containers[].ports`,
      );
    }
  }
  const port: V1ServicePort = {
    name: svc.portName ?? DEFAULTS.servicePortName,
    protocol: "TCP",
    port: svc.port,
    targetPort,
  };
  if (svc.appProtocol) port.appProtocol = svc.appProtocol;
  return port;
}

/** portDiscovery: every container port except the one the main port targets, named after the container port. */
function discoveredPorts(target: Workload, main: V1ServicePort): V1ServicePort[] {
  return appContainers(target).flatMap((c) =>
    (c.ports ?? []).flatMap((p, i): V1ServicePort[] => {
      const isMain =
        typeof main.targetPort === "string"
          ? p.name === main.targetPort
          : p.containerPort === main.targetPort;
      if (isMain) return [];
      const protocol = p.protocol ?? "TCP";
      return [
        {
          name: p.name ?? `tcp-${c.name}-${i}`,
          protocol,
          port: p.containerPort,
          targetPort: p.containerPort,
        },
      ];
    }),
  );
}

function assertNoClash(canary: Canary, ports: V1ServicePort[]): void {
  const field = (i: number) =>
    i === 0 ? "spec.service.port/portName" : "a port added by spec.service.portDiscovery";
  ports.forEach((p, i) => {
    const j = ports.findIndex((q) => q.name === p.name || (q.port === p.port && q.protocol === p.protocol));
    if (j < i) {
      const what =
        ports[j]?.name === p.name ? `name ${JSON.stringify(p.name)}` : `port ${p.port}/${p.protocol}`;
      throw new ServiceConfigError(
        `Canary ${canaryKey(canary)}: ${field(i)} (${p.name} ${p.port}/${p.protocol}) uses the same ${what} as ${field(j)}; ` +
          `Service ports need unique names and numbers: rename or renumber the container port, change spec.service.port/portName, ` +
          `or turn spec.service.portDiscovery off`,
      );
    }
  });
}

/** The ports every generated Service exposes. */
export function servicePorts(canary: Canary, target: Workload): V1ServicePort[] {
  const main = mainPort(canary, target);
  const ports = canary.spec.service.portDiscovery ? [main, ...discoveredPorts(target, main)] : [main];
  assertNoClash(canary, ports);
  return ports;
}

type CustomMetadata = { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;

/**
 * spec.service.unmanagedMetadata (Flagger's): a listed key kanaria would set keeps the value the live
 * Service has, so another controller's value is never put back. Keys kanaria does not set are left
 * alone anyway (server-side apply removes only what kanaria itself applied).
 */
function keepUnmanaged(
  wanted: Record<string, string>,
  keys: string[] | undefined,
  live: Record<string, string> | undefined,
): Record<string, string> {
  const out = { ...wanted };
  for (const key of keys ?? []) {
    const value = live?.[key];
    if (key in out && value !== undefined) out[key] = value;
  }
  return out;
}

function buildService(
  canary: Canary,
  name: string,
  selector: Record<string, string>,
  ports: V1ServicePort[],
  label: SelectorLabel,
  custom: CustomMetadata,
  live: Service | undefined,
): Service {
  const { headless, trafficDistribution, unmanagedMetadata } = canary.spec.service;
  // As Flagger: the selector label carries the Service's own name, for tools that group by it.
  const labels = { ...custom?.labels, [label.key]: name };
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: canaryNamespace(canary),
      labels: keepUnmanaged(labels, unmanagedMetadata?.labels, live?.metadata.labels),
      annotations: keepUnmanaged(
        { ...custom?.annotations },
        unmanagedMetadata?.annotations,
        live?.metadata.annotations,
      ),
      ownerReferences: [canaryOwnerReference(canary)],
    },
    spec: {
      type: "ClusterIP",
      ...(headless && { clusterIP: "None" }),
      selector,
      ports,
      ...(trafficDistribution && { trafficDistribution }),
    },
  };
}

export interface CanaryServices {
  apex: Service;
  primary: Service;
  canary: Service;
}

/**
 * The apex and -primary Services select the primary's pods, the -canary Service the target's. `live`
 * (the Services as they are) only matters for spec.service.unmanagedMetadata.
 */
export function buildServices(
  canary: Canary,
  target: Workload,
  live: Partial<Record<keyof CanaryServices, Service | undefined>> = {},
): CanaryServices {
  const label = selectorLabel(target);
  const names = serviceNames(canary);
  const ports = servicePorts(canary, target);
  const primaryPods = { [label.key]: `${label.value}-primary` };
  const meta = canary.spec.service;
  return {
    apex: buildService(canary, names.apex, primaryPods, ports, label, meta.apex, live.apex),
    primary: buildService(canary, names.primary, primaryPods, ports, label, meta.primary, live.primary),
    canary: buildService(
      canary,
      names.canary,
      { [label.key]: label.value },
      ports,
      label,
      meta.canary,
      live.canary,
    ),
  };
}

function serviceRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: "v1", kind: "Service", namespace, name };
}

/**
 * An apex Service the user created (no controller) is taken over only in its selector and ports: its
 * metadata stays theirs and it gets no owner reference, so deleting the Canary does not delete it.
 */
function adoptedApex(desired: Service): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: desired.metadata.name, namespace: desired.metadata.namespace ?? "" },
    spec: { selector: desired.spec?.selector ?? {}, ports: desired.spec?.ports ?? [] },
  };
}

async function existingService(
  client: KubeClient,
  canary: Canary,
  name: string,
): Promise<Service | undefined> {
  const existing = await client.get<Service>(serviceRef(canaryNamespace(canary), name));
  const controller = existing?.metadata.ownerReferences?.find((r) => r.controller === true);
  if (existing && controller && controllingCanary(existing) !== canary.metadata.name) {
    throw new ServiceConfigError(
      `Canary ${canaryKey(canary)}: Service ${objectKey(existing)} is controlled by ${controller.kind} ${controller.name}; ` +
        `set spec.service.name to a name no other Canary uses`,
    );
  }
  return existing;
}

/**
 * A Service's clusterIP cannot change once it is allocated, so spec.service.headless changed after the
 * Services exist cannot be applied: say so instead of leaving them as they are (as Flagger does).
 */
function checkHeadless(canary: Canary, live: Service | undefined): void {
  const clusterIP = live?.spec?.clusterIP;
  if (!live || clusterIP === undefined || controllingCanary(live) === undefined) return;
  const headless = canary.spec.service.headless === true;
  if (headless === (clusterIP === "None")) return;
  throw new ServiceConfigError(
    `Canary ${canaryKey(canary)}: spec.service.headless is ${headless}, but Service ${objectKey(live)} has clusterIP ${clusterIP} ` +
      "and a Service's clusterIP cannot change: delete the Service and kanaria creates it again " +
      `${headless ? "headless" : "with a cluster IP"}, or set spec.service.headless back to ${!headless}`,
  );
}

/** Creates or updates the apex, -primary and -canary Services by server-side apply. */
export async function ensureServices(
  client: KubeClient,
  canary: Canary,
  target: Workload,
): Promise<CanaryServices> {
  const names = serviceNames(canary);
  // Check all three before writing any, so a clash leaves the cluster untouched.
  const apex = await existingService(client, canary, names.apex);
  const primary = await existingService(client, canary, names.primary);
  const canarySvc = await existingService(client, canary, names.canary);
  for (const live of [apex, primary, canarySvc]) checkHeadless(canary, live);
  const desired = buildServices(canary, target, { apex, primary, canary: canarySvc });
  const apexIsUsers = apex !== undefined && controllingCanary(apex) === undefined;
  return {
    apex: await client.apply(apexIsUsers ? adoptedApex(desired.apex) : desired.apex),
    primary: await client.apply(desired.primary),
    canary: await client.apply(desired.canary),
  };
}

/**
 * On Canary deletion: the Services the Canary owns go with it (garbage collection), but an apex Service
 * the user created would keep selecting the primary's pods, which are deleted too. Point it back at the
 * target's pods (Flagger's KubernetesDefaultRouter.Finalize does the same).
 */
export async function releaseApexService(
  client: KubeClient,
  canary: Canary,
  target: Workload,
): Promise<void> {
  const label = selectorLabel(target);
  const apex = await existingService(client, canary, serviceNames(canary).apex);
  if (!apex) return;
  const selector = { [label.key]: label.value };
  if (controllingCanary(apex) === undefined) {
    await client.apply(adoptedApex({ ...apex, spec: { selector, ports: apex.spec?.ports ?? [] } }));
    return;
  }
  // A Service kanaria created is handed over: without the owner reference the garbage collector keeps
  // it when the Canary goes, so clients of the apex name never lose their endpoint.
  await client.mergePatch(serviceRef(canaryNamespace(canary), apex.metadata.name), {
    metadata: { ownerReferences: null },
    spec: { selector },
  });
}
