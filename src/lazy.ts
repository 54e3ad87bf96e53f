/**
 * A module (or anything else expensive) loaded on first use and shared after: optional dependencies
 * such as the AWS SDK stay out of the memory of a controller that never needs them.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load();
    return loaded;
  };
}
