/** A Canary asks for routing its provider cannot do; the message names the Canary, the field and the fix. */
export class RouterConfigError extends Error {
  override readonly name = "RouterConfigError";
}
