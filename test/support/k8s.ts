// Helpers for integration test files (the cluster itself comes from global-setup.ts).
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, inject } from "vitest";
import { type KubeConnection, loadConnection } from "../../src/kube/connection.ts";

/** A KubeConfig for the test cluster (admin rights). */
export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject("kubeconfig"));
  return kc;
}

/** kanaria's own connection to the test cluster (admin rights), for the clients under test. */
export function kubeConnection(): KubeConnection {
  return loadConnection(inject("kubeconfig"));
}

export interface WaitForOptions<T> {
  /** What is being waited for, used in the timeout error ("deployment web to be Available"). */
  description: string;
  /** Default 60 s. */
  timeoutMs?: number;
  /** Default 250 ms. */
  intervalMs?: number;
  /** Done when this returns true for fn's result; default: the result is truthy. */
  until?: (value: T) => boolean;
}

/**
 * Polls fn until its result satisfies `until` (default: truthy) and returns that result. Errors thrown
 * by fn count as "not yet". On timeout, the error names the description and the last value or error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const until = opts.until ?? ((v: T) => Boolean(v));
  const started = Date.now();
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await fn();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() - started >= timeoutMs) {
      const observed =
        last === undefined
          ? "nothing"
          : "error" in last
            ? `error ${last.error instanceof Error ? last.error.message : inspect(last.error)}`
            : inspect(last.value, { depth: 6, breakLength: 120 });
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${opts.description}; last observed: ${observed}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Registers beforeAll/afterAll hooks that create a fresh namespace (and wait for its default
 * ServiceAccount, so Pods can be admitted) and delete it again. Returns the namespace name, usable
 * once beforeAll has run.
 */
export function useNamespace(prefix: string): string {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
  const name = `${base || "test"}-${randomBytes(4).toString("hex")}`;
  beforeAll(async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({
      body: { metadata: { name, labels: { "kanaria.dev/test-namespace": "true" } } },
    });
    await waitFor(() => core.readNamespacedServiceAccount({ name: "default", namespace: name }), {
      description: `ServiceAccount ${name}/default`,
      timeoutMs: 30_000,
    });
  });
  afterAll(async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    try {
      await core.deleteNamespace({ name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  });
  return name;
}

/** True for a 404 ApiException from @kubernetes/client-node. */
export function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}
