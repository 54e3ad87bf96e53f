/**
 * The import rules of src/, checked on every unit run: shared vocabulary sits below the folders that
 * use it (no import cycles, static, dynamic or type-only), only cli/ reaches into controller/, api/
 * depends on nothing else of kanaria, and shipped code never imports test code.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(SRC);
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)"(\.{1,2}\/[^"]+)"/gm;

/** Every shipped module of src/ (tests excluded) -> the files it imports, as paths from the repo root. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter(
    (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
  );
  for (const file of files) {
    const path = join(SRC, file);
    const text = readFileSync(path, "utf8");
    const imports = [...text.matchAll(IMPORT)].map((m) =>
      relative(ROOT, normalize(join(dirname(path), m[1] ?? ""))),
    );
    graph.set(relative(ROOT, path), imports);
  }
  return graph;
}

/** The import cycles (strongly connected components of more than one file, or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function edges(graph: Map<string, string[]>): [string, string][] {
  return [...graph].flatMap(([from, imports]) => imports.map((to): [string, string] => [from, to]));
}

describe("src/ import rules", () => {
  const graph = importGraph();

  it("reads the imports it checks", () => {
    // A parser that found nothing would pass every rule below.
    expect(graph.get("src/controller/manager.ts")).toContain("src/controller/reconciler.ts");
    expect(graph.get("src/cli/commands/controller.ts")).toContain("src/cli/commands/controller-run.ts");
  });

  it("has no import cycles", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle when there is one", () => {
    const circle = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cycles(circle)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("lets only cli/ import controller/", () => {
    const upward = edges(graph).filter(
      ([from, to]) =>
        to.startsWith("src/controller/") &&
        !from.startsWith("src/controller/") &&
        !from.startsWith("src/cli/"),
    );
    expect(upward).toEqual([]);
  });

  it("keeps api/ (the vocabulary) free of the rest of kanaria", () => {
    const out = edges(graph).filter(
      ([from, to]) => from.startsWith("src/api/") && !to.startsWith("src/api/"),
    );
    expect(out).toEqual([]);
  });

  it("ships no test code: nothing under src/ imports test/", () => {
    expect(edges(graph).filter(([, to]) => !to.startsWith("src/"))).toEqual([]);
  });
});
