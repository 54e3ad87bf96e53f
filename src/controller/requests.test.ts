import { describe, expect, it } from "vitest";
import { formatRequest, parseRequests, REQUEST_ANNOTATIONS } from "./requests.ts";

describe("request annotations", () => {
  it("round-trips what the CLI writes", () => {
    const raw = formatRequest({
      revision: "abc",
      by: "alice",
      at: "2026-12-01T00:00:00Z",
      skipAnalysis: true,
    });
    expect(parseRequests({ [REQUEST_ANNOTATIONS.promote]: raw })).toEqual({
      promote: { raw, revision: "abc", by: "alice", at: "2026-12-01T00:00:00Z", skipAnalysis: true },
    });
  });

  it("reads a bare revision written by hand, and nothing from other annotations", () => {
    expect(parseRequests({ [REQUEST_ANNOTATIONS.abort]: " abc ", other: "x" })).toEqual({
      abort: { raw: " abc ", revision: "abc" },
    });
    expect(parseRequests(undefined)).toEqual({});
  });

  it("gives JSON without a revision no revision, so it can never match one", () => {
    expect(parseRequests({ [REQUEST_ANNOTATIONS.retry]: '{"by":"bob"}' }).retry?.revision).toBe("");
  });
});
