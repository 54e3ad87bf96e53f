import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure logic (colocated *.test.ts, no cluster), `integration` runs against the
// real local control plane that test/support/global-setup.ts starts (or reuses) once per run.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Two cores and one shared control plane: run the files one after another so timing-sensitive
          // rollouts are not starved by each other.
          fileParallelism: false,
        },
      },
    ],
  },
});
