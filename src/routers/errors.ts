import { ConfigBlockerError } from "../errors.ts";

/** A Canary asks for routing its provider cannot do; the message names the Canary, the field and the fix. */
export class RouterConfigError extends ConfigBlockerError {
  override readonly name = "RouterConfigError";

  constructor(message: string) {
    super("InvalidRouting", message);
  }
}
