// Start a real Väylä server for a test: its own copy of the rooms-config, its own data directory, a free port.
//
//   const server = await startServer();          // or startServer({ roomsConfig: '/path/to/rooms-config' })
//   … server.url, server.roomsConfigDir …
//   await server.stop();
//
// The server's output is kept and printed only when a test fails (`server.printLogs()`, or wrap a test body
// in `server.withLogsOnFailure(fn)`), or live when VAYLA_E2E_VERBOSE=1.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from './process.mjs';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const VERBOSE = process.env.VAYLA_E2E_VERBOSE === '1';
const URL_LINE = /open (https?:\/\/\S+?)\/? in a browser/;

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * @param {object} [options]
 * @param {string} [options.roomsConfig] a rooms-config directory to copy instead of the repo's `rooms-config/`
 * @param {Record<string, string>} [options.env] extra environment for the server (e.g. `VAYLA_GRACE_MS`)
 * @param {number} [options.startTimeoutMs] how long to wait for the server to say it runs
 */
export async function startServer({ roomsConfig, env = {}, startTimeoutMs = 30_000 } = {}) {
  const bin = process.env.VAYLA_BIN || join(REPO_ROOT, 'target/debug/vayla');
  if (!existsSync(bin)) {
    throw new Error(
      `the Väylä server binary is missing at ${bin}: build it with cargo build -p vayla-server ` +
        '(or point VAYLA_BIN at it)',
    );
  }
  const tmp = await mkdtemp(join(tmpdir(), 'vayla-e2e-'));
  const roomsConfigDir = join(tmp, 'rooms-config');
  const dataDir = join(tmp, 'data');
  await cp(roomsConfig ?? join(REPO_ROOT, 'rooms-config'), roomsConfigDir, { recursive: true });
  await mkdir(dataDir);

  const childEnv = { ...process.env };
  delete childEnv.DATABASE_URL; // always the test's own SQLite file
  Object.assign(childEnv, {
    VAYLA_LISTEN: '127.0.0.1:0',
    VAYLA_DATA_DIR: dataDir,
    VAYLA_ROOMS_CONFIG: roomsConfigDir,
    VAYLA_WEB_DIR: join(REPO_ROOT, 'web'),
    VAYLA_LOG: process.env.VAYLA_LOG ?? 'info',
    NO_COLOR: '1',
    ...env,
  });

  const logs = [];
  const child = spawn(bin, ['serve'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolveExit({ code, signal });
    });
  });
  let onLine = () => {};
  for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logs.push(`[${name}] ${line}`);
        if (VERBOSE) process.stderr.write(`[vayla ${name}] ${line}\n`);
        onLine(line);
      }
    });
  }

  const cleanup = () => rm(tmp, { recursive: true, force: true });
  let url;
  try {
    url = await new Promise((resolveUrl, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server did not start within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      onLine = (line) => {
        const m = URL_LINE.exec(line);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      };
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${bin}: ${e.message}`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`the server exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await cleanup();
    e.message += `\n--- server output ---\n${logs.join('\n')}`;
    throw e;
  } finally {
    onLine = () => {};
  }

  let stopped = null;
  const server = {
    url,
    roomsConfigDir,
    dataDir,
    logs,
    /** The server's output so far, for a failing test. */
    printLogs(title = 'server output') {
      if (VERBOSE) return; // already printed live
      process.stderr.write(`\n--- ${title} (${logs.length} lines) ---\n${logs.join('\n')}\n--- end ---\n`);
    },
    /** Run `fn`; if it throws, print the server's output, then rethrow. */
    async withLogsOnFailure(fn, title) {
      try {
        return await fn();
      } catch (e) {
        server.printLogs(title);
        throw e;
      }
    },
    /** Stop with SIGINT (as Ctrl-C), wait for the exit, remove the temporary files. Returns the exit status. */
    stop(timeoutMs = 15_000) {
      stopped ??= stopChild(child, exited, { signal: 'SIGINT', timeoutMs, cleanup });
      return stopped;
    },
  };
  return server;
}
