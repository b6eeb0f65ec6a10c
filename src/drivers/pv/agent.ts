/**
 * @module The host side of lodge-agent (images/agent.ts): `lodge exec` in a pv guest.
 * A request is a shell script in requests/ (root's: the guest may read it, never change
 * it); the answer comes back in responses/ (the guest's UML user's), read without
 * following links. A guest without the agent is noticed: nobody takes the request.
 */
import { randomUUID } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { chown, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../api/errors.js';
import type { ExecPost, ExecResult } from '../../api/guests.js';

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The script that runs one exec request inside the guest. */
export function requestScript(req: ExecPost): string {
  const lines: string[] = [];
  if (req.cwd) lines.push(`cd ${quote(req.cwd)} || exit 127`);
  for (const [k, v] of Object.entries(req.env ?? {})) lines.push(`export ${k}=${quote(v)}`);
  lines.push(`exec ${req.command.map(quote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

async function readNoFollow(file: string): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return '';
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

export class AgentChannel {
  readonly dir: string;
  private readonly requests: string;
  private readonly responses: string;

  constructor(dir: string) {
    this.dir = dir;
    this.requests = path.join(dir, 'requests');
    this.responses = path.join(dir, 'responses');
  }

  /** Makes the exchange: requests/ stays root's, responses/ becomes the guest's. */
  async prepare(guestUid: number): Promise<void> {
    await mkdir(this.requests, { recursive: true, mode: 0o755 });
    await mkdir(this.responses, { recursive: true, mode: 0o755 });
    await chown(this.responses, guestUid, guestUid);
  }

  async exec(name: string, req: ExecPost, takeTimeoutMs = 15_000): Promise<ExecResult> {
    const id = randomUUID();
    const script = path.join(this.requests, `${id}.sh`);
    const out = path.join(this.responses, id);
    try {
      if (req.stdin !== undefined) await writeFile(path.join(this.requests, `${id}.in`), req.stdin, { mode: 0o644 });
      // the agent looks for *.sh: the script appears whole, by rename
      await writeFile(`${script}.tmp`, requestScript(req), { mode: 0o644 });
      await rename(`${script}.tmp`, script);
      for (let waited = 0; !existsSync(`${out}.taken`); waited += 50) {
        if (waited >= takeTimeoutMs) {
          throw new LodgeError('UNAVAILABLE', `no lodge-agent took the command in ${name} within ${takeTimeoutMs / 1000} s (Lodge's images start it at boot; is the guest still booting, or is the image imported without it?)`);
        }
        await sleep(50);
      }
      while (!existsSync(`${out}.exit`)) await sleep(20);
      return {
        exitCode: Number((await readNoFollow(`${out}.exit`)).trim()),
        stdout: await readNoFollow(`${out}.out`),
        stderr: await readNoFollow(`${out}.err`),
      };
    } finally {
      for (const f of [script, `${script}.tmp`, path.join(this.requests, `${id}.in`), ...['taken', 'out', 'err', 'exit', 'code'].map((x) => `${out}.${x}`)]) {
        await rm(f, { force: true });
      }
    }
  }
}
