/**
 * `kanaria validate`: whose series a Canary's built-in metrics will read, when the files say it (the
 * route's Gateways and their GatewayClass, or the Ingress and its IngressClass or the default
 * IngressClass, are among the inputs).
 * A note, as the controller's BuiltinMetrics Event: only when they are not the router's usual series or
 * the controller would fall back to those. Objects that are not among the inputs may be in the cluster:
 * then nothing is said.
 */
import { type ProviderSpelling, routerOf } from "../api/canary.ts";
import type { KubeObject } from "../kube/types.ts";
import { isBuiltinMetric, ROUTER_SERIES } from "../metrics/builtin.ts";
import {
  DEFAULT_CLASS_ANNOTATION,
  defaultClassChoice,
  describeChoice,
  gatewayChoice,
  gatewayParents,
  type IngressClassObject,
  ingressChoice,
  ingressClassOf,
  type ParentAnswer,
  type SeriesChoice,
} from "../metrics/series.ts";
import type { ParentRef } from "../routers/gatewayapi/types.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";

type Json = Record<string, unknown>;
/** Stands for the namespace of a Canary whose manifest names none (GitOps tools often set it at apply time). */
const CANARY_NAMESPACE = "(the Canary's namespace)";
const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * The object of `kind` named `name` in `namespace` (undefined: the referrer's namespace, unknown here);
 * an object without a namespace counts as being in the referrer's, as in the other cross checks.
 */
function find(
  manifests: Manifest[],
  kind: string,
  name: string,
  namespace: string | undefined,
): Manifest | undefined {
  return manifests.find(
    (m) =>
      m.kind === kind &&
      m.name === name &&
      (m.namespace === undefined || namespace === undefined || m.namespace === namespace),
  );
}

/** Cluster-scoped classes: by name alone. */
function findClass(manifests: Manifest[], kind: string, name: string): Manifest | undefined {
  return manifests.find((m) => m.kind === kind && m.name === name);
}

function gatewayapiChoice(canary: Manifest, spec: Json, manifests: Manifest[]): SeriesChoice | undefined {
  const namespace = canary.namespace;
  const routeRef = str(obj(spec.routeRef).name);
  let parents: ParentRef[];
  if (routeRef !== undefined) {
    const route = find(manifests, "HTTPRoute", routeRef, namespace);
    if (!route) return undefined;
    parents = (obj(route.value.spec).parentRefs ?? []) as ParentRef[];
  } else {
    parents = (obj(spec.service).gatewayRefs ?? []) as ParentRef[];
  }
  const found = gatewayParents(parents, namespace ?? CANARY_NAMESPACE);
  if ("choice" in found) return found.choice;
  const answers: ParentAnswer[] = [];
  for (const ref of found.gateways) {
    const gatewayNamespace = ref.namespace === CANARY_NAMESPACE ? undefined : ref.namespace;
    const gateway = find(manifests, "Gateway", ref.name, gatewayNamespace);
    const className = str(obj(gateway?.value.spec).gatewayClassName);
    const cls = className !== undefined ? findClass(manifests, "GatewayClass", className) : undefined;
    if (!cls || className === undefined) return undefined;
    const controller = str(obj(cls.value.spec).controllerName) ?? "";
    answers.push({
      kind: "controller",
      parent: `Gateway ${ref.namespace}/${ref.name}`,
      className,
      controller,
    });
  }
  return gatewayChoice(answers);
}

function nginxChoice(canary: Manifest, spec: Json, manifests: Manifest[]): SeriesChoice | undefined {
  const name = str(obj(spec.ingressRef).name);
  const ingress = name !== undefined ? find(manifests, "Ingress", name, canary.namespace) : undefined;
  if (!ingress) return undefined;
  const { className, how } = ingressClassOf(ingress.value as unknown as KubeObject);
  if (className === undefined) return defaultClassAmong(manifests);
  const cls = findClass(manifests, "IngressClass", className);
  if (!cls) return undefined;
  return ingressChoice(className, how, { controller: str(obj(cls.value.spec).controller) ?? "" });
}

/**
 * An Ingress without a class gets the default IngressClass: the files' choice when they mark one
 * (or several) default. None marked in the files says nothing: the cluster may have a default.
 */
function defaultClassAmong(manifests: Manifest[]): SeriesChoice | undefined {
  const classes = manifests
    .filter((m) => m.kind === "IngressClass")
    .map((m) => m.value as unknown as IngressClassObject);
  if (!classes.some((c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true")) return undefined;
  return defaultClassChoice(classes);
}

export function builtinSeriesNote(canary: Manifest, manifests: Manifest[]): Problem[] {
  const spec = obj(canary.value.spec);
  const spelling = str(spec.provider);
  // Without spec.provider the router is the controller's --provider, unknown here.
  if (spelling === undefined) return [];
  const router = routerOf(spelling as ProviderSpelling);
  const metrics = Array.isArray(obj(spec.analysis).metrics) ? (obj(spec.analysis).metrics as unknown[]) : [];
  const first = metrics.findIndex((m) => {
    const metric = obj(m);
    const name = str(metric.name);
    return name !== undefined && isBuiltinMetric(name) && !metric.templateRef && metric.query === undefined;
  });
  if (first < 0) return [];
  const choice =
    router === "gatewayapi"
      ? gatewayapiChoice(canary, spec, manifests)
      : router === "nginx"
        ? nginxChoice(canary, spec, manifests)
        : undefined;
  if (!choice || (choice.series === ROUTER_SERIES[router] && choice.fallback === undefined)) return [];
  return [problemAt(canary, ["spec", "analysis", "metrics", first, "name"], "note", describeChoice(choice))];
}
