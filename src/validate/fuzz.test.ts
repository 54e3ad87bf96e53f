// Property-based: whatever a mutated manifest holds, validate answers with located problems, never a crash.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { mutatedManifest } from "../../test/helpers/manifest-mutations.ts";
import { formatProblem } from "./format.ts";
import { validateSources } from "./index.ts";

describe("kanaria validate on mutated manifests", () => {
  it("never throws, and gives every problem a line, a column, an object and a one-line message", () => {
    fc.assert(
      fc.property(mutatedManifest, fc.boolean(), ({ object }, asList) => {
        const text = stringify(asList ? { apiVersion: "v1", kind: "List", items: [object] } : object);
        const lineCount = text.split("\n").length;
        const result = validateSources([{ file: "m.yaml", text }]);
        expect(result.exitCode === 0).toBe(result.errors === 0);
        for (const p of result.problems) {
          expect(p.line).toBeGreaterThanOrEqual(1);
          expect(p.line).toBeLessThanOrEqual(lineCount);
          expect(p.column).toBeGreaterThanOrEqual(1);
          expect(p.message.length).toBeGreaterThan(0);
          const line = formatProblem(p);
          expect(line.includes("\n") || line.includes("\r") || line.includes("\u0000")).toBe(false);
          // Problems about an object with a kind name it; only YAML-level problems have no kind.
          if (p.path !== "" && typeof object.kind === "string") expect(p.kind).toBe(object.kind);
        }
      }),
      { numRuns: 150, seed: 15 },
    );
  }, 60_000);

  it("reports an invalid single change under the field it changed, or on the whole object", () => {
    fc.assert(
      fc.property(mutatedManifest, ({ object, mutations }) => {
        const result = validateSources([{ file: "m.yaml", text: stringify(object) }]);
        if (mutations.length !== 1 || result.errors === 0) return;
        const m = mutations[0];
        if (m === undefined || m.op === "name") return;
        const top = String(m.path[0] ?? (m.op === "add" ? m.key : ""));
        // The problem is somewhere under the top-level field that was changed (or the whole object).
        expect(
          result.problems.some((p) => p.path === "" || p.path.startsWith(top) || p.path.includes(top)),
        ).toBe(true);
      }),
      { numRuns: 150, seed: 16 },
    );
  }, 60_000);

  // A List is parsed item by item (scan.ts): it must find what the same objects as documents find.
  it("finds the same problems in a List as in the same objects as documents", () => {
    const shown = (text: string) =>
      validateSources([{ file: "m.yaml", text }])
        .problems.map(
          (p) => `${p.severity} ${p.kind}/${p.name} ${p.path} ${p.message.replace(/m\.yaml:\d+/g, "")}`,
        )
        .sort();
    fc.assert(
      fc.property(
        fc.array(mutatedManifest, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (picked, indent) => {
          const objects = picked.map((p) => p.object);
          const documents = objects.map((o) => stringify(o)).join("---\n");
          const list = stringify({ apiVersion: "v1", items: objects, kind: "List" }, { indentSeq: indent });
          expect(shown(list)).toEqual(shown(documents));
        },
      ),
      { numRuns: 100, seed: 17 },
    );
  }, 60_000);
});
