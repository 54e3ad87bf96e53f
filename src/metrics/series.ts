/**
 * Which implementation's series the built-in checks read: the one that serves the Canary's route.
 *
 * - gatewayapi: the controllerName of the GatewayClass of each parent Gateway (spec.service.gatewayRefs,
 *   or the parentRefs of spec.routeRef's HTTPRoute). A Service parent (GAMMA) names no implementation
 *   (the mesh's metrics differ from one mesh to the next), so the router's default stays: the
 *   application's own histogram, as Flagger reads it for every gatewayapi Canary.
 * - nginx: the controller of the Ingress's IngressClass (spec.ingressClassName, or the
 *   kubernetes.io/ingress.class annotation naming one, or else the cluster's default IngressClass, as
 *   the controllers that serve class-less Ingresses pick it).
 * - kubernetes and appmesh have nothing to look up.
 *
 * When nothing says which implementation it is (no such class, no permission to read it, a controller
 * without series the built-ins know, parents served by different implementations), the router's
 * default series are used: the analysis goes on as it did before this lookup existed, and where those
 * series are absent the checks report no data (onNoData decides), which never passes a release on
 * numbers that were not measured. The choice and its reason are told once per Canary generation (an
 * Event), not on every check.
 *
 * API requests: the Gateway and the classes are read when an analysis needs the built-ins, and again
 * only when the Canary's generation or what names the class changes (a GatewayClass's controllerName,
 * a Gateway's gatewayClassName and an IngressClass's controller are immutable; which class is the
 * default is not, but it is read again with the next generation or failure retry). The HTTPRoute and the
 * Ingress come from the watch caches. An idle Canary runs no analysis, so it makes no request here.
 */
import type { Canary, ProviderName } from "../api/canary.ts";
import { KubeApiError } from "../kube/errors.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import {
  GATEWAY_GROUP,
  HTTPROUTE_API_VERSION,
  type HTTPRoute,
  type ParentRef,
} from "../routers/gatewayapi/types.ts";
import { ROUTER_SERIES, SERIES_NAMES, type Series } from "./builtin.ts";

/** The series chosen, and why (for messages: "GatewayClass traefik (traefik.io/gateway-controller)"). */
export interface SeriesChoice {
  router: ProviderName;
  series: Series;
  basis: string;
  /** Set when the router's default is used because the lookup could not decide; says why. */
  fallback?: string;
  /** The fallback came from a failed read (forbidden, missing, unreachable), not from a known answer. */
  failed?: boolean;
}

/** Gateway API controllers whose series the built-ins know, by GatewayClass spec.controllerName. */
const GATEWAY_CONTROLLERS: Readonly<Record<string, Series>> = {
  "traefik.io/gateway-controller": "traefik-gateway",
  "istio.io/gateway-controller": "istio",
};

/** Controllers known to have no per-backend series the built-ins could read, and why. */
const NO_SERIES: Readonly<Record<string, string>> = {
  "gateway.envoyproxy.io/gatewayclass-controller":
    "Envoy Gateway names its Envoy clusters per route rule (httproute/<namespace>/<name>/rule/<n>), one cluster " +
    "for the primary and the canary together, so its series cannot tell them apart",
  "traefik.io/ingress-controller":
    "Traefik's kubernetesIngress provider does not read the canary annotations the nginx router writes; " +
    "serve the class with its kubernetesIngressNGINX provider",
};

/** The series of an IngressClass controller; undefined when the built-ins know none. */
export function ingressControllerSeries(controller: string): Series | undefined {
  if (controller === "k8s.io/ingress-nginx") return "ingress-nginx";
  // Traefik's kubernetesIngressNGINX provider claims k8s.io/ingress-nginx by default, the same as
  // ingress-nginx, and nothing on the class tells the two apart; given a controllerClass of its own
  // under traefik.io/ (other than its kubernetesIngress provider's), it is recognised here.
  if (controller.startsWith("traefik.io/") && !(controller in NO_SERIES)) return "traefik-ingress-nginx";
  return undefined;
}

export function gatewayControllerSeries(controller: string): Series | undefined {
  return GATEWAY_CONTROLLERS[controller];
}

/** One parent Gateway's controller, or why it has none. */
export type ParentAnswer =
  | { kind: "mesh"; parent: string }
  | { kind: "controller"; parent: string; className: string; controller: string }
  | { kind: "failed"; parent: string; reason: string };

function defaultChoice(router: ProviderName, basis: string, fallback?: string, failed = false): SeriesChoice {
  return {
    router,
    series: ROUTER_SERIES[router],
    basis,
    ...(fallback !== undefined ? { fallback } : {}),
    ...(failed ? { failed } : {}),
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof KubeApiError && err.code === 403) return `forbidden (${err.message})`;
  return err instanceof Error ? err.message : String(err);
}

async function read<T extends KubeObject>(
  client: KubeClient,
  what: string,
  ref: { apiVersion: string; kind: string; namespace?: string; name: string },
): Promise<{ object: T } | { reason: string; missing: boolean }> {
  try {
    const object = await client.get<T>(ref);
    return object ? { object } : { reason: `${what} not found`, missing: true };
  } catch (err) {
    return { reason: `reading ${what} failed: ${reasonOf(err)}`, missing: false };
  }
}

/** The parents the route attaches to: spec.service.gatewayRefs, or the parentRefs of routeRef's HTTPRoute. */
export async function routeParents(
  client: KubeClient,
  canary: Canary,
): Promise<{ parents: ParentRef[] } | { reason: string }> {
  const namespace = canary.metadata.namespace ?? "default";
  if (!canary.spec.routeRef) return { parents: (canary.spec.service.gatewayRefs ?? []) as ParentRef[] };
  const name = canary.spec.routeRef.name;
  const route = await read<HTTPRoute>(client, `HTTPRoute ${namespace}/${name} (spec.routeRef)`, {
    apiVersion: HTTPROUTE_API_VERSION,
    kind: "HTTPRoute",
    namespace,
    name,
  });
  if ("reason" in route) return route;
  return { parents: route.object.spec?.parentRefs ?? [] };
}

/** A Service parent (GAMMA), whatever spelling of the core group it uses. */
function isMesh(ref: ParentRef): boolean {
  return ref.kind === "Service" && (ref.group === undefined || ["", "core"].includes(ref.group));
}

async function gatewayController(
  client: KubeClient,
  ref: { namespace: string; name: string },
): Promise<ParentAnswer> {
  const namespace = ref.namespace;
  const parent = `Gateway ${namespace}/${ref.name}`;
  const gateway = await read<KubeObject & { spec?: { gatewayClassName?: string } }>(client, parent, {
    apiVersion: `${GATEWAY_GROUP}/v1`,
    kind: "Gateway",
    namespace,
    name: ref.name,
  });
  if ("reason" in gateway) return { kind: "failed", parent, reason: gateway.reason };
  const className = gateway.object.spec?.gatewayClassName;
  if (!className) return { kind: "failed", parent, reason: `${parent} has no spec.gatewayClassName` };
  const cls = await read<KubeObject & { spec?: { controllerName?: string } }>(
    client,
    `GatewayClass ${className} (of ${parent})`,
    { apiVersion: `${GATEWAY_GROUP}/v1`, kind: "GatewayClass", name: className },
  );
  if ("reason" in cls) return { kind: "failed", parent, reason: cls.reason };
  return { kind: "controller", parent, className, controller: cls.object.spec?.controllerName ?? "" };
}

/**
 * The Gateways among a route's parents (once each, namespace resolved), or the choice made without
 * reading any: no parents, a mesh parent (GAMMA), no Gateway parent.
 */
export function gatewayParents(
  parents: ParentRef[],
  routeNamespace: string,
): { gateways: { namespace: string; name: string }[] } | { choice: SeriesChoice } {
  if (parents.length === 0) return { choice: defaultChoice("gatewayapi", "the route has no parents") };
  const mesh = parents.find(isMesh);
  if (mesh) {
    const basis = `the mesh parent Service ${mesh.namespace ?? routeNamespace}/${mesh.name} (GAMMA)`;
    return { choice: defaultChoice("gatewayapi", basis) };
  }
  const gateways = parents.filter(
    (p) => (p.kind ?? "Gateway") === "Gateway" && (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP,
  );
  if (gateways.length === 0)
    return { choice: defaultChoice("gatewayapi", "the route has no Gateway parents") };
  // One read per Gateway, even when the route names it once per listener (sectionName).
  const unique = new Map(
    gateways.map((g) => {
      const namespace = g.namespace ?? routeNamespace;
      return [`${namespace}/${g.name}`, { namespace, name: g.name }];
    }),
  );
  return { gateways: [...unique.values()] };
}

/** The choice from what each parent Gateway's class says (or why it could not be read). */
export function gatewayChoice(answers: ParentAnswer[]): SeriesChoice {
  const failed = answers.find((a) => a.kind === "failed");
  if (failed?.kind === "failed") return defaultChoice("gatewayapi", failed.parent, failed.reason, true);
  const controllers = answers as Extract<ParentAnswer, { kind: "controller" }>[];
  const describe = (a: (typeof controllers)[number]) =>
    `GatewayClass ${a.className} (${a.controller}) of ${a.parent}`;
  const distinct = [...new Set(controllers.map((a) => a.controller))];
  if (distinct.length > 1) {
    return defaultChoice(
      "gatewayapi",
      controllers.map(describe).join(", "),
      "the route's Gateways are served by different implementations, whose series the built-ins cannot add up; " +
        "use a MetricTemplate",
    );
  }
  const first = controllers[0] as (typeof controllers)[number];
  const series = gatewayControllerSeries(first.controller);
  if (series) return { router: "gatewayapi", series, basis: describe(first) };
  return defaultChoice(
    "gatewayapi",
    describe(first),
    NO_SERIES[first.controller] ?? "the built-ins know no series of this controller",
  );
}

/** gatewayapi: the series of the implementation serving every parent Gateway of the route. */
export async function gatewaySeries(
  client: KubeClient,
  canary: Canary,
  parents: ParentRef[],
): Promise<SeriesChoice> {
  const found = gatewayParents(parents, canary.metadata.namespace ?? "default");
  if ("choice" in found) return found.choice;
  return gatewayChoice(await Promise.all(found.gateways.map((g) => gatewayController(client, g))));
}

type IngressLike = KubeObject & {
  spec?: { ingressClassName?: string };
};

export const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";

export type IngressClassObject = KubeObject & { spec?: { controller?: string } };

/**
 * An Ingress without a class: the cluster's default IngressClass (the one annotated
 * is-default-class "true"). The API server's DefaultIngressClass admission writes it into Ingresses
 * created while it is the default; this finds it for those created before.
 */
async function defaultIngressSeries(client: KubeClient): Promise<SeriesChoice> {
  let classes: IngressClassObject[];
  try {
    classes = await client.list<IngressClassObject>("networking.k8s.io/v1", "IngressClass");
  } catch (err) {
    const reason = `listing IngressClasses for the default one failed: ${reasonOf(err)}`;
    return defaultChoice("nginx", "the Ingress names no class", reason, true);
  }
  return defaultClassChoice(classes);
}

/**
 * The choice for an Ingress without a class, from the IngressClasses there are (the cluster's, or the
 * files' for `kanaria validate`): the series of the one marked default.
 */
export function defaultClassChoice(classes: IngressClassObject[]): SeriesChoice {
  const defaults = classes.filter((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true");
  if (defaults.length === 0)
    return defaultChoice("nginx", "the Ingress names no class and no IngressClass is the default");
  if (defaults.length > 1) {
    const names = defaults.map((c) => c.metadata.name).join(", ");
    return defaultChoice(
      "nginx",
      "the Ingress names no class",
      `several IngressClasses are marked default (${names}), so nothing says which one serves it; set spec.ingressClassName`,
    );
  }
  const cls = defaults[0] as IngressClassObject;
  const choice = ingressChoice(cls.metadata.name, "default", { controller: cls.spec?.controller ?? "" });
  return { ...choice, basis: `the default ${choice.basis} (the Ingress names no class)` };
}

/** nginx: the series of the IngressClass's controller; the class from the cached Ingress. */
export async function ingressSeries(
  client: KubeClient,
  className: string | undefined,
  how: string,
): Promise<SeriesChoice> {
  if (!className) return defaultIngressSeries(client);
  const cls = await read<KubeObject & { spec?: { controller?: string } }>(
    client,
    `IngressClass ${className}`,
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      name: className,
    },
  );
  return ingressChoice(
    className,
    how,
    "reason" in cls ? cls : { controller: cls.object.spec?.controller ?? "" },
  );
}

/** The choice from the Ingress's class and what its IngressClass says (or why it could not be read). */
export function ingressChoice(
  className: string,
  how: string,
  cls: { controller: string } | { reason: string; missing: boolean },
): SeriesChoice {
  if ("reason" in cls) {
    // The annotation is older than IngressClass objects: ingress-nginx matches it against its
    // --ingress-class flag, and no IngressClass of that name is the usual case there, not a failure.
    if (how === "annotation" && cls.missing) {
      return defaultChoice("nginx", `${how} kubernetes.io/ingress.class=${className}`);
    }
    return defaultChoice("nginx", `IngressClass ${className}`, cls.reason, true);
  }
  const basis = `IngressClass ${className} (${cls.controller})`;
  const series = ingressControllerSeries(cls.controller);
  if (series) return { router: "nginx", series, basis };
  return defaultChoice(
    "nginx",
    basis,
    NO_SERIES[cls.controller] ?? "the built-ins know no series of this controller",
  );
}

/** The Ingress's class name, and whether spec.ingressClassName or the annotation named it. */
export function ingressClassOf(ingress: IngressLike): { className: string | undefined; how: string } {
  const byField = ingress.spec?.ingressClassName;
  if (byField) return { className: byField, how: "spec.ingressClassName" };
  const byAnnotation = ingress.metadata.annotations?.["kubernetes.io/ingress.class"];
  return { className: byAnnotation, how: "annotation" };
}

/** What decides the choice, read from the watch caches: when it is unchanged, so is the choice. */
async function choiceKey(
  client: KubeClient,
  canary: Canary,
  router: ProviderName,
): Promise<{ key: string; decide: () => Promise<SeriesChoice> } | undefined> {
  const generation = canary.metadata.generation ?? 0;
  if (router === "gatewayapi") {
    const parents = await routeParents(client, canary);
    if ("reason" in parents) {
      const reason = parents.reason;
      return {
        key: JSON.stringify([router, generation, "no-route", reason]),
        decide: async () => defaultChoice(router, "spec.routeRef", reason, true),
      };
    }
    return {
      key: JSON.stringify([router, generation, parents.parents]),
      decide: () => gatewaySeries(client, canary, parents.parents),
    };
  }
  if (router === "nginx") {
    const name = canary.spec.ingressRef?.name;
    if (!name) return undefined;
    const namespace = canary.metadata.namespace ?? "default";
    const ingress = await read<IngressLike>(client, `Ingress ${namespace}/${name} (spec.ingressRef)`, {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      namespace,
      name,
    });
    if ("reason" in ingress) {
      const reason = ingress.reason;
      return {
        key: JSON.stringify([router, generation, "no-ingress", reason]),
        decide: async () => defaultChoice(router, "spec.ingressRef", reason, true),
      };
    }
    const { className, how } = ingressClassOf(ingress.object);
    return {
      key: JSON.stringify([router, generation, className ?? null, how]),
      decide: () => ingressSeries(client, className, how),
    };
  }
  return undefined;
}

/** A failed read is tried again after this long (a Role granted late, a class created later). */
const RETRY_FAILED_MS = 5 * 60_000;
/** Canaries remembered at most; the oldest entry goes first (a deleted Canary's entry is never read again). */
const MAX_ENTRIES = 10_000;

/** Tells once per decision why the built-ins read what they read (an Event on the Canary). */
export type ChoiceNotice = (canary: Canary, choice: SeriesChoice) => Promise<void>;

/**
 * Remembers each Canary's choice while what decides it is unchanged (see the module comment for why
 * that is enough); told `notice` each time it decides anew, never for a remembered choice.
 */
export class SeriesResolver {
  readonly #client: KubeClient;
  readonly #notice: ChoiceNotice;
  readonly #now: () => number;
  readonly #choices = new Map<string, { key: string; choice: SeriesChoice; at: number }>();

  constructor(client: KubeClient, notice: ChoiceNotice, now: () => number = Date.now) {
    this.#client = client;
    this.#notice = notice;
    this.#now = now;
  }

  async choose(canary: Canary, router: ProviderName): Promise<SeriesChoice | undefined> {
    const found = await choiceKey(this.#client, canary, router);
    if (!found) return undefined;
    const id = canary.metadata.uid ?? `${canary.metadata.namespace}/${canary.metadata.name}`;
    const known = this.#choices.get(id);
    const stale = known?.choice.failed && this.#now() - known.at >= RETRY_FAILED_MS;
    if (known && known.key === found.key && !stale) return known.choice;
    const choice = await found.decide();
    this.#choices.delete(id);
    if (this.#choices.size >= MAX_ENTRIES) this.#choices.delete(this.#choices.keys().next().value as string);
    this.#choices.set(id, { key: found.key, choice, at: this.#now() });
    // A retried failure that fails the same way is not told again.
    const same = known?.key === found.key && known.choice.fallback === choice.fallback;
    if (!same) await this.#notice(canary, choice);
    return choice;
  }
}

/** The Event text of a choice: which series, from what, and why the default when it is one. */
export function describeChoice(choice: SeriesChoice): string {
  const what = `the built-in metrics read ${SERIES_NAMES[choice.series]}`;
  if (choice.fallback === undefined) return `${what}: ${choice.basis}`;
  return `${what}, the router's default: ${choice.basis}: ${choice.fallback}; a MetricTemplate reads other series`;
}
