import { describe, expect, it } from "vitest";
import { includedLabels, parseLabelPrefixes } from "./label-prefix.ts";

const labels = {
  app: "podinfo",
  "app.kubernetes.io/name": "podinfo",
  "app.kubernetes.io/managed-by": "Helm",
  "team.example.com/owner": "shop",
  "kustomize.toolkit.fluxcd.io/name": "apps",
  "helm.toolkit.fluxcd.io/namespace": "flux-system",
};

describe("includedLabels (Flagger's -include-label-prefix)", () => {
  it("copies none by default, as Flagger", () => {
    expect(includedLabels(labels, parseLabelPrefixes(""))).toEqual({});
    expect(includedLabels(labels, parseLabelPrefixes(undefined))).toEqual({});
  });

  it("copies the labels under any prefix given, comma-separated", () => {
    expect(includedLabels(labels, parseLabelPrefixes("app.kubernetes.io/name, team.example.com/"))).toEqual({
      "app.kubernetes.io/name": "podinfo",
      "team.example.com/owner": "shop",
    });
  });

  it("copies every label for *, but never Flux's, which would make Flux prune the primary", () => {
    expect(includedLabels(labels, parseLabelPrefixes("*"))).toEqual({
      app: "podinfo",
      "app.kubernetes.io/name": "podinfo",
      "app.kubernetes.io/managed-by": "Helm",
      "team.example.com/owner": "shop",
    });
    expect(includedLabels(labels, parseLabelPrefixes("kustomize."))).toEqual({});
  });
});
