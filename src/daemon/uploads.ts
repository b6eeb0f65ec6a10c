/**
 * @module Bodies that arrive as a stream (an image's tarball, a file for a guest): they go
 * to a file in lodged's scratch directory, never into memory, and may take at most 90% of
 * what is free there, the rest being the host's.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LodgeError } from '../api/errors.js';

/** Bodies that stay streams: routes read them (receiveUpload); JSON is parsed as ever. */
export const streamedTypes = ['application/octet-stream', 'application/x-tar', 'application/gzip'];

/** What a body or a file lodged stages may take of the scratch directory's free space. */
export async function scratchCap(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Math.floor(s.bavail * s.bsize * 0.9);
}

const why = "90% of the free space of lodged's state directory";

/** Passes bytes through until more than `cap` went by, then fails. */
function capped(cap: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > cap ? new LodgeError('BAD_REQUEST', `the upload passed the ${cap} bytes it may take (${why})`) : null, chunk);
    },
  });
}

/**
 * Writes the request's body to a new file in `dir` (named with `prefix`) and gives its path;
 * the caller removes it. A refused upload is answered with the connection closed: the
 * rest of the body is not read, so the connection cannot serve another request.
 */
export async function receiveUpload(request: FastifyRequest, reply: FastifyReply, dir: string, prefix: string): Promise<string> {
  const refuse = (e: unknown): never => {
    void reply.header('connection', 'close');
    throw e;
  };
  const cap = await scratchCap(dir);
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > cap) refuse(new LodgeError('BAD_REQUEST', `the upload is ${declared} bytes, more than the ${cap} bytes it may take (${why})`));
  const file = path.join(dir, `${prefix}-${randomUUID()}`);
  const counter = capped(cap);
  // piped, not put in the pipeline: a failure must not destroy the request's socket before the answer goes out
  const body = request.body as Readable;
  body.pipe(counter);
  body.once('close', () => body.readableEnded || counter.destroy(new LodgeError('BAD_REQUEST', 'the upload was cut off before its end')));
  try {
    await pipeline(counter, createWriteStream(file, { mode: 0o600 }));
    return file;
  } catch (e) {
    await rm(file, { force: true });
    // uploads side by side can each fit and fill the disk together
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return refuse(new LodgeError('BAD_REQUEST', `the upload filled lodged's state directory; nothing was kept`));
    return refuse(e);
  }
}
