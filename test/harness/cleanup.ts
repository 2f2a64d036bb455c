// Teardown that survives failed and timed-out tests: helpers register what
// they start (nodes, processes, sockets), and every test file runs
// `after(cleanupAll)` so nothing keeps the test process alive.

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();

/** Registers `fn` to run at cleanupAll(); returns a function that unregisters it. */
export function onCleanup(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every registered cleanup (newest first), even if some fail. */
export async function cleanupAll(): Promise<void> {
  const fns = [...cleanups].reverse();
  cleanups.clear();
  const results = await Promise.allSettled(fns.map(async (fn) => fn()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0)
    throw new AggregateError(
      failed.map((f) => f.reason),
      "cleanup failed",
    );
}
