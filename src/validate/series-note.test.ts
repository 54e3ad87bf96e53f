import { describe, expect, it } from "vitest";
import { type Problem, validateSources } from "./index.ts";

const notes = (...texts: string[]): Problem[] =>
  validateSources(texts.map((text, i) => ({ file: `f${i}.yaml`, text }))).problems.filter(
    (p) => p.severity === "note",
  );

const canary = (
  provider: string,
  service: string,
  metric = "request-success-rate",
  extra = "",
) => `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  provider: ${provider}
  targetRef:
    name: web
${extra}  service:
    port: 80
${service}
  analysis:
    stepWeight: 10
    metrics:
      - name: ${metric}
        thresholdRange:
          min: 99
`;

const gatewayRefs = "    gatewayRefs:\n      - name: public\n        namespace: gateways";

const gateway = (className: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: gateways
spec:
  gatewayClassName: ${className}
  listeners: []
`;

const gatewayClass = (name: string, controllerName: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: ${name}
spec:
  controllerName: ${controllerName}
`;

describe("validate: whose series the built-in metrics read", () => {
  it("notes Traefik's series when the Gateway and its GatewayClass are among the files", () => {
    expect(
      notes(
        canary("gatewayapi", gatewayRefs),
        gateway("traefik"),
        gatewayClass("traefik", "traefik.io/gateway-controller"),
      ),
    ).toEqual([
      expect.objectContaining({
        path: "spec.analysis.metrics[0].name",
        line: 18,
        message:
          "the built-in metrics read Traefik's series: GatewayClass traefik (traefik.io/gateway-controller) of Gateway gateways/public",
      }),
    ]);
  });

  it("notes the fallback for Envoy Gateway, and why", () => {
    const [providerNote, note] = notes(
      canary("gatewayapi:v1", gatewayRefs),
      gateway("eg"),
      gatewayClass("eg", "gateway.envoyproxy.io/gatewayclass-controller"),
    );
    expect(providerNote?.path).toBe("spec.provider");
    expect(note?.message).toMatch(
      /^the built-in metrics read the application's own histogram \(http_request_duration_seconds\), the router's default: .*one cluster/,
    );
  });

  it("says nothing when the class is not among the files, for a MetricTemplate, or for the router's usual series", () => {
    expect(notes(canary("gatewayapi", gatewayRefs), gateway("traefik"))).toEqual([]);
    expect(
      notes(
        canary("gatewayapi", gatewayRefs, "error-rate"),
        gateway("traefik"),
        gatewayClass("traefik", "traefik.io/gateway-controller"),
      ),
    ).toEqual([]);
    const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
`;
    const nginx = (controller: string) => `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
spec:
  controller: ${controller}
`;
    const ref = "  ingressRef:\n    apiVersion: networking.k8s.io/v1\n    kind: Ingress\n    name: web\n";
    expect(
      notes(canary("nginx", "", "request-duration", ref), ingress, nginx("k8s.io/ingress-nginx")),
    ).toEqual([]);
    expect(
      notes(canary("nginx", "", "request-duration", ref), ingress, nginx("traefik.io/ingress-nginx")).map(
        (p) => p.message,
      ),
    ).toEqual(["the built-in metrics read Traefik's series: IngressClass nginx (traefik.io/ingress-nginx)"]);
  });

  it("follows the default IngressClass among the files for an Ingress without a class", () => {
    const classless = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules: []
`;
    const ingressClass = (
      name: string,
      controller: string,
      isDefault?: string,
    ) => `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: ${name}
${isDefault === undefined ? "" : `  annotations:\n    ingressclass.kubernetes.io/is-default-class: "${isDefault}"\n`}spec:
  controller: ${controller}
`;
    const ref = "  ingressRef:\n    apiVersion: networking.k8s.io/v1\n    kind: Ingress\n    name: web\n";
    const cd = canary("nginx", "", "request-success-rate", ref);
    const messages = (...classes: string[]) => notes(cd, classless, ...classes).map((p) => p.message);

    expect(messages(ingressClass("traefik", "traefik.io/ingress-nginx", "true"))).toEqual([
      "the built-in metrics read Traefik's series: the default IngressClass traefik (traefik.io/ingress-nginx) (the Ingress names no class)",
    ]);
    // The files mark none default (or only "false"): the cluster may have one, so nothing is said.
    expect(messages(ingressClass("traefik", "traefik.io/ingress-nginx"))).toEqual([]);
    expect(messages(ingressClass("traefik", "traefik.io/ingress-nginx", "false"))).toEqual([]);
    // The default is ingress-nginx: its series are the router's usual ones, nothing to note.
    expect(messages(ingressClass("nginx", "k8s.io/ingress-nginx", "true"))).toEqual([]);
    const several = messages(
      ingressClass("nginx", "k8s.io/ingress-nginx", "true"),
      ingressClass("traefik", "traefik.io/ingress-nginx", "true"),
    );
    expect(several).toHaveLength(1);
    expect(several[0]).toContain("several IngressClasses are marked default (nginx, traefik)");
    expect(several[0]).toContain("set spec.ingressClassName");
  });
});
