/**
 * @module A vm's memory and device state in a file, through QEMU's migration stream (QEMU
 * 7.2 has no file: URI, and -sandbox spawn=deny rules out exec:): saved by migrating the
 * paused machine to a unix socket that lodged listens on in a directory of root's, and
 * loaded by a QEMU started with -incoming defer from a socket it listens on, which lodged
 * reaches without following a link. The stream is the guest's QEMU's: lodged only copies
 * its bytes, bounded, and hands them back to the same guest's QEMU.
 */
import { createReadStream } from 'node:fs';
import { chmod, chown, lchown, mkdir, open, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { withUntrustedSocket } from '../../host/untrusted-file.js';
import type { Qmp } from './qmp.js';

/** The stream's pace: QEMU's default (32 MiB/s) is for live migration over a network, not a local file. */
const bandwidthBytes = 8 * 1024 ** 3;

/**
 * The least pace a stream must keep: a QEMU slower than this (a hostile one holding the
 * socket open) fails the save or the load instead of holding its guest's lock.
 */
const leastBytesPerSecond = 4 * 1024 ** 2;
const deadline = (bytes: number) => Math.ceil(60_000 + (1000 * bytes) / leastBytesPerSecond);

/** Waits until QEMU says the migration it runs (out or in) is over; its failure, in its words. */
async function migrationEnded(qmp: Qmp, what: string, signal: AbortSignal, endsBy: number): Promise<void> {
  for (;;) {
    if (Date.now() > endsBy) throw new Error(`${what} kept slower than ${leastBytesPerSecond / 1024 ** 2} MiB/s: called off`);
    const m = await qmp.migration();
    if (m.status === 'completed') return;
    if (m.status === 'failed' || m.status === 'cancelled') throw new Error(`${what} failed: ${m['error-desc'] ?? m.status}`);
    signal.throwIfAborted();
    await sleep(100);
  }
}

/**
 * Saves the paused machine's state to `file` (made new, root's, 0600) through a socket in
 * `dir` (made new, root's, which the engine's uid may only pass through and connect in).
 * The machine stays paused, its disks given up by QEMU until it is continued.
 */
export async function saveMachineState(qmp: Qmp, options: { dir: string; uid: number; file: string; maxBytes: number; signal: AbortSignal }): Promise<void> {
  const { dir, uid, file, maxBytes, signal } = options;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o710 });
  await chown(dir, 0, uid);
  const socket = path.join(dir, 'state.sock');
  const out = await open(file, 'wx', 0o600);
  const server = net.createServer();
  let connection: net.Socket | undefined;
  const endsBy = Date.now() + deadline(maxBytes);
  try {
    const received = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('connection', (conn) => {
        connection = conn;
        server.close();
        let bytes = 0;
        conn.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxBytes) conn.destroy(new Error(`the machine's state passed ${maxBytes} bytes, more than its memory can make`));
        });
        pipeline(conn, out.createWriteStream(), { signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(0, Math.floor(endsBy - Date.now())))]) }).then(resolve, reject);
      });
    });
    // awaited below; a failure before then (the cap, a full disk, a reset) must not go unhandled
    received.catch(() => {});
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
    // the directory is root's: the name is the socket just made
    await lchown(socket, 0, uid);
    await chmod(socket, 0o660);
    await qmp.migrateParameters({ 'max-bandwidth': bandwidthBytes });
    await qmp.migrate(`unix:${socket}`);
    await migrationEnded(qmp, 'saving the machine\'s state', signal, endsBy);
    await received;
  } catch (e) {
    connection?.destroy();
    await rm(file, { force: true });
    throw e;
  } finally {
    server.close();
    await out.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** Feeds `file` to a QEMU started with -incoming defer, through a socket it makes at `socket`, and lets the machine run on. */
export async function loadMachineState(qmp: Qmp, options: { socket: string; file: string; what: string; signal: AbortSignal }): Promise<void> {
  const { socket, file, what, signal } = options;
  const endsBy = Date.now() + deadline((await stat(file)).size);
  await qmp.migrateParameters({ 'max-bandwidth': bandwidthBytes });
  await qmp.migrateIncoming(`unix:${socket}`);
  const feed = AbortSignal.any([signal, AbortSignal.timeout(Math.max(0, Math.floor(endsBy - Date.now())))]);
  await withUntrustedSocket(socket, what, (name) => pipeline(createReadStream(file), net.connect(name), { signal: feed }));
  await migrationEnded(qmp, 'loading the machine\'s state', signal, endsBy);
  // it was saved paused (a still point for the disk's snapshot), and comes back paused
  await qmp.cont();
}
