import { defineConfig } from "vitest/config";

// `unit` is pure logic (colocated *.test.ts, no cluster). The integration tests run against the real
// local control plane that test/support/global-setup.ts starts (or reuses) once per run, in two
// projects: `integration` runs three files at a time (a file spends most of its time waiting for
// analysis intervals; each keeps to namespaces of its own), then `integration-exclusive` runs, one
// file at a time, the files that stop a part every other file relies on (Prometheus,
// kube-controller-manager).
const EXCLUSIVE = [
  "test/e2e/analysis.test.ts",
  "test/controller/metric-outage.test.ts",
  "test/controller/promotion-failure.test.ts",
];

const integration = {
  globalSetup: ["test/support/global-setup.ts"],
  testTimeout: 120_000,
  hookTimeout: 300_000,
};

export default defineConfig({
  test: {
    // The default output, then one line per failure at its very end (test/support/failure-summary.ts).
    reporters: ["default", "./test/support/failure-summary.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts"],
        },
      },
      {
        test: {
          ...integration,
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: [...EXCLUSIVE, "**/node_modules/**"],
          fileParallelism: true,
          maxWorkers: 3,
        },
      },
      {
        test: {
          ...integration,
          name: "integration-exclusive",
          include: EXCLUSIVE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
