// The pod runner's Prometheus targets (pod-runner.ts): one file_sd target group per podinfo process,
// carrying the `__meta_kubernetes_pod_*` labels that Prometheus's Kubernetes service discovery gives a
// pod, so cluster.sh's `kubernetes-pods` job relabels them the usual way (pod labels as labels,
// `kubernetes_namespace`, `kubernetes_pod_name`), as kanaria's built-in queries for the kubernetes
// router expect. The address is the pod IP: Prometheus reaches it through the data plane's HTTP proxy
// (netns_bridge.py --http-proxy), never directly.
import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeObject } from "../../src/kube/types.ts";

export type Pod = KubeObject & Pick<V1Pod, "spec" | "status">;

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus's label-name sanitizing for Kubernetes labels and annotations: every other character becomes `_`. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

/** POD's target: its podinfo process's metrics server at ip:metricsPort, as Kubernetes SD would label it. */
export function podTarget(
  pod: Pod,
  containerName: string,
  ip: string,
  metricsPort: number,
  ready: boolean,
): TargetGroup {
  const labels: Record<string, string> = {
    __meta_kubernetes_namespace: pod.metadata.namespace ?? "",
    __meta_kubernetes_pod_name: pod.metadata.name,
    __meta_kubernetes_pod_uid: pod.metadata.uid ?? "",
    __meta_kubernetes_pod_ip: ip,
    __meta_kubernetes_pod_node_name: pod.spec?.nodeName ?? "",
    __meta_kubernetes_pod_container_name: containerName,
    __meta_kubernetes_pod_container_port_number: String(metricsPort),
    __meta_kubernetes_pod_ready: String(ready),
  };
  for (const [key, value] of Object.entries(pod.metadata.labels ?? {})) {
    labels[`__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`] = value;
    labels[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(key)}`] = "true";
  }
  for (const [key, value] of Object.entries(pod.metadata.annotations ?? {})) {
    labels[`__meta_kubernetes_pod_annotation_${sanitizeLabelName(key)}`] = value;
    labels[`__meta_kubernetes_pod_annotationpresent_${sanitizeLabelName(key)}`] = "true";
  }
  return { targets: [`${ip}:${metricsPort}`], labels };
}

/**
 * Replaces FILE with GROUPS. Written to a dot-file beside it and renamed, so Prometheus (which reads
 * `*.json` in that directory on every change) never sees half a file.
 */
export function writeTargets(file: string, groups: TargetGroup[]): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(groups, null, 1)}\n`);
  renameSync(tmp, file);
}
