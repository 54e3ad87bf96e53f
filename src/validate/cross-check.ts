/** Checks that look at more than one object: references between kanaria objects, the target Deployment's
 * ports, Canaries that compete for one Deployment, and autoscalers (autoscaler-check.ts).
 *
 * Namespaces: a reference without `namespace` points into the Canary's namespace (as in the controller),
 * and an object without `metadata.namespace` counts as being in the namespace of whatever refers to it,
 * because GitOps tools usually set the namespace at apply time (kustomize `namespace:`, `kubectl -n`).
 * Two Canaries without a namespace only conflict when they sit in the same directory: different
 * directories are typically different kustomizations, applied to different namespaces. */
import { API_VERSION } from "../api/common.ts";
import { autoscalerCheck, isAutoscaler } from "./autoscaler-check.ts";
import { gatewayApiCheck } from "./gatewayapi-check.ts";
import { dirOf, type Manifest } from "./load.ts";
import { locate, problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";
import { builtinSeriesNote } from "./series-note.ts";
import { windowCheck } from "./windows-check.ts";

type Path = (string | number)[];

function get(value: unknown, path: Path): unknown {
  let current = value;
  for (const seg of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[seg];
  }
  return current;
}

function str(value: unknown, path: Path): string | undefined {
  const v = get(value, path);
  return typeof v === "string" ? v : undefined;
}

function list(value: unknown, path: Path): unknown[] {
  const v = get(value, path);
  return Array.isArray(v) ? v : [];
}

/** `ref` resolved against `referrer`: true when `candidate` is the object it names (see the module comment). */
function sameNamespace(refNamespace: string | undefined, referrer: Manifest, candidate: Manifest): boolean {
  return (refNamespace ?? referrer.namespace) === (candidate.namespace ?? referrer.namespace);
}

function where(m: Manifest, path: Path = []): string {
  return `${m.file}:${locate(m.doc, m.lines, path).line}`;
}

function quoted(name: string, namespace: string | undefined): string {
  return namespace === undefined ? `"${name}"` : `"${namespace}/${name}"`;
}

/** A templateRef or providerRef whose object is not among the inputs: only a warning, because it may be
 * applied from another repository or already exist in the cluster. */
function missingReference(canary: Manifest, path: Path, kind: string, byName: ByName): Problem[] {
  const name = str(canary.value, [...path, "name"]);
  if (name === undefined) return [];
  const refNamespace = str(canary.value, [...path, "namespace"]);
  const named = byName.get(`${kind}/${name}`) ?? [];
  if (named.some((c) => sameNamespace(refNamespace, canary, c))) return [];
  const field = path[path.length - 1];
  const namespace = refNamespace ?? canary.namespace;
  const elsewhere = named.find((c) => c.namespace !== undefined);
  const hint = elsewhere
    ? `; there is one in namespace "${elsewhere.namespace}" (${where(elsewhere)}): set ${field}.namespace`
    : ": add its manifest, or ignore this if it is applied to the cluster some other way";
  const message = `${kind} ${quoted(name, namespace)} is not among the validated files${hint}`;
  return [problemAt(canary, path, "warning", message, "key")];
}

/** Objects by `kind/name`: each lookup costs the same however many objects a run has. */
type ByName = Map<string, Manifest[]>;

function byKindAndName(objects: Manifest[]): ByName {
  const index: ByName = new Map();
  for (const m of objects) {
    if (m.kind === undefined || m.name === undefined) continue;
    const key = `${m.kind}/${m.name}`;
    const same = index.get(key);
    if (same === undefined) index.set(key, [m]);
    else same.push(m);
  }
  return index;
}

function referenceProblems(canary: Manifest, objects: ByName): Problem[] {
  const metrics = list(canary.value, ["spec", "analysis", "metrics"]);
  const alerts = list(canary.value, ["spec", "analysis", "alerts"]);
  return [
    ...metrics.flatMap((_, i) =>
      missingReference(canary, ["spec", "analysis", "metrics", i, "templateRef"], "MetricTemplate", objects),
    ),
    ...alerts.flatMap((_, i) =>
      missingReference(canary, ["spec", "analysis", "alerts", i, "providerRef"], "AlertProvider", objects),
    ),
  ];
}

interface ContainerPort {
  containerPort: unknown;
  name: unknown;
}

function containerPorts(deployment: Manifest): ContainerPort[] {
  return list(deployment.value, ["spec", "template", "spec", "containers"]).flatMap(
    (c) => list(c, ["ports"]) as ContainerPort[],
  );
}

function targetsDeployment(canary: Manifest): string | undefined {
  const kind = str(canary.value, ["spec", "targetRef", "kind"]);
  return kind === undefined || kind === "Deployment"
    ? str(canary.value, ["spec", "targetRef", "name"])
    : undefined;
}

/** The Deployment a Canary targets, if it is among the inputs; one in the Canary's own directory wins
 * when overlays repeat it. */
function targetDeployment(canary: Manifest, deployments: ByName): Manifest | undefined {
  const name = targetsDeployment(canary);
  const matches = (deployments.get(`Deployment/${name}`) ?? []).filter((d) =>
    sameNamespace(undefined, canary, d),
  );
  return matches.find((d) => dirOf(d.file) === dirOf(canary.file)) ?? matches[0];
}

function describePorts(ports: ContainerPort[]): string {
  return ports
    .map((p) =>
      typeof p.name === "string" ? `${String(p.containerPort)} (${p.name})` : String(p.containerPort),
    )
    .join(", ");
}

/** The generated Services send traffic to service.targetPort (service.port when unset): a container of
 * the target must declare that port, by number or by name, or the Services have no endpoints. */
function portProblems(canary: Manifest, deployments: ByName): Problem[] {
  const deployment = targetDeployment(canary, deployments);
  if (deployment === undefined) return [];
  const targetPort = get(canary.value, ["spec", "service", "targetPort"]);
  const field = targetPort === undefined ? "port" : "targetPort";
  const wanted = targetPort ?? get(canary.value, ["spec", "service", "port"]);
  if (typeof wanted !== "number" && typeof wanted !== "string") return [];
  const ports = containerPorts(deployment);
  const found = ports.some((p) =>
    typeof wanted === "number" ? p.containerPort === wanted : p.name === wanted,
  );
  if (found) return [];
  const what = typeof wanted === "number" ? `port ${wanted}` : `port named "${wanted}"`;
  const fix =
    ports.length === 0
      ? "it declares no container ports: add the port to the pod template's containers[].ports"
      : `its ports are ${describePorts(ports)}: set service.${field} to one of them`;
  const message = `Deployment "${deployment.name}" (${where(deployment)}) has no container ${what}; ${fix}`;
  return [problemAt(canary, ["spec", "service", field], "error", message)];
}

/** Two Canaries with the same key target one workload: the same kind and name, in the same namespace, or
 * both without a namespace in the same directory (see the module comment). */
function targetKey(m: Manifest): string {
  const target = `${str(m.value, ["spec", "targetRef", "kind"]) ?? "Deployment"}/${str(m.value, ["spec", "targetRef", "name"])}`;
  const scope = m.namespace !== undefined ? `namespace ${m.namespace}` : `directory ${dirOf(m.file)}`;
  return JSON.stringify([target, scope]);
}

/** Two Canaries releasing one Deployment would fight over its -primary copy and its Services. Linear: a
 * file of thousands of Canaries is checked as fast as a few. */
function duplicateProblems(canaries: Manifest[]): Problem[] {
  const problems: Problem[] = [];
  const firstByTarget = new Map<string, Manifest>();
  for (const canary of canaries) {
    const target = str(canary.value, ["spec", "targetRef", "name"]);
    if (target === undefined) continue;
    const key = targetKey(canary);
    const first = firstByTarget.get(key);
    if (first === undefined) {
      firstByTarget.set(key, canary);
      continue;
    }
    const message =
      `targets the same ${str(canary.value, ["spec", "targetRef", "kind"]) ?? "Deployment"} "${target}" as ` +
      `Canary "${first.name}" (${where(first, ["spec", "targetRef"])}): a workload can be released by one Canary only`;
    problems.push(problemAt(canary, ["spec", "targetRef"], "error", message, "key"));
  }
  return problems;
}

/** Runs every cross-object check over all manifests read (kanaria objects, the Deployments they target,
 * HTTPRoutes and autoscalers). */
export function crossCheck(manifests: Manifest[]): Problem[] {
  const kanaria = manifests.filter((m) => m.apiVersion === API_VERSION);
  const canaries = kanaria.filter((m) => m.kind === "Canary");
  const deployments = byKindAndName(
    manifests.filter((m) => m.apiVersion === "apps/v1" && m.kind === "Deployment"),
  );
  const references = byKindAndName(kanaria);
  const routes = manifests.filter((m) => m.kind === "HTTPRoute");
  const autoscalers = manifests.filter(isAutoscaler);
  return [
    ...canaries.flatMap((c) => referenceProblems(c, references)),
    ...canaries.flatMap((c) => portProblems(c, deployments)),
    ...duplicateProblems(canaries),
    ...canaries.flatMap(windowCheck),
    ...canaries.flatMap((c) => gatewayApiCheck(c, routes)),
    ...autoscalerCheck(canaries, autoscalers, (c) => targetDeployment(c, deployments)),
    ...canaries.flatMap((c) => builtinSeriesNote(c, manifests)),
  ];
}
