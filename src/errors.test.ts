import { describe, expect, it } from "vitest";
import { blockerOf, ConfigBlockerError } from "./errors.ts";
import { RouterConfigError } from "./routers/errors.ts";
import { UnsupportedProviderError } from "./routers/factory.ts";
import { ConfigTrackingError } from "./workloads/config-tracker.ts";
import { SelectorLabelError } from "./workloads/selector.ts";
import { ServiceConfigError } from "./workloads/services.ts";

describe("blockerOf", () => {
  it.each([
    [new RouterConfigError("m"), "InvalidRouting"],
    [new UnsupportedProviderError("m"), "UnsupportedProvider"],
    [new ServiceConfigError("m"), "InvalidServicePort"],
    [new SelectorLabelError("m"), "MissingSelectorLabel"],
    [new ConfigTrackingError("m"), "ConfigNotFound"],
    [new ConfigBlockerError("PrimaryNotOwned", "m"), "PrimaryNotOwned"],
  ])("maps %s to a blocker with reason %s", (err, reason) => {
    expect(blockerOf(err)).toEqual({ reason, message: "m" });
  });

  it("leaves every other error to the retry with backoff", () => {
    expect(blockerOf(new Error("connect ECONNREFUSED"))).toBeUndefined();
    expect(blockerOf("a string")).toBeUndefined();
  });
});
