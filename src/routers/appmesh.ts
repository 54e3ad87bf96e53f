import { type Canary, routerServiceFields } from "../api/canary.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import { targetKind } from "../workloads/kinds.ts";
import {
  canaryKey,
  canaryNamespace,
  canaryOwnerReference,
  controllingCanary,
  type Workload,
} from "../workloads/meta.ts";
import { type SelectorLabel, selectorLabel } from "../workloads/selector.ts";
import { serviceNames } from "../workloads/services.ts";
import {
  APPMESH_API_VERSION,
  apexRoutes,
  buildVirtualNode,
  buildVirtualRouter,
  buildVirtualService,
  canaryRoutes,
  type MeshIdentity,
  type MeshSettings,
  parseRoutes,
  settings,
  type VirtualRouter,
  type VirtualService,
} from "./appmesh/spec.ts";
import type { RouterCapabilities } from "./capabilities.ts";
import { RouterConfigError } from "./errors.ts";
import type { Router, RouterTarget, Routes } from "./router.ts";

/**
 * Weights, and A/B by headers (a `cookie` header too) with every operator App Mesh has. App Mesh
 * routes cannot mirror, pin sessions or match query parameters here.
 */
export const APPMESH_CAPABILITIES: RouterCapabilities = {
  weights: true,
  match: {
    headers: true,
    cookies: true,
    queryParams: false,
    uri: false,
    method: false,
    sourceLabels: false,
    operators: ["exact", "prefix", "suffix", "regex"],
  },
  mirroring: false,
  sessionAffinity: false,
  serviceFields: routerServiceFields("appmesh"),
};

const PRIMARY_ONLY: Routes = { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false };

const ref = (canary: Canary, kind: string, name: string): ObjectRef => ({
  apiVersion: APPMESH_API_VERSION,
  kind,
  namespace: canaryNamespace(canary),
  name,
});

/** The container port the listener forwards to: a numeric targetPort, a named one resolved, else port. */
function containerPort(canary: Canary, target: Workload): number {
  const { port, targetPort } = canary.spec.service;
  if (typeof targetPort === "number") return targetPort;
  if (targetPort === undefined) return port;
  const found = (target.spec?.template?.spec?.containers ?? [])
    .flatMap((c) => c.ports ?? [])
    .find((p) => p.name === targetPort);
  return found?.containerPort ?? port;
}

/**
 * The `appmesh` provider (App Mesh controller CRDs, appmesh.k8s.aws/v1beta2). The objects are owned by
 * the Canary; the App Mesh controller's awsName and meshRef are kept as it set them (it rejects changes).
 */
export class AppMeshRouter implements Router {
  readonly capabilities = APPMESH_CAPABILITIES;
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  check(target: RouterTarget): void {
    settings(target.canary, canaryOwnerReference(target.canary), target.canary.spec.service.port);
    if (target.resolved.strategy === "ab-testing" && (target.canary.spec.analysis.match ?? []).length === 0) {
      throw new RouterConfigError(
        `Canary ${canaryKey(target.canary)}: A/B routing was requested but spec.analysis.match is empty; add a header match`,
      );
    }
  }

  /** Creates or updates all six objects, keeping the split the <apex> router carries. */
  async reconcile(target: RouterTarget): Promise<void> {
    const { canary } = target;
    const { s, labels } = await this.#settings(canary);
    await this.#apply(canary, "VirtualNode", s.primary, (live) =>
      buildVirtualNode(s, s.primary, s.primary, labels.primary, live),
    );
    await this.#apply(canary, "VirtualNode", s.canary, (live) =>
      buildVirtualNode(s, s.canary, s.canary, labels.canary, live),
    );
    // The split is read just before it is written again (cache reads, no I/O between): read before the
    // writes above, an edit landing meanwhile would be overwritten by the old split without a Drift report.
    const current = await this.#owned<VirtualRouter>(canary, "VirtualRouter", s.apex);
    const routes = current ? parseRoutes(current, s.primary, s.canary) : PRIMARY_ONLY;
    await this.#apply(canary, "VirtualRouter", s.apex, (live) =>
      buildVirtualRouter(s, s.apex, apexRoutes(s, routes), live),
    );
    await this.#apply(canary, "VirtualRouter", s.canary, (live) =>
      buildVirtualRouter(s, s.canary, canaryRoutes(s), live),
    );
    for (const name of [s.apex, s.canary]) {
      const provider = { virtualRouter: { virtualRouterRef: { name } } };
      await this.#apply(canary, "VirtualService", name, (live) =>
        buildVirtualService(s, canary, name, provider, live),
      );
    }
  }

  async setRoutes(target: RouterTarget, routes: Routes): Promise<void> {
    const { s } = await this.#settings(target.canary);
    await this.#apply(target.canary, "VirtualRouter", s.apex, (live) =>
      buildVirtualRouter(s, s.apex, apexRoutes(s, routes), live),
    );
  }

  async getRoutes(target: RouterTarget): Promise<Routes | undefined> {
    const { canary } = target;
    const s = settings(canary, canaryOwnerReference(canary), canary.spec.service.port);
    const router = await this.#owned<VirtualRouter>(canary, "VirtualRouter", s.apex);
    return router ? parseRoutes(router, s.primary, s.canary) : undefined;
  }

  /** The split lives in the routes of the VirtualRouter <apex>, which the Canary owns. */
  splitField(target: RouterTarget): { ref: ObjectRef; path: string[] } {
    const { canary } = target;
    return { ref: ref(canary, "VirtualRouter", serviceNames(canary).apex), path: ["spec", "routes"] };
  }

  /**
   * revertOnDeletion: the garbage collector removes what the Canary owns, so clients of <apex> would lose
   * their virtual service. Leave a virtual node <apex> for the target's pods (behind the apex Service,
   * which converge.ts hands back to the target first) and point the released virtual service at it.
   */
  async finalize(target: RouterTarget): Promise<void> {
    const { canary } = target;
    const { s, labels } = await this.#settings(canary);
    const vn = await this.#client.get<KubeObject & { spec?: MeshIdentity }>(
      ref(canary, "VirtualNode", s.apex),
    );
    await this.#client.apply(buildVirtualNode(s, s.apex, s.apex, labels.target, vn?.spec, false));
    const vs = await this.#client.get<VirtualService>(ref(canary, "VirtualService", s.apex));
    if (!vs) {
      await this.#client.apply(
        buildVirtualService(
          s,
          canary,
          s.apex,
          { virtualNode: { virtualNodeRef: { name: s.apex } } },
          undefined,
          false,
        ),
      );
      return;
    }
    if (controllingCanary(vs) !== undefined && controllingCanary(vs) !== canary.metadata.name) return;
    await this.#client.mergePatch(ref(canary, "VirtualService", s.apex), {
      metadata: { ownerReferences: null },
      spec: { provider: { virtualRouter: null, virtualNode: { virtualNodeRef: { name: s.apex } } } },
    });
  }

  /** Settings with the target's container port, and the pod labels of target, primary and canary. */
  async #settings(
    canary: Canary,
  ): Promise<{ s: MeshSettings; labels: Record<"primary" | "canary" | "target", SelectorLabel> }> {
    const name = canary.spec.targetRef.name;
    const kind = targetKind(canary);
    const deployment = await this.#client.get<Workload>(kind.ref(canaryNamespace(canary), name));
    if (!deployment) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: ${kind.kind} ${canaryNamespace(canary)}/${name} (spec.targetRef) does not exist; the App Mesh virtual nodes select its pods`,
      );
    }
    const label = selectorLabel(deployment);
    const s = settings(canary, canaryOwnerReference(canary), containerPort(canary, deployment));
    return {
      s,
      labels: {
        target: label,
        canary: label,
        // The primary's pods carry <value>-primary, as the -primary Service selects them (workloads/services.ts).
        primary: { key: label.key, value: `${label.value}-primary` },
      },
    };
  }

  /** The object if it is this Canary's (or no Canary's, to adopt); another Canary's is an error. */
  async #owned<T extends KubeObject>(canary: Canary, kind: string, name: string): Promise<T | undefined> {
    const live = await this.#client.get<T & { spec?: MeshIdentity }>(ref(canary, kind, name));
    if (!live) return undefined;
    const owner = controllingCanary(live);
    if (owner !== undefined && owner !== canary.metadata.name) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: ${kind} ${objectKey(live)} is controlled by Canary ${owner}; ` +
          "two Canaries cannot share one apex name: change spec.service.name of one of them",
      );
    }
    const meshName = canary.spec.service.meshName;
    const meshRef = live.spec?.meshRef?.name;
    if (meshRef !== undefined && meshName !== undefined && meshRef !== meshName) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: ${kind} ${objectKey(live)} belongs to mesh ${meshRef}, but spec.service.meshName is ${meshName}; ` +
          `set spec.service.meshName to ${meshRef}, or move namespace ${canaryNamespace(canary)} to mesh ${meshName}`,
      );
    }
    return live;
  }

  /** Server-side applies build(live identity); a virtual service left pointing at a node is repointed first. */
  async #apply(
    canary: Canary,
    kind: string,
    name: string,
    build: (live: MeshIdentity | undefined) => KubeObject,
  ): Promise<void> {
    const live = await this.#owned<KubeObject & { spec?: MeshIdentity & VirtualService["spec"] }>(
      canary,
      kind,
      name,
    );
    const desired = build(live?.spec);
    if (kind === "VirtualService" && live?.spec?.provider?.virtualNode) {
      // Left by revertOnDeletion of an earlier Canary: App Mesh takes one provider, so swap it in one write.
      const provider = (desired as VirtualService).spec.provider;
      await this.#client.mergePatch(ref(canary, kind, name), {
        spec: { provider: { ...provider, virtualNode: null } },
      });
    }
    await this.#client.apply(desired);
  }
}
