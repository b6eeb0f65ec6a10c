/**
 * @module A typed client of QEMU's machine protocol (QMP): JSON objects, one per line,
 * on a unix socket. After the greeting and qmp_capabilities, each command gets either
 * {"return": ...} or {"error": {"class", "desc"}}; events ({"event": ...}) may come in
 * between and are passed to a listener.
 */
import net from 'node:net';

export class QmpError extends Error {}

type Message = { return?: unknown; error?: { class: string; desc: string }; event?: string; QMP?: unknown; id?: number };

export class Qmp {
  private readonly socket: net.Socket;
  private buffer = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private greeted: Promise<void>;
  private onEvent: (event: string, data: unknown) => void = () => {};

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.greeted = new Promise((resolve, reject) => {
      const onMessage = (m: Message) => {
        if (m.QMP) return resolve();
        if (m.event) return this.onEvent(m.event, (m as { data?: unknown }).data);
        const pending = m.id === undefined ? undefined : this.waiting.get(m.id);
        if (!pending) return;
        this.waiting.delete(m.id!);
        if (m.error) pending.reject(new QmpError(`${m.error.class}: ${m.error.desc}`));
        else pending.resolve(m.return);
      };
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        this.buffer += chunk;
        let nl: number;
        while ((nl = this.buffer.indexOf('\n')) >= 0) {
          const line = this.buffer.slice(0, nl).trim();
          this.buffer = this.buffer.slice(nl + 1);
          if (line) onMessage(JSON.parse(line) as Message);
        }
      });
      const fail = (e: Error) => {
        reject(e);
        for (const p of this.waiting.values()) p.reject(new QmpError(`QMP connection lost: ${e.message}`));
        this.waiting.clear();
      };
      socket.on('error', fail);
      socket.on('close', () => fail(new Error('closed')));
    });
  }

  /** Connects, reads the greeting and leaves capabilities negotiation done. */
  static async connect(path: string, timeoutMs = 5000): Promise<Qmp> {
    const qmp = new Qmp(net.connect(path));
    const timer = setTimeout(() => qmp.socket.destroy(new QmpError(`no QMP greeting on ${path} in ${timeoutMs} ms`)), timeoutMs);
    try {
      await qmp.greeted;
      await qmp.execute('qmp_capabilities');
      return qmp;
    } finally {
      clearTimeout(timer);
    }
  }

  events(listener: (event: string, data: unknown) => void): void {
    this.onEvent = listener;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
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
}
