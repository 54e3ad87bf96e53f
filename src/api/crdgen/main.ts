// Writes crds/*.yaml from the zod schemas: `node src/api/crdgen/main.ts [outDir]`.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KINDS } from "../kinds.ts";
import { crdFileName, crdYaml } from "./crd.ts";

const outDir = process.argv[2] ?? "crds";
mkdirSync(outDir, { recursive: true });
for (const kind of KINDS) {
  const file = join(outDir, crdFileName(kind));
  writeFileSync(file, crdYaml(kind));
  console.log(`wrote ${file}`);
}
