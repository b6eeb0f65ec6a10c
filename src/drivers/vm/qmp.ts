/**
 * @module A typed client of QEMU's machine protocol (QMP): JSON objects, one per line,
 * on a unix socket. After the greeting and qmp_capabilities, each command gets either
 * {"return": ...} or {"error": {"class", "desc"}}; events ({"event": ...}) may come in
 * between and are passed to a listener. QEMU runs a guest's code, so what it sends is
 * untrusted: a line that is not a JSON object, a line longer than the cap, or a command
 * not answered in time ends this connection with a QmpError, and nothing else.
 */
import net from 'node:net';

export class QmpError extends Error {}

type Message = { return?: unknown; error?: { class: string; desc: string }; event?: string; QMP?: unknown; id?: number; data?: unknown };

/** QEMU's answers Lodge asks for are a few KiB; a guest with many devices stays far below this. */
export const maxLineBytes = 1024 * 1024;

/** One line of the protocol as a message; a QmpError names what was wrong, never echoes the line. */
export function parseMessage(line: string): Message {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new QmpError(`QMP sent a line that is not JSON (${line.length} characters)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new QmpError('QMP sent a line that is not a JSON object');
  return value as Message;
}

export class Qmp {
  private readonly socket: net.Socket;
  private buffer = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly greeted: Promise<void>;
  /** Why the connection ended, once it has: later commands fail with it at once. */
  private ended: Error | undefined;
  private onEvent: (event: string, data: unknown) => void = () => {};
  readonly commandTimeoutMs: number;

  private constructor(socket: net.Socket, commandTimeoutMs: number) {
    this.socket = socket;
    this.commandTimeoutMs = commandTimeoutMs;
    this.greeted = new Promise((resolve, reject) => {
      const onMessage = (m: Message) => {
        if (m.QMP) return resolve();
        if (typeof m.event === 'string') return this.onEvent(m.event, m.data);
        const pending = typeof m.id === 'number' ? this.waiting.get(m.id) : undefined;
        if (!pending) return;
        this.waiting.delete(m.id!);
        if (m.error) pending.reject(new QmpError(`${String(m.error.class)}: ${String(m.error.desc)}`));
        else pending.resolve(m.return);
      };
      const fail = (e: Error) => {
        this.ended ??= e;
        reject(this.ended);
        for (const p of this.waiting.values()) p.reject(new QmpError(`QMP connection lost: ${this.ended.message}`));
        this.waiting.clear();
      };
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        if (this.ended) return;
        this.buffer += chunk;
        try {
          let nl: number;
          while ((nl = this.buffer.indexOf('\n')) >= 0) {
            const line = this.buffer.slice(0, nl).trim();
            this.buffer = this.buffer.slice(nl + 1);
            if (line) onMessage(parseMessage(line));
          }
          if (this.buffer.length > maxLineBytes) throw new QmpError(`QMP sent a line longer than ${maxLineBytes} bytes`);
        } catch (e) {
          this.buffer = '';
          fail(e instanceof QmpError ? e : new QmpError(`QMP: ${(e as Error).message}`));
          socket.destroy();
        }
      });
      socket.on('error', fail);
      socket.on('close', () => fail(new QmpError('closed')));
    });
    // nobody may be waiting on the greeting when the connection ends later
    this.greeted.catch(() => {});
  }

  /**
   * Connects, reads the greeting and leaves capabilities negotiation done; each command
   * then has `timeoutMs` too. `label` names the socket in messages (`path` may be /proc/self/fd/N).
   */
  static async connect(path: string, timeoutMs = 5000, label = path): Promise<Qmp> {
    const qmp = new Qmp(net.connect(path), timeoutMs);
    const timer = setTimeout(() => qmp.socket.destroy(new QmpError(`no QMP greeting on ${label} in ${timeoutMs} ms`)), timeoutMs);
    try {
      await qmp.greeted;
      await qmp.execute('qmp_capabilities');
      return qmp;
    } catch (e) {
      qmp.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  events(listener: (event: string, data: unknown) => void): void {
    this.onEvent = listener;
  }

  /** Sends a command; no answer within the timeout ends the connection (later answers could not be matched safely). */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.ended) return Promise.reject(new QmpError(`QMP connection lost: ${this.ended.message}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.socket.destroy(new QmpError(`QMP ${command}: no answer in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  status = () => this.execute<{ status: string; running: boolean }>('query-status');
  stop = () => this.execute('stop');
  cont = () => this.execute('cont');
  /** The ACPI power button: the guest's OS decides what to do. */
  powerdown = () => this.execute('system_powerdown');
  reset = () => this.execute('system_reset');
  quit = () => this.execute('quit');
  balloon = (bytes: number) => this.execute('balloon', { value: bytes });
  cpus = () => this.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast');
  blockStats = () => this.execute<Array<{ device: string; stats: Record<string, number> }>>('query-blockstats');
  balloonInfo = () => this.execute<{ actual: number }>('query-balloon');
  /** Sends the machine's state to `uri` (a paused machine stays paused, its disks given up until cont). */
  migrate = (uri: string) => this.execute('migrate', { uri });
  /** A QEMU started with -incoming defer takes the machine's state from `uri`. */
  migrateIncoming = (uri: string) => this.execute('migrate-incoming', { uri });
  migrateParameters = (parameters: Record<string, unknown>) => this.execute('migrate-set-parameters', parameters);
  migration = () => this.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
}
