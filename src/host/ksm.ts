/**
 * @module The host's KSM (kernel samepage merging): whether it has it, whether ksmd runs, what
 * it saves, and which lodgeds want it running. ksmd is one per host while several lodgeds may
 * run on it: each says it wants it with a file of its own in a shared directory (its pid,
 * named after its state directory), and ksmd is stopped only by a lodged that finds no other
 * live one wanting it, and only if a lodged started it (a ksmd the host's administrator started
 * is left running).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isAlive } from './processes.js';

export const ksmSysfs = '/sys/kernel/mm/ksm';
const pageBytes = 4096;

export interface KsmState {
  /** 0 stopped, 1 running, 2 stopped after unmerging every page. */
  run: number;
  /** Memory KSM saves: pages that point at a shared one. */
  savedBytes: number;
}

/** KSM as the host has it now; undefined if its kernel has none. */
export function readKsm(dir = ksmSysfs): KsmState | undefined {
  const read = (file: string) => Number(readFileSync(path.join(dir, file), 'utf8').trim());
  try {
    return { run: read('run'), savedBytes: read('pages_sharing') * pageBytes };
  } catch {
    return undefined;
  }
}

/** Synchronous: lodged stops the ksmd it started on its way out, where nothing is awaited. */
export function setKsmRun(run: 0 | 1, dir = ksmSysfs): void {
  writeFileSync(path.join(dir, 'run'), `${run}\n`);
}

/** The marker a lodged leaves when it started ksmd. */
const startedMarker = 'started-by-lodge';

/** This lodged's say in whether ksmd runs, beside the other lodgeds' on the host. */
export class KsmWants {
  private readonly dir: string;
  private readonly mine: string;

  /** `stateDir` names this lodged among the others; `dir` is where their wants are (tests give their own). */
  constructor(stateDir: string, dir = '/run/lodge/ksm') {
    this.dir = dir;
    this.mine = `lodged-${createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16)}`;
  }

  want(on: boolean): void {
    const file = path.join(this.dir, this.mine);
    if (!on) return rmSync(file, { force: true });
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${process.pid}\n`);
  }

  /** Whether another live lodged wants ksmd running; the wants of lodgeds that died go. */
  othersWant(): boolean {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return false;
    }
    return names
      .filter((n) => n.startsWith('lodged-') && n !== this.mine)
      .some((n) => {
        const file = path.join(this.dir, n);
        let pid: number;
        try {
          pid = Number(readFileSync(file, 'utf8').trim());
        } catch {
          return false; // its lodged took it back meanwhile
        }
        if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) return true;
        rmSync(file, { force: true });
        return false;
      });
  }

  get startedByLodge(): boolean {
    return existsSync(path.join(this.dir, startedMarker));
  }

  set startedByLodge(started: boolean) {
    const file = path.join(this.dir, startedMarker);
    if (!started) {
      rmSync(file, { force: true });
      return;
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${process.pid}\n`);
  }
}
