import { describe, expect, it } from "vitest";
import { validateSources } from "./index.ts";
import { MAX_DEPTH, MAX_FILE_BYTES, MAX_OBJECT_VALUES } from "./limits.ts";
import { parseSource } from "./load.ts";
import { scan } from "./scan.ts";

const HEADER = "apiVersion: kanaria.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: x\nspec:\n";

describe("input limits", () => {
  it("rejects block mappings nested deeper than the limit at the line where it is crossed, exit code 1", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i + 1)}k:`);
    const text = `${HEADER}${lines.join("\n")}\n`;
    const result = validateSources([{ file: "deep.yaml", text }]);
    expect(result.exitCode).toBe(1);
    expect(result.problems).toEqual([
      expect.objectContaining({
        line: 5 + MAX_DEPTH,
        severity: "error",
        message: expect.stringContaining(`nested more than ${MAX_DEPTH} levels deep`),
      }),
    ]);
  });

  it("rejects deep flow collections and deep sequences the same way", () => {
    for (const text of [`${HEADER}  x: ${"[".repeat(5000)}${"]".repeat(5000)}\n`, `${"- ".repeat(200)}x\n`]) {
      const { problems } = parseSource({ file: "f.yaml", text });
      expect(problems).toHaveLength(1);
      expect(problems[0]?.message).toContain("levels deep");
    }
  });

  it("counts values, not bytes, so a long list of small numbers (quoted too) is one clear error", () => {
    for (const value of ["1", '"1"', "'1'"]) {
      const text = `${HEADER}  x: [${Array.from({ length: MAX_OBJECT_VALUES + 10 }, () => value).join(",")}]\n`;
      const { problems } = parseSource({ file: "f.yaml", text });
      expect(problems).toEqual([
        expect.objectContaining({
          line: 6,
          message: expect.stringContaining(`more than ${MAX_OBJECT_VALUES} YAML values in one object`),
        }),
      ]);
    }
  }, 60_000);

  // A List of a million one-character items took 700 MB while its items were recorded one by one.
  it("takes a List with more items than an object may hold values as one object over the limit", () => {
    const text = `kind: List\nitems:\n${"- 1\n".repeat(MAX_OBJECT_VALUES + 1)}`;
    expect([...scan(text)][0]?.items).toBeUndefined();
    expect(parseSource({ file: "l.yaml", text }).problems).toEqual([
      expect.objectContaining({
        message: expect.stringContaining(`more than ${MAX_OBJECT_VALUES} YAML values`),
      }),
    ]);
  }, 60_000);

  it("rejects a file over the size limit without parsing it", () => {
    const { problems } = parseSource({ file: "big.yaml", text: "", bytes: MAX_FILE_BYTES + 1 });
    expect(problems).toEqual([
      expect.objectContaining({
        line: 1,
        column: 1,
        message: expect.stringMatching(/^the file is 4\.0 MiB; .* up to 4\.0 MiB/),
      }),
    ]);
  });

  it("leaves ordinary manifests alone, block scalars included", () => {
    const text = `${HEADER}  analysis:\n    webhooks:\n      - name: x\n        metadata:\n          script: |\n${"            deeply indented text\n".repeat(50)}`;
    const docs = [...scan(text)];
    expect(docs).toHaveLength(1);
    expect(docs[0]).not.toHaveProperty("tooDeep");
    expect(docs[0]).not.toHaveProperty("tooMany");
  });

  it("reports a repeated key of a long mapping at the repeat", () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `  k${i}: v`).join("\n");
    const { problems } = parseSource({ file: "f.yaml", text: `labels:\n${keys}\n  k7: again\n` });
    expect(problems).toEqual([
      expect.objectContaining({
        line: 5_002,
        column: 3,
        message: expect.stringContaining('the key "k7" appears twice'),
      }),
    ]);
  });
});
