/**
 * What kanaria makes of the Flagger forms a valid Canary may use: which router a versioned provider
 * spelling runs (a note), and which settings are ignored as Flagger ignores them (a warning, as the
 * controller's SettingsIgnored Event).
 */
import { type Canary, PROVIDER_ALIASES, type ProviderSpelling, routerOf } from "../api/canary.ts";
import { describeDropped, resolveCanary } from "../api/defaults.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";

/** What each versioned spelling's router writes, for the note. */
const WRITES: Record<keyof typeof PROVIDER_ALIASES, string> = {
  "gatewayapi:v1": "HTTPRoutes as gateway.networking.k8s.io/v1",
  "gatewayapi:v1beta1":
    "HTTPRoutes as gateway.networking.k8s.io/v1, which every Gateway API release since v1.0 serves as v1beta1 too",
  "appmesh:v1beta2":
    "appmesh.k8s.aws/v1beta2 objects without a mesh name: App Mesh takes the namespace's mesh",
};

export function flaggerNotes(m: Manifest, canary: Canary): Problem[] {
  const problems: Problem[] = [];
  const spelling = canary.spec.provider;
  if (spelling !== undefined && spelling in PROVIDER_ALIASES) {
    const router = routerOf(spelling);
    const writes = WRITES[spelling as Exclude<ProviderSpelling, typeof router>];
    const message = `provider ${spelling} runs kanaria's ${router} router (it writes ${writes})`;
    problems.push(problemAt(m, ["spec", "provider"], "note", message));
  }
  // Without spec.provider the router is the controller's --provider, unknown here: resolved as for a
  // router that splits traffic, only the drops every router makes are reported.
  for (const dropped of resolveCanary(canary.spec, "gatewayapi").dropped) {
    const message = `${describeDropped(dropped)}, as in Flagger; remove it to silence this warning`;
    problems.push(problemAt(m, ["spec", ...(dropped.fields[0] ?? "").split(".")], "warning", message));
  }
  return problems;
}
