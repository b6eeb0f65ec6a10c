/**
 * @module Hanging up on a guest's virtio-serial port (its socket on the host) that may still
 * be flooding it. QEMU stops writing to a full socket (it throttles the port) and lets go only
 * when the socket drains; a connection closed while the port is throttled leaves it throttled
 * for good (QEMU 7.2's virtio-console forgets its watch on close), and nothing the guest sends
 * on that port would be heard again until it restarts. So what still comes is read and dropped
 * until the guest has been quiet for a moment, and only then is the socket closed; a guest
 * that floods for longer than `maxMs` is hung up on anyway (it silences no one but itself).
 */
import type net from 'node:net';

export function hangUpWhenQuiet(socket: net.Socket, quietMs = 500, maxMs = 30_000): void {
  if (socket.destroyed) return;
  let quiet: NodeJS.Timeout | undefined;
  const close = () => {
    clearTimeout(quiet);
    clearTimeout(limit);
    socket.destroy();
  };
  const limit = setTimeout(close, maxMs).unref();
  const rearm = () => {
    clearTimeout(quiet);
    quiet = setTimeout(close, quietMs).unref();
  };
  socket.on('data', rearm);
  socket.once('close', close);
  socket.resume();
  rearm();
}
