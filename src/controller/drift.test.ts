import { describe, expect, it } from "vitest";
import {
  changedBy,
  compareFields,
  driftMessage,
  type ManagedFieldsEntry,
  mergePatchFor,
  type PathStep,
  pathText,
} from "./drift.ts";

const template = (image: string, extra: Record<string, unknown> = {}) => ({
  metadata: { labels: { app: "ledger-primary" }, annotations: { "kanaria.dev/revision": "abc" } },
  spec: {
    containers: [
      { name: "ledger", image, ports: [{ name: "http", containerPort: 8080 }] },
      { name: "sidecar", image: "proxy:1" },
    ],
    ...extra,
  },
});

const restartIgnored = (path: PathStep[]) =>
  pathText(path) === 'metadata.annotations["kubectl.kubernetes.io/restartedAt"]';

describe("compareFields", () => {
  it.each([
    {
      case: "an image set by hand",
      found: template("ledger:HANDEDIT"),
      desired: template("ledger:1.0"),
      exact: true,
      drift: [["spec.containers[name=ledger].image", "ledger:HANDEDIT", "ledger:1.0"]],
    },
    {
      case: "equal objects",
      found: template("ledger:1.0"),
      desired: template("ledger:1.0"),
      exact: true,
      drift: [],
    },
    {
      case: "a field added by hand, exact",
      found: template("ledger:1.0", { nodeSelector: { zone: "a" } }),
      desired: template("ledger:1.0"),
      exact: true,
      drift: [["spec.nodeSelector", { zone: "a" }, undefined]],
    },
    {
      case: "a field the server adds, not exact",
      found: { selector: { app: "x" }, clusterIP: "10.0.0.1" },
      desired: { selector: { app: "x" } },
      exact: false,
      drift: [],
    },
    {
      case: "a selector key added by hand",
      found: { app: "x-primary", hotfix: "yes" },
      desired: { app: "x-primary" },
      exact: true,
      drift: [["hotfix", "yes", undefined]],
    },
    {
      case: "a container added by hand is one drift",
      found: {
        containers: [
          { name: "a", image: "1" },
          { name: "debug", image: "busybox" },
        ],
      },
      desired: { containers: [{ name: "a", image: "1" }] },
      exact: true,
      drift: [["containers[name=debug]", { name: "debug", image: "busybox" }, undefined]],
    },
    {
      case: "containers in another order are the same",
      found: {
        containers: [
          { name: "b", image: "2" },
          { name: "a", image: "1" },
        ],
      },
      desired: {
        containers: [
          { name: "a", image: "1" },
          { name: "b", image: "2" },
        ],
      },
      exact: true,
      drift: [],
    },
    {
      case: "a list without names differs as a whole",
      found: { args: ["--a", "--debug"] },
      desired: { args: ["--a"] },
      exact: true,
      drift: [["args", ["--a", "--debug"], ["--a"]]],
    },
    {
      case: "empty maps, empty lists and nulls equal absence",
      found: { a: {}, b: [], c: null, creationTimestamp: null },
      desired: { d: {} },
      exact: true,
      drift: [],
    },
    {
      case: "a field removed by hand",
      found: { data: { a: "1" } },
      desired: { data: { a: "1", b: "2" } },
      exact: true,
      drift: [["data.b", undefined, "2"]],
    },
    {
      case: "a restart annotation is ignored",
      found: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now", x: "1" } } },
      desired: { metadata: { annotations: { x: "1" } } },
      exact: true,
      drift: [],
    },
  ])("$case", ({ found, desired, exact, drift }) => {
    const fields = compareFields(found, desired, { exact, ignore: restartIgnored });
    expect(fields.map((f) => [pathText(f.path), f.found, f.restored])).toEqual(drift);
  });
});

describe("mergePatchFor", () => {
  it("sets changed fields, nulls added ones and replaces lists whole", () => {
    const found = template("ledger:HANDEDIT", { nodeSelector: { zone: "a" } });
    const desired = template("ledger:1.0");
    expect(mergePatchFor(found, desired)).toEqual({
      spec: { containers: desired.spec.containers, nodeSelector: { zone: null } },
    });
  });

  it("is empty when nothing differs, and leaves ignored fields alone", () => {
    const found = { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now" } } };
    expect(mergePatchFor(found, { metadata: {} }, restartIgnored)).toEqual({});
    expect(mergePatchFor(template("a"), template("a"))).toEqual({});
  });

  it("puts a removed key back and removes an added one", () => {
    expect(mergePatchFor({ app: "x", hotfix: "y" }, { app: "x", tier: "web" })).toEqual({
      hotfix: null,
      tier: "web",
    });
  });
});

describe("changedBy", () => {
  const image: PathStep[] = [
    { field: "spec" },
    { field: "template" },
    { field: "spec" },
    { field: "containers" },
    { name: "ledger" },
    { field: "image" },
  ];
  const containers = (fields: Record<string, unknown>) => ({
    "f:spec": { "f:template": { "f:spec": { "f:containers": { 'k:{"name":"ledger"}': fields } } } },
  });
  const kanaria: ManagedFieldsEntry = {
    manager: "kanaria",
    operation: "Apply",
    time: "2026-12-06T10:00:00Z",
    fieldsV1: containers({ ".": {}, "f:name": {}, "f:ports": {} }),
  };
  const setImage: ManagedFieldsEntry = {
    manager: "kubectl-set",
    operation: "Update",
    time: "2026-12-06T11:00:00Z",
    fieldsV1: containers({ "f:image": {} }),
  };
  const controller: ManagedFieldsEntry = {
    manager: "kube-controller-manager",
    operation: "Update",
    time: "2026-12-06T11:00:01Z",
    fieldsV1: { "f:metadata": { "f:annotations": { "f:deployment.kubernetes.io/revision": {} } } },
  };
  const status: ManagedFieldsEntry = {
    manager: "kube-controller-manager",
    operation: "Update",
    subresource: "status",
    time: "2026-12-06T11:00:02Z",
    fieldsV1: containers({ "f:image": {} }),
  };

  it("names the manager that owns the drifted field, not a later write elsewhere", () => {
    expect(changedBy([kanaria, setImage, controller, status], image)).toBe("kubectl-set");
  });

  it("is kanaria when kanaria owns the field (its own change on its way)", () => {
    const own = { ...kanaria, fieldsV1: containers({ "f:image": {} }) };
    expect(changedBy([own, controller], image)).toBe("kanaria");
  });

  it("names kubectl scale, which writes spec.replicas through the scale subresource", () => {
    const replicas = [{ field: "spec" }, { field: "replicas" }];
    const applied = { ...kanaria, fieldsV1: { "f:spec": { "f:replicas": {}, "f:template": {} } } };
    const scale: ManagedFieldsEntry = {
      manager: "kubectl-scale",
      operation: "Update",
      subresource: "scale",
      time: "2026-12-06T12:00:00Z",
      fieldsV1: { "f:spec": { "f:replicas": {} } },
    };
    expect(changedBy([{ ...applied, fieldsV1: { "f:spec": { "f:template": {} } } }, scale], replicas)).toBe(
      "kubectl-scale",
    );
    expect(changedBy([applied, status], replicas)).toBe("kanaria");
  });

  it("for a field nobody owns any more, names the latest write besides kanaria's", () => {
    const edit = { manager: "kubectl-edit", operation: "Update", time: "2026-12-06T12:00:00Z", fieldsV1: {} };
    expect(changedBy([kanaria, edit, status], image)).toBe("kubectl-edit");
  });

  it("knows nobody in an object without managedFields", () => {
    expect(changedBy([], image)).toBeUndefined();
  });
});

describe("driftMessage", () => {
  const field = {
    path: [{ field: "spec" }, { field: "selector" }, { field: "app" }],
    found: "other",
    restored: "ledger-primary",
  };

  it("names the object, the field, both values and who changed it", () => {
    const message = driftMessage({
      object: "Service apps/ledger-primary",
      fields: [field],
      hidden: false,
      manager: "kubectl-patch",
      mode: "correct",
    });
    expect(message).toBe(
      'Service apps/ledger-primary was changed by kubectl-patch; restored: spec.selector.app: found "other", restored "ledger-primary"',
    );
  });

  it("never shows a Secret's values", () => {
    const message = driftMessage({
      object: "Secret apps/db-primary",
      fields: [
        { path: [{ field: "data" }, { field: "password" }], found: "aHVudGVyMg==", restored: "c2VjcmV0" },
      ],
      hidden: true,
      manager: undefined,
      mode: "correct",
    });
    expect(message).not.toContain("aHVudGVyMg");
    expect(message).not.toContain("c2VjcmV0");
    expect(message).toContain("data.password: found (hidden), restored (hidden)");
  });

  it("in warn mode says it left the change, and reports a deletion", () => {
    const warn = driftMessage({
      object: "Service a/b",
      fields: [field],
      hidden: false,
      manager: "m",
      mode: "warn",
    });
    expect(warn).toContain("left as found (kanaria.dev/drift: warn)");
    expect(warn).toContain(`kanaria's value "ledger-primary"`);
    const gone = driftMessage({
      object: "Service a/b-canary",
      fields: [],
      hidden: false,
      manager: undefined,
      mode: "correct",
    });
    expect(gone).toBe("Service a/b-canary was deleted; recreated");
  });

  it("lists three fields and counts the rest", () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ ...field, path: [{ field: `f${i}` }] }));
    const message = driftMessage({
      object: "X a/b",
      fields: many,
      hidden: false,
      manager: "m",
      mode: "correct",
    });
    expect(message).toContain("f2:");
    expect(message).not.toContain("f3:");
    expect(message).toMatch(/and 2 more$/);
  });
});
