import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, deploymentFixture, NS } from "../../test/helpers/fixtures.ts";
import type { CanarySpec } from "../api/canary.ts";
import type { Deployment, Service } from "./meta.ts";
import {
  buildServices,
  ensureServices,
  releaseApexService,
  ServiceConfigError,
  serviceNames,
  servicePorts,
} from "./services.ts";

const withService = (service: Partial<CanarySpec["service"]>) =>
  canaryFixture({ service: { port: 9898, ...service } });

describe("serviceNames", () => {
  it("defaults the apex to the target name", () => {
    expect(serviceNames(canaryFixture())).toEqual({
      apex: "podinfo",
      primary: "podinfo-primary",
      canary: "podinfo-canary",
    });
    expect(serviceNames(withService({ name: "shop" })).canary).toBe("shop-canary");
  });
});

describe("buildServices", () => {
  const services = buildServices(canaryFixture(), deploymentFixture());

  it("points the apex and -primary at the primary's pods and -canary at the target's", () => {
    expect(services.apex.spec?.selector).toEqual({ app: "podinfo-primary" });
    expect(services.primary.spec?.selector).toEqual({ app: "podinfo-primary" });
    expect(services.canary.spec?.selector).toEqual({ app: "podinfo" });
    expect(services.canary.metadata.name).toBe("podinfo-canary");
    expect(services.canary.spec?.type).toBe("ClusterIP");
  });

  it('exposes spec.service.port as "http" targeting the same port by default', () => {
    expect(services.apex.spec?.ports).toEqual([
      { name: "http", protocol: "TCP", port: 9898, targetPort: 9898 },
    ]);
  });

  it("adds the custom metadata of each Service and owns them all", () => {
    const custom = buildServices(
      withService({
        apex: {
          labels: { tier: "edge" },
          annotations: { "external-dns.alpha.kubernetes.io/hostname": "shop.example" },
        },
        canary: { annotations: { scrape: "yes" } },
      }),
      deploymentFixture(),
    );
    expect(custom.apex.metadata.labels).toEqual({ tier: "edge", app: "podinfo" });
    expect(custom.apex.metadata.annotations).toEqual({
      "external-dns.alpha.kubernetes.io/hostname": "shop.example",
    });
    expect(custom.canary.metadata.annotations).toEqual({ scrape: "yes" });
    expect(custom.primary.metadata.labels).toEqual({ app: "podinfo-primary" });
    for (const svc of Object.values(custom)) {
      expect(svc.metadata.ownerReferences?.[0]).toMatchObject({
        kind: "Canary",
        name: "podinfo",
        controller: true,
      });
    }
  });
});

describe("servicePorts", () => {
  it("uses portName, a named targetPort and appProtocol", () => {
    const ports = servicePorts(
      withService({ port: 80, portName: "web", targetPort: "http", appProtocol: "kubernetes.io/h2c" }),
      deploymentFixture(),
    );
    expect(ports).toEqual([
      { name: "web", protocol: "TCP", port: 80, targetPort: "http", appProtocol: "kubernetes.io/h2c" },
    ]);
  });

  it("rejects a targetPort name no container declares, naming the field and the ports there are", () => {
    const fn = () => servicePorts(withService({ targetPort: "grpc" }), deploymentFixture());
    expect(fn).toThrow(ServiceConfigError);
    expect(fn).toThrow(
      'Canary shop/podinfo: spec.service.targetPort "grpc" is not the name of a port of Deployment shop/podinfo ' +
        "(named ports: http, http-metrics); set spec.service.targetPort to one of them or to a port number",
    );
  });

  it("adds every other container port with portDiscovery", () => {
    expect(servicePorts(withService({ portDiscovery: true }), deploymentFixture())).toEqual([
      { name: "http", protocol: "TCP", port: 9898, targetPort: 9898 },
      { name: "http-metrics", protocol: "TCP", port: 9797, targetPort: 9797 },
    ]);
  });

  it("names unnamed discovered ports tcp-<container>-<index> and skips mesh sidecars", () => {
    const d = deploymentFixture();
    const spec = d.spec?.template.spec;
    if (!spec) throw new Error("fixture has no pod spec");
    spec.containers.push(
      { name: "sidecar", ports: [{ containerPort: 7000 }] },
      { name: "istio-proxy", ports: [{ containerPort: 15090, name: "http-envoy-prom" }] },
    );
    const names = servicePorts(withService({ portDiscovery: true }), d).map((p) => p.name);
    expect(names).toEqual(["http", "http-metrics", "tcp-sidecar-0"]);
  });

  it("rejects a numeric targetPort (or port) that no container declares, naming the field and the ports", () => {
    expect(() => servicePorts(withService({ port: 80, targetPort: 8080 }), deploymentFixture())).toThrow(
      "Canary shop/podinfo: spec.service.targetPort 8080 is not a container port of Deployment shop/podinfo (ports: 9898, 9797); " +
        "set spec.service.targetPort to one of them, or declare the port in the pod template's containers[].ports",
    );
    expect(() => servicePorts(withService({ port: 80 }), deploymentFixture())).toThrow(
      /spec\.service\.port 80 is not/,
    );
  });

  it("accepts a numeric targetPort when the containers declare no ports (Kubernetes does not require it)", () => {
    const d = deploymentFixture();
    for (const c of d.spec?.template.spec?.containers ?? []) delete c.ports;
    expect(servicePorts(withService({ port: 80, targetPort: 8080 }), d).map((p) => p.targetPort)).toEqual([
      8080,
    ]);
  });

  it("rejects a discovered port whose name clashes with the main port", () => {
    // The main port targets 9797, so the container port named "http" (9898) is discovered too.
    const fn = () =>
      servicePorts(withService({ port: 80, targetPort: 9797, portDiscovery: true }), deploymentFixture());
    expect(fn).toThrow(ServiceConfigError);
    expect(fn).toThrow(
      /portDiscovery \(http 9898\/TCP\) uses the same name "http" as spec\.service\.port\/portName/,
    );
  });

  it("rejects a discovered port whose number clashes with the main port", () => {
    const fn = () =>
      servicePorts(withService({ port: 9797, targetPort: 9898, portDiscovery: true }), deploymentFixture());
    expect(fn).toThrow(/uses the same port 9797\/TCP/);
  });
});

describe("ensureServices", () => {
  const svcRef = (name: string) => ({ apiVersion: "v1", kind: "Service", namespace: NS, name });

  it("applies the three Services idempotently", async () => {
    const client = new FakeKubeClient();
    await ensureServices(client, canaryFixture(), deploymentFixture());
    const again = await ensureServices(client, canaryFixture(), deploymentFixture());
    expect(again.apex.metadata.generation).toBe(1);
    for (const name of ["podinfo", "podinfo-primary", "podinfo-canary"]) {
      expect(await client.get(svcRef(name))).toBeDefined();
    }
  });

  it("takes over only selector and ports of an apex Service the user created", async () => {
    const users: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "podinfo", namespace: NS, labels: { "app.kubernetes.io/managed-by": "Helm" } },
      spec: { type: "NodePort", selector: { app: "podinfo" }, ports: [{ port: 9898, nodePort: 30080 }] },
    };
    const client = new FakeKubeClient([users]);
    await ensureServices(client, canaryFixture(), deploymentFixture());
    const apex = await client.get<Service>(svcRef("podinfo"));
    expect(apex?.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "Helm" });
    expect(apex?.metadata.ownerReferences).toBeUndefined();
    expect(apex?.spec?.selector).toEqual({ app: "podinfo-primary" });
    expect(apex?.spec?.type).toBe("NodePort");
  });

  it("refuses a Service another Canary controls", async () => {
    const other: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "podinfo-canary",
        namespace: NS,
        ownerReferences: [
          { apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", name: "other", uid: "u2", controller: true },
        ],
      },
    };
    await expect(
      ensureServices(new FakeKubeClient([other]), canaryFixture(), deploymentFixture()),
    ).rejects.toThrow(
      "Canary shop/podinfo: Service shop/podinfo-canary is controlled by Canary other; set spec.service.name to a name no other Canary uses",
    );
  });

  it("fails before writing anything when the target has no selector label", async () => {
    const d = deploymentFixture();
    (d.spec as NonNullable<Deployment["spec"]>).selector = { matchLabels: { tier: "web" } };
    const client = new FakeKubeClient();
    await expect(ensureServices(client, canaryFixture(), d)).rejects.toThrow(/none of the labels/);
    expect(client.writes).toEqual([]);
  });
});

describe("releaseApexService", () => {
  const svcRef = { apiVersion: "v1", kind: "Service", namespace: NS, name: "podinfo" };

  it("points a user's apex Service back at the target's pods", async () => {
    const users: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "podinfo", namespace: NS },
      spec: { selector: { app: "podinfo" }, ports: [{ port: 9898 }] },
    };
    const client = new FakeKubeClient([users]);
    await ensureServices(client, canaryFixture(), deploymentFixture());
    await releaseApexService(client, canaryFixture(), deploymentFixture());
    const apex = await client.get<Service>(svcRef);
    expect(apex?.spec?.selector).toEqual({ app: "podinfo" });
    expect(apex?.spec?.ports?.[0]?.port).toBe(9898);
  });

  it("hands a Service the Canary created over to the target, out of garbage collection's reach", async () => {
    const client = new FakeKubeClient();
    await ensureServices(client, canaryFixture(), deploymentFixture());
    await releaseApexService(client, canaryFixture(), deploymentFixture());
    const apex = await client.get<Service>(svcRef);
    expect(apex?.spec?.selector).toEqual({ app: "podinfo" });
    expect(apex?.metadata.ownerReferences ?? []).toEqual([]);
  });
});

describe("Flagger's headless, trafficDistribution and unmanagedMetadata", () => {
  const svcRef = (name: string) => ({ apiVersion: "v1", kind: "Service", namespace: NS, name });
  it("makes all three Services headless with the traffic distribution asked for", () => {
    const services = buildServices(
      withService({ headless: true, trafficDistribution: "PreferSameZone" }),
      deploymentFixture(),
    );
    for (const svc of Object.values(services)) {
      expect(svc.spec).toMatchObject({
        type: "ClusterIP",
        clusterIP: "None",
        trafficDistribution: "PreferSameZone",
      });
    }
    const plain = buildServices(canaryFixture(), deploymentFixture());
    expect(plain.apex.spec?.clusterIP).toBeUndefined();
    expect(plain.apex.spec?.trafficDistribution).toBeUndefined();
  });

  it("keeps the live value of an unmanaged key kanaria would set, and sets it while the Service has none", () => {
    const canary = withService({
      apex: { labels: { tier: "edge" }, annotations: { "lb.example/pool": "blue", team: "shop" } },
      unmanagedMetadata: { annotations: ["lb.example/pool"], labels: ["tier", "not-set-by-kanaria"] },
    });
    const live: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "podinfo",
        namespace: NS,
        labels: { tier: "core", "not-set-by-kanaria": "x" },
        annotations: { "lb.example/pool": "green", team: "other" },
      },
    };
    const kept = buildServices(canary, deploymentFixture(), { apex: live }).apex.metadata;
    expect(kept.annotations).toEqual({ "lb.example/pool": "green", team: "shop" });
    expect(kept.labels).toEqual({ tier: "core", app: "podinfo" });
    const created = buildServices(canary, deploymentFixture()).apex.metadata;
    expect(created.annotations).toEqual({ "lb.example/pool": "blue", team: "shop" });
    expect(created.labels).toEqual({ tier: "edge", app: "podinfo" });
  });

  it("refuses to flip headless on Services that exist, naming the Service and the fix", async () => {
    const client = new FakeKubeClient();
    await ensureServices(client, canaryFixture(), deploymentFixture());
    for (const name of ["podinfo", "podinfo-primary", "podinfo-canary"]) {
      const svc = (await client.get<Service>(svcRef(name))) as Service;
      await client.apply({ ...svc, spec: { ...svc.spec, clusterIP: "10.0.0.7" } });
    }
    const writes = client.writes.length;
    await expect(
      ensureServices(client, withService({ headless: true }), deploymentFixture()),
    ).rejects.toThrow(
      "Canary shop/podinfo: spec.service.headless is true, but Service shop/podinfo has clusterIP 10.0.0.7 and a Service's " +
        "clusterIP cannot change: delete the Service and kanaria creates it again headless, or set spec.service.headless back to false",
    );
    expect(client.writes.length).toBe(writes);
    await expect(ensureServices(client, canaryFixture(), deploymentFixture())).resolves.toBeDefined();
  });
});
