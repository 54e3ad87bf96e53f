import type { ProviderName } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import type { KubeClient } from "../kube/types.ts";
import { APPMESH_CAPABILITIES, AppMeshRouter } from "./appmesh.ts";
import type { RouterCapabilities } from "./capabilities.ts";
import { GATEWAYAPI_CAPABILITIES, GatewayApiRouter } from "./gatewayapi.ts";
import { KUBERNETES_CAPABILITIES, KubernetesRouter } from "./kubernetes.ts";
import { NGINX_CAPABILITIES, NginxRouter } from "./nginx.ts";
import type { Router } from "./router.ts";

export interface RouterDeps {
  client: KubeClient;
  /** ingress-nginx --annotations-prefix; default nginx.ingress.kubernetes.io. */
  nginxAnnotationPrefix?: string;
}

interface RouterEntry {
  capabilities: RouterCapabilities;
  create: (deps: RouterDeps) => Router;
}

/** One entry per provider: adding gatewayapi or appmesh is its file plus an entry here. */
const ROUTERS: Partial<Record<ProviderName, RouterEntry>> = {
  kubernetes: { capabilities: KUBERNETES_CAPABILITIES, create: () => new KubernetesRouter() },
  gatewayapi: { capabilities: GATEWAYAPI_CAPABILITIES, create: (deps) => new GatewayApiRouter(deps.client) },
  nginx: {
    capabilities: NGINX_CAPABILITIES,
    create: (deps) =>
      new NginxRouter(
        deps.client,
        deps.nginxAnnotationPrefix ? { annotationPrefix: deps.nginxAnnotationPrefix } : {},
      ),
  },
  appmesh: { capabilities: APPMESH_CAPABILITIES, create: (deps) => new AppMeshRouter(deps.client) },
};

export function supportedProviders(): ProviderName[] {
  return Object.keys(ROUTERS) as ProviderName[];
}

export class UnsupportedProviderError extends ConfigBlockerError {
  override readonly name = "UnsupportedProviderError";

  constructor(message: string) {
    super("UnsupportedProvider", message);
  }
}

/** The capabilities of a provider's router, without building one; undefined when kanaria has none. */
export function routerCapabilities(provider: ProviderName): RouterCapabilities | undefined {
  return ROUTERS[provider]?.capabilities;
}

export function createRouter(provider: ProviderName, deps: RouterDeps): Router {
  const entry = ROUTERS[provider];
  if (!entry) {
    throw new UnsupportedProviderError(
      `provider ${JSON.stringify(provider)} is not supported yet; supported providers: ${supportedProviders().join(", ")}. ` +
        "Set spec.provider (or the controller's --provider) to one of them",
    );
  }
  return entry.create(deps);
}
