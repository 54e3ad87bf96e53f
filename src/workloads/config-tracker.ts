import type { V1PodSpec, V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient } from "../kube/types.ts";
import { shortHash } from "./hash.ts";
import { includedLabels, type LabelPrefixes } from "./label-prefix.ts";
import {
  type ConfigMap,
  canaryKey,
  canaryNamespace,
  canaryOwnerReference,
  controllingCanary,
  type Secret,
  type Workload,
} from "./meta.ts";

export type ConfigKind = "configmap" | "secret";

/** A ConfigMap or Secret the pod template reads. */
export interface ConfigRef {
  kind: ConfigKind;
  name: string;
  /** True only when every reference to it is `optional: true` (one required reference makes it required). */
  optional: boolean;
}

/** "configmap/NAME" | "secret/NAME" -> checksum of the data; what Canary status.trackedConfigs holds. */
export type TrackedConfigs = Record<string, string>;

/** A ConfigMap or Secret annotated with a value starting with "disable" is not tracked (as Flagger's flagger.app/config-tracking). */
export const CONFIG_TRACKING_ANNOTATION = "kanaria.dev/config-tracking";

/** Secret types that carry application config; others (registry credentials, tokens) belong to the ServiceAccount. */
const TRACKED_SECRET_TYPES = [
  "Opaque",
  "kubernetes.io/basic-auth",
  "kubernetes.io/ssh-auth",
  "kubernetes.io/tls",
];

export class ConfigTrackingError extends ConfigBlockerError {
  override readonly name = "ConfigTrackingError";

  constructor(message: string) {
    super("ConfigNotFound", message);
  }
}

function configKey(kind: ConfigKind, name: string): string {
  return `${kind}/${name}`;
}

export function primaryConfigName(name: string): string {
  return `${name}-primary`;
}

type Visitor = (kind: ConfigKind, name: string, optional: boolean, rename: (to: string) => void) => void;

/** Calls visit for every ConfigMap/Secret reference in volumes, env and envFrom of all (init) containers. */
function visitConfigRefs(spec: V1PodSpec, visit: Visitor): void {
  const byName = (kind: ConfigKind, holder: { name?: string; optional?: boolean } | undefined) => {
    if (holder?.name) {
      visit(kind, holder.name, holder.optional === true, (to) => {
        holder.name = to;
      });
    }
  };
  for (const volume of spec.volumes ?? []) {
    byName("configmap", volume.configMap);
    const secret = volume.secret;
    if (secret?.secretName) {
      visit("secret", secret.secretName, secret.optional === true, (to) => {
        secret.secretName = to;
      });
    }
    for (const source of volume.projected?.sources ?? []) {
      byName("configmap", source.configMap);
      byName("secret", source.secret);
    }
  }
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const env of container.env ?? []) {
      byName("configmap", env.valueFrom?.configMapKeyRef);
      byName("secret", env.valueFrom?.secretKeyRef);
    }
    for (const envFrom of container.envFrom ?? []) {
      byName("configmap", envFrom.configMapRef);
      byName("secret", envFrom.secretRef);
    }
  }
}

/** Every ConfigMap and Secret the template references, each once, in order of first appearance. */
export function findConfigRefs(template: V1PodTemplateSpec): ConfigRef[] {
  const refs = new Map<string, ConfigRef>();
  if (!template.spec) return [];
  visitConfigRefs(template.spec, (kind, name, optional) => {
    const known = refs.get(configKey(kind, name));
    if (known) known.optional &&= optional;
    else refs.set(configKey(kind, name), { kind, name, optional });
  });
  return [...refs.values()];
}

function trackingDisabled(obj: ConfigMap | Secret): boolean {
  return (obj.metadata.annotations?.[CONFIG_TRACKING_ANNOTATION] ?? "").startsWith("disable");
}

/** Checksum of what the pods see; never the data itself, which must not reach logs, events or status. */
export function checksum(obj: ConfigMap | Secret): string {
  // Objects from the watch cache stay the same (frozen) object until they change: hash each once.
  const known = checksums.get(obj);
  if (known !== undefined) return known;
  const sum =
    obj.kind === "Secret"
      ? shortHash({ data: (obj as Secret).data ?? {} })
      : shortHash({ data: (obj as ConfigMap).data ?? {}, binaryData: (obj as ConfigMap).binaryData ?? {} });
  if (Object.isFrozen(obj)) checksums.set(obj, sum);
  return sum;
}

const checksums = new WeakMap<object, string>();

function readConfig(client: KubeClient, namespace: string, kind: ConfigKind, name: string) {
  return client.get<ConfigMap | Secret>({
    apiVersion: "v1",
    kind: kind === "configmap" ? "ConfigMap" : "Secret",
    namespace,
    name,
  });
}

const KIND_NAMES: Record<ConfigKind, string> = { configmap: "ConfigMap", secret: "Secret" };

/** The checksum of one referenced config, or undefined when it is not tracked. */
async function trackOne(client: KubeClient, target: Workload, ref: ConfigRef): Promise<string | undefined> {
  const obj = await readConfig(client, target.metadata.namespace ?? "", ref.kind, ref.name);
  if (!obj) {
    if (ref.optional) return undefined;
    throw new ConfigTrackingError(
      `${target.kind} ${objectKey(target)} references ${KIND_NAMES[ref.kind]} ${ref.name}, which does not exist: ` +
        `create it, or mark the reference optional: true in spec.template`,
    );
  }
  if (trackingDisabled(obj)) return undefined;
  const untrackedSecret =
    obj.kind === "Secret" && !TRACKED_SECRET_TYPES.includes((obj as Secret).type ?? "Opaque");
  return untrackedSecret ? undefined : checksum(obj);
}

/**
 * Checksums of the ConfigMaps and Secrets the target's pod template references. A missing optional
 * reference is skipped (the pods start without it); a missing required one is an error, because the
 * target's pods cannot start either.
 */
export async function trackConfigs(client: KubeClient, target: Workload): Promise<TrackedConfigs> {
  const refs = target.spec?.template ? findConfigRefs(target.spec.template) : [];
  const sums = await Promise.all(refs.map((ref) => trackOne(client, target, ref)));
  const tracked: TrackedConfigs = {};
  refs.forEach((ref, i) => {
    const sum = sums[i];
    if (sum !== undefined) tracked[configKey(ref.kind, ref.name)] = sum;
  });
  return tracked;
}

export function parseConfigKey(key: string): { kind: ConfigKind; name: string } {
  const [kind, name] = key.split("/", 2);
  if ((kind !== "configmap" && kind !== "secret") || !name) {
    throw new Error(
      `invalid tracked config key ${JSON.stringify(key)}: expected configmap/NAME or secret/NAME`,
    );
  }
  return { kind, name };
}

/** The `<name>-primary` copy of a tracked config, as kanaria applies it. */
export function primaryCopy(
  canary: Canary,
  original: ConfigMap | Secret,
  labelPrefixes: LabelPrefixes = [],
): ConfigMap | Secret {
  const labels = includedLabels(original.metadata.labels, labelPrefixes);
  const metadata = {
    name: primaryConfigName(original.metadata.name),
    namespace: canaryNamespace(canary),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ownerReferences: [canaryOwnerReference(canary)],
  };
  if (original.kind === "Secret") {
    const secret = original as Secret;
    return {
      apiVersion: "v1",
      kind: "Secret",
      metadata,
      type: secret.type ?? "Opaque",
      data: secret.data ?? {},
    };
  }
  const cm = original as ConfigMap;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata,
    data: cm.data ?? {},
    binaryData: cm.binaryData ?? {},
  };
}

/**
 * Creates or updates `<name>-primary` copies of the tracked configs, owned by the Canary, so the primary
 * keeps its own config while the target's changes are analysed. Copies the current data: the caller
 * recomputes the revision before promoting, so a config edited meanwhile is a new revision.
 */
export async function copyConfigsToPrimary(
  client: KubeClient,
  canary: Canary,
  trackedConfigs: TrackedConfigs,
  labelPrefixes: LabelPrefixes = [],
): Promise<string[]> {
  const namespace = canaryNamespace(canary);
  const copied: string[] = [];
  for (const key of Object.keys(trackedConfigs)) {
    const { kind, name } = parseConfigKey(key);
    const original = await readConfig(client, namespace, kind, name);
    if (!original) {
      throw new ConfigTrackingError(
        `Canary ${canaryKey(canary)}: ${KIND_NAMES[kind]} ${namespace}/${name} was deleted after it was tracked; ` +
          `restore it or remove the reference from the target's pod template`,
      );
    }
    const copy = await client.apply(primaryCopy(canary, original, labelPrefixes));
    await keepPromotedCopy(client, canary, original, labelPrefixes);
    copied.push(copy.metadata.name);
  }
  return copied;
}

/**
 * `<name>-primary-promoted`: a second copy of what was promoted. While a release is analysed the
 * original already holds the new config, so this is the only place left to put a hand-edited
 * `-primary` copy back from (a Secret stays a Secret: its values never leave one). It is not immutable,
 * which would take the right to delete ConfigMaps and Secrets to replace it: an edit of it is caught
 * instead, as it no longer hashes to the promoted revision (drift-check.ts).
 */
export function promotedCopyName(name: string): string {
  return `${primaryConfigName(name)}-promoted`;
}

/** The promoted copy of an original, as kanaria applies it. */
export function promotedCopy(
  canary: Canary,
  original: ConfigMap | Secret,
  labelPrefixes: LabelPrefixes = [],
): ConfigMap | Secret {
  const copy = primaryCopy(canary, original, labelPrefixes);
  return { ...copy, metadata: { ...copy.metadata, name: promotedCopyName(original.metadata.name) } };
}

/** Applies the promoted copy when its content is not the original's (read from the cache first). */
async function keepPromotedCopy(
  client: KubeClient,
  canary: Canary,
  original: ConfigMap | Secret,
  labelPrefixes: LabelPrefixes,
): Promise<void> {
  const want = promotedCopy(canary, original, labelPrefixes);
  const ref = {
    apiVersion: "v1",
    kind: want.kind,
    namespace: canaryNamespace(canary),
    name: want.metadata.name,
  };
  const have = await client.get<ConfigMap | Secret>(ref);
  if (have && checksum(have) === checksum(want)) return;
  // Someone else's object of that name: no promoted copy (a drifted -primary copy is then only reported).
  if (have && controllingCanary(have) !== canary.metadata.name) return;
  await client.apply(want);
}

/** A copy of the template whose references to tracked configs point at their `-primary` copies. */
export function rewriteTemplateForPrimary(
  template: V1PodTemplateSpec,
  trackedConfigs: TrackedConfigs,
): V1PodTemplateSpec {
  const copy = structuredClone(template);
  if (copy.spec) {
    visitConfigRefs(copy.spec, (kind, name, _optional, rename) => {
      if (Object.hasOwn(trackedConfigs, configKey(kind, name))) rename(primaryConfigName(name));
    });
  }
  return copy;
}

/** The reverse of rewriteTemplateForPrimary: references to the copies in `copied` point at their originals again. */
export function templateFromPrimary(template: V1PodTemplateSpec, copied: TrackedConfigs): V1PodTemplateSpec {
  const copy = structuredClone(template);
  if (copy.spec) {
    visitConfigRefs(copy.spec, (kind, name, _optional, rename) => {
      const original = name.slice(0, -"-primary".length);
      if (name.endsWith("-primary") && Object.hasOwn(copied, configKey(kind, original))) rename(original);
    });
  }
  return copy;
}
