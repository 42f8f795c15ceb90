// Stopping a child process the tests started: a signal, a deadline, then SIGKILL.

/**
 * Send `signal` to `child`, wait for `exited` (a promise of its exit status), SIGKILL it after `timeoutMs`,
 * then run `cleanup`. Returns the exit status.
 */
export async function stopChild(child, exited, { signal, timeoutMs, cleanup }) {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const status = await exited;
  clearTimeout(timer);
  await cleanup();
  return status;
}
