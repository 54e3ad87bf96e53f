// Objects the `kanaria validate` unit tests start from and change one field at a time.
type Obj = Record<string, unknown>;

/** The smallest valid Canary: no metrics, so no references to other objects. */
export const CANARY: Obj = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  metadata: { name: "podinfo", namespace: "test" },
  spec: {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    service: { port: 9898 },
    analysis: { interval: "1m", threshold: 5, stepWeight: 10 },
  },
};
