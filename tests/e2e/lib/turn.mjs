// Start a real TURN server (coturn's turnserver, Debian package `coturn`) for a test: loopback only, a free port,
// the TURN REST scheme (`use-auth-secret`) with a random shared secret, no TLS/DTLS, no CLI.
//
//   const turn = await startTurn();
//   … turn.urls (turn:127.0.0.1:<port>?transport=udp and …=tcp), turn.secret, turn.logs …
//   await turn.stop();

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './process.mjs';

export const TURNSERVER_PATH = process.env.TURNSERVER_PATH || '/usr/bin/turnserver';
const VERBOSE = process.env.VAYLA_E2E_VERBOSE === '1';

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A TCP port free on 127.0.0.1 now (coturn listens on the same port for UDP and TCP). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}

/** The exact turnserver arguments, besides the port, the secret and the files (the README documents the same). */
export const TURN_FLAGS = [
  '--use-auth-secret',
  '--realm=vayla.test',
  '--listening-ip=127.0.0.1',
  '--relay-ip=127.0.0.1',
  '--no-tls',
  '--no-dtls',
  '--no-cli',
  '--log-file=stdout',
  '--simple-log',
  '--allow-loopback-peers',
  '--no-multicast-peers',
  '--fingerprint',
];

/**
 * @param {object} [options]
 * @param {number} [options.startTimeoutMs] how long to wait for turnserver to accept connections
 */
export async function startTurn({ startTimeoutMs = 10_000 } = {}) {
  if (!existsSync(TURNSERVER_PATH)) {
    throw new Error(`coturn is missing at ${TURNSERVER_PATH}: install it with apt-get install -y coturn (or set TURNSERVER_PATH)`);
  }
  const tmp = await mkdtemp(join(tmpdir(), 'vayla-turn-'));
  const conf = join(tmp, 'turnserver.conf');
  await writeFile(conf, '# empty: everything is on the command line\n');
  const port = await freePort();
  const secret = randomBytes(24).toString('hex');
  const args = [
    '-c', conf, // not /etc/turnserver.conf
    `--listening-port=${port}`,
    `--static-auth-secret=${secret}`,
    `--pidfile=${join(tmp, 'turnserver.pid')}`,
    `--userdb=${join(tmp, 'turndb')}`,
    ...TURN_FLAGS,
  ];
  const logs = [];
  const child = spawn(TURNSERVER_PATH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolveExit({ code, signal });
    });
  });
  for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        // The secret is on the command line only, never echoed; keep the output for a failing test.
        logs.push(`[${name}] ${line}`);
        if (VERBOSE) process.stderr.write(`[turnserver ${name}] ${line}\n`);
      }
    });
  }
  let exitStatus = null;
  exited.then((s) => (exitStatus = s));

  const cleanup = () => rm(tmp, { recursive: true, force: true });
  const deadline = Date.now() + startTimeoutMs;
  while (!(await canConnect(port))) {
    if (exitStatus || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      await cleanup();
      throw new Error(
        `turnserver did not start (${exitStatus ? `exited: ${JSON.stringify(exitStatus)}` : 'timeout'})\n` +
          `--- turnserver output ---\n${logs.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  let stopped = null;
  return {
    port,
    secret,
    urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
    logs,
    printLogs(title = 'turnserver output') {
      if (VERBOSE) return;
      process.stderr.write(`\n--- ${title} (${logs.length} lines) ---\n${logs.join('\n')}\n--- end ---\n`);
    },
    stop(timeoutMs = 5000) {
      stopped ??= stopChild(child, exited, { signal: 'SIGTERM', timeoutMs, cleanup });
      return stopped;
    },
  };
}
