// The controller as the image ships it: dist/cli/main.js (tsc's output) and every production
// dependency in one ES module graph, with the modules loaded on first use (the AWS SDK,
// prometheus-query, undici, the backtest's charts) left in chunks of their own. One bundle instead of
// node_modules keeps ~14 MiB off the controller's RSS: V8 holds the source and bytecode of every
// module it loads, and node_modules' copies carry code kanaria never calls. Not minified: stack
// traces in logs keep their names. `make build` runs it after tsc.
export default {
  input: "dist/cli/main.js",
  platform: "node",
  output: { dir: "dist/bundle", format: "esm", cleanDir: true },
};
