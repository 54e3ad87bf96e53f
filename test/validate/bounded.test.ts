// `kanaria validate` stays bounded per run whatever the inputs: the real CLI runs as a child process
// over inputs the manifest fuzz found (a 4 MiB file of `---` lines took 1.2 GB and 11 s; a directory of
// them grew with each file; a 2.6 MB `kubectl get canaries -A -o yaml` dump was refused whole; UTF-16
// passed unread), and its peak resident memory, as the child itself reports it, is held to the
// documented ceiling (README: kanaria validate). A 4 MiB file of one-value documents is there too: it
// took 524 MB while the document boundaries of a file were collected before parsing, and a List of a
// million one-character items 700 MB while its items were recorded.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const CEILING_MB = 500;
const CANARIES = 3_750;
/** Printed by the child as it exits: its own peak resident set size, in KiB. */
const REPORT_RSS = `data:text/javascript,process.on("exit",()=>process.stderr.write("maxrss-kib "+process.resourceUsage().maxRSS+"\\n"))`;

/** One item of a `kubectl get canaries -A -o yaml` dump, about 700 bytes. */
function dumpItem(i: number): string {
  return `- apiVersion: kanaria.dev/v1alpha1
  kind: Canary
  metadata:
    creationTimestamp: "2026-11-02T10:15:00Z"
    generation: 3
    name: app-${i}
    namespace: team-${i % 40}
    resourceVersion: "${100_000 + i}"
  spec:
    analysis:
      interval: 1m
      maxWeight: 50
      stepWeight: 10
      threshold: 5
    service:
      port: 9898
    targetRef:
      apiVersion: apps/v1
      kind: Deployment
      name: app-${i}
  status:
    canaryWeight: 0
    conditions:
    - lastTransitionTime: "2026-11-02T10:16:00Z"
      message: Canary analysis completed successfully, promotion finished.
      reason: Succeeded
      status: "True"
      type: Promoted
    phase: Succeeded
`;
}

/** A "billion laughs" document: ten levels of ten aliases each. */
function aliasBomb(): string {
  const levels = [`a0: &a0 [${Array(10).fill('"lol"').join(", ")}]`];
  for (let i = 1; i < 10; i++)
    levels.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  return `${levels.join("\n")}\n`;
}

const ALERT_PROVIDER =
  "apiVersion: kanaria.dev/v1alpha1\nkind: AlertProvider\nmetadata:\n  name: slack\nspec:\n  type: slack\n";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kanaria-validate-bounded-"));
  const dump = `apiVersion: v1\nitems:\n${Array.from({ length: CANARIES }, (_, i) => dumpItem(i)).join("")}kind: List\nmetadata:\n  resourceVersion: ""\n`;
  const dashes = "---\n".repeat(1024 * 1024 - 1); // just under the 4 MiB file limit
  await writeFile(join(dir, "dump.yaml"), dump);
  await writeFile(join(dir, "dashes-1.yaml"), dashes);
  await writeFile(join(dir, "dashes-2.yaml"), dashes);
  // 466,000 one-value documents: each is parsed, none is kept.
  await writeFile(join(dir, "tiny-documents.yaml"), "a: 1\n---\n".repeat(466_000));
  // A List of a million one-character items: one object over the values limit.
  await writeFile(join(dir, "tiny-items.yaml"), `kind: List\nitems:\n${"- 1\n".repeat(1_048_000)}`);
  await writeFile(join(dir, "laughs.yaml"), aliasBomb());
  await writeFile(
    join(dir, "utf16.yaml"),
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ALERT_PROVIDER, "utf16le")]),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kanaria validate on inputs that used to take unbounded memory", () => {
  it(`checks them all in under ${CEILING_MB} MB`, () => {
    const run = spawnSync(process.execPath, ["--import", REPORT_RSS, "src/cli/main.ts", "validate", dir], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 300_000,
    });
    const lines = run.stdout.trim().split("\n");
    const shown = lines.map((l) => l.replace(`${dir}/`, ""));
    // Every Canary of the dump is checked (none refused), the alias bomb and the UTF-16 file's object
    // are errors, the empty documents are nothing at all.
    expect(shown.at(-1)).toBe(`7 files, ${CANARIES + 1} kanaria objects: 3 errors, 0 warnings`);
    expect(shown.slice(0, -1)).toEqual([
      expect.stringMatching(/^laughs\.yaml:1:1: error: YAML error: .*alias/i),
      expect.stringMatching(/^tiny-items\.yaml:50001:3: error: more than 100000 YAML values in one object/),
      expect.stringMatching(/^utf16\.yaml:5:1: error: AlertProvider\/slack: spec\.secretRef: /),
    ]);
    expect(run.status).toBe(1);
    const kib = Number(/maxrss-kib (\d+)/.exec(run.stderr)?.[1]);
    expect(kib).toBeGreaterThan(0);
    expect(
      kib / 1024,
      `peak RSS of kanaria validate, MiB (stderr: ${run.stderr.slice(0, 500)})`,
    ).toBeLessThan(CEILING_MB);
  }, 300_000);
});
