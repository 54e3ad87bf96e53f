import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateSources } from "./index.ts";
import { collectFiles, parseSource, readSources } from "./load.ts";
import { scan } from "./scan.ts";

describe("collectFiles", () => {
  let root: string;
  const file = async (path: string, text = "a: 1\n") => {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "kanaria-validate-"));
    await file("apps/a.yaml");
    await file("apps/deep/er/b.yml");
    await file("apps/c.YAML");
    await file("apps/notes.txt");
    await file(".github/workflows/ci.yaml");
    await file("node_modules/pkg/x.yaml");
    await file("charts/web/Chart.yaml");
    await file("charts/web/values.yaml");
    await file("charts/web/templates/canary.yaml", "{{ if .Values.canary }}\n");
    await file("templates/not-helm.yaml");
    await symlink(join(root, "apps"), join(root, "apps/deep/loop"));
    await file(
      "overlays/prod/kustomization.yaml",
      "resources: [../../apps]\npatchesStrategicMerge: [canary-patch.yaml]\npatches:\n  - path: ../shared/threshold.yaml\n  - patch: inline\n",
    );
    await file("overlays/prod/canary-patch.yaml");
    await file("overlays/shared/threshold.yaml");
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it("finds .yaml and .yml files recursively, in name order, skipping dot-dirs, node_modules and Helm templates", async () => {
    const { files, ioErrors } = await collectFiles([root]);
    expect(ioErrors).toEqual([]);
    expect(files.map((f) => f.slice(root.length + 1))).toEqual([
      "apps/a.yaml",
      "apps/c.YAML",
      "apps/deep/er/b.yml",
      "charts/web/Chart.yaml",
      "charts/web/values.yaml",
      "overlays/prod/kustomization.yaml",
      "templates/not-helm.yaml",
    ]);
  });

  it("skips kustomize patches, which are partial objects, unless named as arguments", async () => {
    const patch = join(root, "overlays/prod/canary-patch.yaml");
    const { files } = await collectFiles([join(root, "overlays"), patch]);
    // The walk met the patch first (name order); the argument keeps it in.
    expect(files).toEqual([patch, join(root, "overlays/prod/kustomization.yaml")]);
  });

  it("takes a file argument as given, whatever its extension, and only once", async () => {
    const notes = join(root, "apps/notes.txt");
    const { files } = await collectFiles([notes, notes, join(root, ".github")]);
    expect(files).toEqual([notes, join(root, ".github/workflows/ci.yaml")]);
  });

  it("reports a missing path as an I/O error and goes on", async () => {
    const { files, ioErrors } = await collectFiles([join(root, "nope"), join(root, "apps/a.yaml")]);
    expect(ioErrors).toEqual([{ path: join(root, "nope"), message: "no such file or directory" }]);
    expect(files).toHaveLength(1);
  });

  it("reports a file that cannot be read", async () => {
    const dir = join(root, "apps");
    expect(await readSources([dir])).toEqual({
      sources: [],
      ioErrors: [{ path: dir, message: "is a directory" }],
    });
  });

  // root reads files whatever their mode, so this case only runs for other users.
  it.skipIf(process.getuid?.() === 0)("reports a file without read permission", async () => {
    const secret = join(root, "secret.yaml");
    await writeFile(secret, "a: 1\n");
    await chmod(secret, 0o000);
    const { sources, ioErrors } = await readSources([secret]);
    expect(sources).toEqual([]);
    expect(ioErrors).toEqual([{ path: secret, message: "permission denied" }]);
  });
});

describe("parseSource", () => {
  it("returns each mapping document with its identity, skipping empty and non-mapping documents", () => {
    const text =
      "---\n# only a comment\n---\n- a list\n---\nplain\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: y\n";
    const { manifests, problems } = parseSource({ file: "f.yaml", text });
    expect(problems).toEqual([]);
    expect(manifests.map((m) => [m.apiVersion, m.kind, m.name, m.namespace])).toEqual([
      ["v1", "ConfigMap", "x", "y"],
    ]);
  });

  it("reports a syntax error at the parser's position and keeps the other documents", () => {
    const text = "apiVersion: v1\nkind: A\n---\nkey: [1, 2\nother: 3\n---\napiVersion: v1\nkind: B\n";
    const { manifests, problems } = parseSource({ file: "f.yaml", text });
    expect(manifests.map((m) => m.kind)).toEqual(["A", "B"]);
    expect(problems).toEqual([
      expect.objectContaining({
        file: "f.yaml",
        line: 5,
        column: 1,
        severity: "error",
        kind: null,
        path: "",
      }),
    ]);
    expect(problems[0]?.message).toMatch(/^YAML syntax error: /);
  });

  it("reports a duplicate key as a syntax error", () => {
    const { problems } = parseSource({ file: "f.yaml", text: "a: 1\nb: 2\na: 3\n" });
    expect(problems).toEqual([
      expect.objectContaining({ line: 3, column: 1, message: expect.stringContaining("unique") }),
    ]);
  });

  it("resolves aliases", () => {
    const text = "metadata: &m\n  name: x\nspec:\n  copy: *m\n";
    expect(parseSource({ file: "f.yaml", text }).manifests[0]?.value).toEqual({
      metadata: { name: "x" },
      spec: { copy: { name: "x" } },
    });
  });
});

describe("Kubernetes List documents", () => {
  const canary = (name: string, indent: string) =>
    [
      `${indent}- apiVersion: kanaria.dev/v1alpha1`,
      `${indent}  kind: Canary`,
      `${indent}  metadata: {name: ${name}}`,
      `${indent}  spec: {service: {port: "80"}}`,
    ].join("\n");

  it("unpacks v1 List, *List and nested Lists, locating fields inside their items", () => {
    const text = [
      "apiVersion: v1",
      "kind: List",
      "items:",
      canary("a", "  "),
      "  - apiVersion: kanaria.dev/v1alpha1",
      "    kind: CanaryList",
      "    items:",
      canary("b", "      "),
      "  - 42",
    ].join("\n");
    const { manifests, problems } = parseSource({ file: "l.yaml", text });
    expect(manifests.map((m) => [m.kind, m.name])).toEqual([
      ["Canary", "a"],
      ["Canary", "b"],
    ]);
    expect(problems).toEqual([
      expect.objectContaining({
        line: 15,
        column: 5,
        message: "items[2] of List: expected an object (a mapping with apiVersion and kind)",
      }),
    ]);
    const result = validateSources([{ file: "l.yaml", text }]);
    const ports = result.problems.filter((p) => p.path === "spec.service.port");
    expect(ports.map((p) => [p.name, p.line, p.column])).toEqual([
      ["a", 7, 28],
      ["b", 14, 32],
    ]);
  });

  it("leaves a mapping with items that is not a List kind alone", () => {
    const { manifests } = parseSource({ file: "x.yaml", text: "kind: Inventory\nitems: [1, 2]\n" });
    expect(manifests.map((m) => m.kind)).toEqual(["Inventory"]);
  });
});

describe("documents and List items parsed one at a time", () => {
  // Found by the manifest fuzz: a 4 MiB file of `---` lines took 1.2 GB (a parse tree per empty document).
  it("finds nothing to parse in empty documents", () => {
    const text = "---\n# nothing\n...\n".repeat(20_000);
    expect([...scan(text)]).toEqual([]);
    expect(parseSource({ file: "e.yaml", text })).toEqual({ manifests: [], problems: [] });
  });

  it("splits a List into its items, keeping lines, columns and each item's problems", () => {
    const item = (name: string) =>
      `- apiVersion: kanaria.dev/v1alpha1\n  kind: Canary\n  metadata:\n    name: ${name}\n  spec:\n    service:\n      port: x\n`;
    const text = `apiVersion: v1\nitems:\n${item("a")}# between\n${item("b")}- "not an object"\nkind: List\nmetadata:\n  resourceVersion: ""\n`;
    const [doc] = [...scan(text)];
    expect(doc?.items?.map((i) => [i.line, i.column])).toEqual([
      [3, 1],
      [11, 1],
      [18, 1],
    ]);
    const result = validateSources([{ file: "l.yaml", text }]);
    expect(
      result.problems.filter((p) => p.path === "spec.service.port").map((p) => [p.name, p.line, p.column]),
    ).toEqual([
      ["a", 9, 13],
      ["b", 17, 13],
    ]);
    expect(result.problems.find((p) => p.message.startsWith("items[2]"))).toMatchObject({
      line: 18,
      column: 3,
    });
  });

  // Found by comparing with the whole-document parse on mutated manifests: a block scalar's lines
  // start at column 0 as the lexer sees them, which ended the List there.
  it("keeps a block scalar inside its List item", () => {
    const text = "kind: List\nitems:\n  - a: 1\n    text: |-\n      x\n      y\n    b: 2\n  - c: 3\n";
    expect([...scan(text)][0]?.items?.map((i) => text.slice(i.start, i.end))).toEqual([
      "- a: 1\n    text: |-\n      x\n      y\n    b: 2\n  ",
      "- c: 3\n",
    ]);
    expect(parseSource({ file: "b.yaml", text }).manifests.map((m) => m.value)).toEqual([
      { a: 1, text: "x\ny", b: 2 },
      { c: 3 },
    ]);
  });

  it("parses a List with anchors whole, since an alias may point into another item", () => {
    const text =
      "apiVersion: v1\nkind: List\nitems:\n- &a {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- *a\n";
    expect([...scan(text)][0]?.items).toBeUndefined();
    expect(parseSource({ file: "a.yaml", text }).manifests.map((m) => m.name)).toEqual(["x", "x"]);
  });
});
