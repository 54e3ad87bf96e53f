import { join } from "node:path";
import { expect, it } from "vitest";
import { validatePaths } from "../validate/index.ts";

it("the alert examples are valid and every providerRef resolves", async () => {
  const result = await validatePaths([join(import.meta.dirname, "../../examples/alerts")]);
  expect(result.problems).toEqual([]);
  expect(result).toMatchObject({ files: 4, objects: 5, errors: 0, exitCode: 0 });
});
