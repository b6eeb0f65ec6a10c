/**
 * @module The host side of lodge-agent (images/agent.ts): `lodge exec` in a pv guest.
 * A request is a shell script in requests/ (root's, in a directory of root's: the guest
 * may read it, never change it); the answer comes back in responses/ (the guest's UML
 * user's), where the guest may leave anything: answers are read as untrusted files
 * (no link followed, no FIFO waited on, capped), and a bad one fails that exec only.
 * A guest without the agent is noticed: nobody takes the request. Files cross the same
 * way: a push's bytes as a file beside the requests, a pull's as one the guest leaves in
 * responses/, copied as untrusted; the guest's shell does the rest (drivers/files-script.ts).
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../api/errors.js';
import type { ExecPost, ExecResult } from '../../api/guests.js';
import { copyUntrusted, readUntrustedFrom, readUntrustedText } from '../../host/untrusted-file.js';
import { agentMount } from '../../images/agent.js';
import type { FilePush, GuestFileInfo } from '../driver.js';
import { filesAnswer, filesCommand, ownership, tempBeside } from '../files-script.js';

/** What lodged takes of a pv exec's stdout and of its stderr: the answer is held whole in memory. */
export const maxOutputBytes = 8 * 1024 * 1024;

/** What a streamed exec reads of an answer file at a time, and lets wait in a sink before it stops reading. */
const followChunkBytes = 256 * 1024;

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The script that runs one exec request inside the guest. */
export function requestScript(req: ExecPost): string {
  const lines: string[] = [];
  if (req.cwd) lines.push(`cd ${quote(req.cwd)} || exit 127`);
  for (const [k, v] of Object.entries(req.env ?? {})) lines.push(`export ${k}=${quote(v)}`);
  lines.push(`exec ${req.command.map(quote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** A directory that is not a link, owned by root and writable by root alone. */
async function rootsAlone(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch(() => undefined);
  return !!st && st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0;
}

const exists = (file: string) => lstat(file).then(() => true, () => false);

export class AgentChannel {
  readonly dir: string;
  private readonly requests: string;
  private readonly responses: string;

  /** Whether the guest's engine still runs: a guest that ended (a poweroff it was asked to run) answers nothing more. */
  private readonly alive: () => Promise<boolean>;

  constructor(dir: string, alive: () => Promise<boolean> = async () => true) {
    this.dir = dir;
    this.alive = alive;
    this.requests = path.join(dir, 'requests');
    this.responses = path.join(dir, 'responses');
  }

  /**
   * Makes the exchange, or repairs it: requests/ and the exchange itself root's alone,
   * responses/ the guest's. Only while the guest's engine is not running: what a guest
   * made in place of the exchange is removed.
   */
  async prepare(guestUid: number): Promise<void> {
    if (!(await rootsAlone(this.dir)) || !(await rootsAlone(this.requests))) await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.requests, { recursive: true, mode: 0o755 });
    const responses = await lstat(this.responses).catch(() => undefined);
    if (responses && !responses.isDirectory()) await rm(this.responses, { force: true });
    await mkdir(this.responses, { recursive: true, mode: 0o755 });
    await chown(this.responses, guestUid, guestUid);
  }

  /** Refuses an exchange that is no longer root's (a guest of an earlier lodged had the directory around it). */
  private async check(name: string): Promise<void> {
    if (!(await rootsAlone(this.dir)) || !(await rootsAlone(this.requests))) {
      throw new LodgeError('ENGINE_FAILED', `the exec exchange of ${name} (${this.dir}) is not root's alone: restart the guest to make it anew`);
    }
  }

  /** Where the guest sees a file of the exchange. */
  private guestPath(file: string): string {
    return path.posix.join(agentMount, path.relative(this.dir, file));
  }

  /**
   * Writes `push.source` into the guest: a copy of it in requests/ that the guest's root alone
   * may read (root's, of its UML's group, 0640), which the guest's shell copies beside the path.
   */
  async pushFile(name: string, push: FilePush, umlGid: number, what: string): Promise<GuestFileInfo> {
    await this.check(name);
    const data = path.join(this.requests, `${randomUUID()}.data`);
    try {
      await copyFile(push.source, data, constants.COPYFILE_EXCL);
      await chown(data, 0, umlGid);
      await chmod(data, 0o640);
      const command = filesCommand('push', push.path, tempBeside(push.path), this.guestPath(data), ...ownership(push), push.parents ? '1' : '0');
      return filesAnswer(await this.exec(name, { command }), what);
    } finally {
      await rm(data, { force: true });
    }
  }

  /** Copies a regular file of the guest into `dest`: the guest's shell leaves a copy in responses/, read from there as untrusted. */
  async pullFile(name: string, guestPath: string, dest: string, maxBytes: number, what: string): Promise<GuestFileInfo> {
    await this.check(name);
    const copy = path.join(this.responses, `${randomUUID()}.pull`);
    try {
      const info = filesAnswer(await this.exec(name, { command: filesCommand('pull', guestPath, String(maxBytes), this.guestPath(copy)) }), what);
      const sizeBytes = await copyUntrusted(copy, dest, { what: `the copy of ${guestPath} that ${name}'s agent made`, maxBytes });
      if (sizeBytes === undefined) throw new LodgeError('ENGINE_FAILED', `${what}: the guest's agent left no copy of it`);
      return { ...info, sizeBytes };
    } finally {
      await unlink(copy).catch(() => {});
    }
  }

  async exec(name: string, req: ExecPost, takeTimeoutMs = 15_000, runTimeoutMs = 3_600_000): Promise<ExecResult> {
    let result: ExecResult | undefined;
    await this.exchange(name, req, { takeTimeoutMs, runTimeoutMs }, async (out, exitCode) => {
      const answer = async (ext: string) => (await readUntrustedText(`${out}.${ext}`, { what: `the ${ext} answer of ${name}'s agent`, maxBytes: maxOutputBytes })) ?? '';
      result = { exitCode, stdout: await answer('out'), stderr: await answer('err') };
    });
    return result!;
  }

  /**
   * As exec, with the command's stdout and stderr written to `stdout` and `stderr` as the
   * agent writes them (read from its answer files as they grow, at the sinks' pace); answers
   * the exit code.
   */
  async execStreaming(name: string, req: ExecPost, stdout: Writable, stderr: Writable): Promise<number> {
    const sinks = { out: { sink: stdout, at: 0 }, err: { sink: stderr, at: 0 } };
    /** What the answer files hold past what was sent; `all`: to their end, waiting for a full sink to drain. */
    const follow = async (out: string, all: boolean) => {
      for (const [ext, s] of Object.entries(sinks)) {
        for (;;) {
          if (s.sink.writableLength > followChunkBytes) {
            if (!all) break;
            await once(s.sink, 'drain');
          }
          const chunk = await readUntrustedFrom(`${out}.${ext}`, `the ${ext} answer of ${name}'s agent`, s.at, followChunkBytes);
          if (!chunk?.length) break;
          s.at += chunk.length;
          s.sink.write(chunk);
        }
      }
    };
    let code = 0;
    await this.exchange(name, req, { takeTimeoutMs: 15_000, runTimeoutMs: 3_600_000, follow: (out) => follow(out, false) }, async (out, exitCode) => {
      await follow(out, true);
      code = exitCode;
    });
    return code;
  }

  /**
   * One request: its script (and input) written, taken by the agent, waited for to its exit
   * code (`follow` called at each look meanwhile), `answered` with where its answers are, and
   * every file of it removed whatever happened.
   */
  private async exchange(
    name: string,
    req: ExecPost,
    { takeTimeoutMs, runTimeoutMs, follow }: { takeTimeoutMs: number; runTimeoutMs: number; follow?: (out: string) => Promise<void> },
    answered: (out: string, exitCode: number) => Promise<void>,
  ): Promise<void> {
    await this.check(name);
    const id = randomUUID();
    const script = path.join(this.requests, `${id}.sh`);
    const out = path.join(this.responses, id);
    const answer = async (ext: string, maxBytes: number) =>
      (await readUntrustedText(`${out}.${ext}`, { what: `the ${ext} answer of ${name}'s agent`, maxBytes })) ?? '';
    try {
      if (req.stdin !== undefined) await writeFile(path.join(this.requests, `${id}.in`), req.stdin, { mode: 0o644 });
      // the agent looks for *.sh: the script appears whole, by rename
      await writeFile(`${script}.tmp`, requestScript(req), { mode: 0o644 });
      await rename(`${script}.tmp`, script);
      // looked at often: the agent takes a request within its pause (images/agent.ts), and these are host lstat calls
      for (const start = Date.now(); !(await exists(`${out}.taken`)); await sleep(10)) {
        if (Date.now() - start >= takeTimeoutMs) {
          throw new LodgeError('UNAVAILABLE', `no lodge-agent took the command in ${name} within ${takeTimeoutMs / 1000} s (Lodge's images start it at boot; is the guest still booting, or is the image imported without it?)`);
        }
      }
      // as long as the command runs, up to the hour a ct exec has too; a guest deleted meanwhile takes its exchange with it
      const ended = () => new LodgeError('CONFLICT', `exec in ${name}: the guest was stopped or deleted while the command ran`);
      // every 5 ms at first (most commands are short), then less often, up to every 50 ms
      for (let pause = 5, checked = Date.now(), deadline = checked + runTimeoutMs; !(await exists(`${out}.exit`)); await sleep(pause), pause = Math.min(pause * 2, 50)) {
        await follow?.(out);
        if (Date.now() >= deadline) throw new LodgeError('ENGINE_FAILED', `exec in ${name}: ${req.command[0]} did not end within ${runTimeoutMs / 60_000} minutes`);
        if (!(await exists(this.responses))) throw ended();
        // about once a second: the engine itself (an answer written as it ended is still taken)
        if (Date.now() - checked < 1000) continue;
        checked = Date.now();
        if (!(await this.alive()) && !(await exists(`${out}.exit`))) throw ended();
      }
      const exit = (await answer('exit', 32)).trim();
      if (!/^\d{1,3}$/.test(exit)) throw new LodgeError('ENGINE_FAILED', `the exit answer of ${name}'s agent (${out}.exit) is not an exit code`);
      await answered(out, Number(exit));
    } finally {
      await rm(script, { force: true });
      await rm(`${script}.tmp`, { force: true });
      await rm(path.join(this.requests, `${id}.in`), { force: true });
      // unlink never follows a link; whatever the guest made a directory stays its own business
      for (const x of ['taken', 'out', 'err', 'exit', 'code']) await unlink(`${out}.${x}`).catch(() => {});
    }
  }
}
