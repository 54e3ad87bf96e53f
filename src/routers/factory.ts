import type { ProviderName } from "../api/canary.ts";
import type { KubeClient } from "../kube/types.ts";
import { KubernetesRouter } from "./kubernetes.ts";
import { NginxRouter } from "./nginx.ts";
import type { Router } from "./router.ts";

export interface RouterDeps {
  client: KubeClient;
  /** ingress-nginx --annotations-prefix; default nginx.ingress.kubernetes.io. */
  nginxAnnotationPrefix?: string;
}

/** One line per provider: adding gatewayapi or appmesh is its file plus an entry here. */
const ROUTERS: Partial<Record<ProviderName, (deps: RouterDeps) => Router>> = {
  kubernetes: () => new KubernetesRouter(),
  nginx: (deps) =>
    new NginxRouter(
      deps.client,
      deps.nginxAnnotationPrefix ? { annotationPrefix: deps.nginxAnnotationPrefix } : {},
    ),
};

export function supportedProviders(): ProviderName[] {
  return Object.keys(ROUTERS) as ProviderName[];
}

export class UnsupportedProviderError extends Error {
  override readonly name = "UnsupportedProviderError";
}

export function createRouter(provider: ProviderName, deps: RouterDeps): Router {
  const make = ROUTERS[provider];
  if (!make) {
    throw new UnsupportedProviderError(
      `provider ${JSON.stringify(provider)} is not supported yet; supported providers: ${supportedProviders().join(", ")}. ` +
        "Set spec.provider (or the controller's --provider) to one of them",
    );
  }
  return make(deps);
}
