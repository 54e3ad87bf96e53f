// The demo's live view moved to src/cli/view.ts, where `kanaria status --watch` uses it too.
export * from "../../src/cli/view.ts";
