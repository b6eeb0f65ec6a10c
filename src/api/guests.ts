/**
 * @module The wire types of guests: what a client sends to create, change and drive a
 * guest, and what it gets back.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GuestKind, Name, namePattern, Size, sizePattern, StringEnum } from './common.js';
import { Nic, NicRequest } from './networks.js';

export const Limits = Type.Object(
  {
    cpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1024, description: 'CPUs the guest may use (1.5 = one and a half)' })),
    memory: Type.Optional(Type.String({ pattern: sizePattern, description: 'bytes, or a number with K, M, G or T: the most memory the guest may hold, its ceiling (e.g. 256M)' })),
    memoryFloor: Type.Optional(
      Type.String({ pattern: sizePattern, description: 'bytes, or a number with K, M, G or T: the least memory the autonomic loop leaves the guest when it gives memory to others (default: a quarter of limits.memory; at most limits.memory)' }),
    ),
    swap: Type.Optional(Size),
    processes: Type.Optional(Type.Integer({ minimum: 1, maximum: 4194304 })),
    disk: Type.Optional(Type.String({ pattern: sizePattern, description: 'size of the guest\'s own writable storage, set at launch (e.g. 1G)' })),
  },
  { additionalProperties: false },
);
export type Limits = Static<typeof Limits>;

export const accelModes = ['auto', 'kvm', 'tcg'] as const;
export type AccelMode = (typeof accelModes)[number];
export const deviceProfiles = ['virtio', 'legacy'] as const;
export type DeviceProfile = (typeof deviceProfiles)[number];

/**
 * The options of a launch that belong to one kind or another, in one object: each driver
 * says which it takes (GET /1.0: drivers[].launchOptions), and a launch that gives one
 * its kind does not take is refused, naming the kinds that do.
 */
export const GuestOptions = Type.Object(
  {
    privileged: Type.Optional(Type.Boolean({ description: 'ct: no user namespace; root in the guest is root on the host' })),
    accel: Type.Optional(StringEnum(accelModes, { description: 'vm: auto takes KVM only where a probe shows it fast; tcg is software emulation' })),
    profile: Type.Optional(
      StringEnum(deviceProfiles, { description: 'vm: virtio: paravirtual disk, balloon and rng (default for Linux images); legacy: AHCI disk and standard devices any OS has drivers for (default for imported disks and ISOs)' }),
    ),
    userData: Type.Optional(
      Type.String({
        maxLength: 64 * 1024,
        description: "vm: cloud-init's user data (a #cloud-config document or a script) for images with cloud-init (debian/12-cloud): given to the guest at each start on a NoCloud seed disk (an ext4 filesystem labelled cidata)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type GuestOptions = Static<typeof GuestOptions>;

/** What lodged does when a guest's engine ends without Lodge asking: never start it again, after a failure, or every time. */
export const restartPolicies = ['no', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof restartPolicies)[number];
const Restart = StringEnum(restartPolicies, {
  description: 'when lodged starts the guest again after its engine ended on its own: no (default), on-failure (a crash, a non-zero exit, killed), always (a clean poweroff too); never after a stop asked through Lodge; with a backoff of 1 s doubling to 5 min, giving up after 10 failed starts in a row',
});

/** Whether the autonomic loop balances the guest's memory: off keeps its memory at its limit. */
export const autonomicPolicies = ['on', 'off'] as const;
export type AutonomicPolicy = (typeof autonomicPolicies)[number];
const Autonomic = StringEnum(autonomicPolicies, { description: 'on (default): the autonomic loop moves memory to and from the guest within its floor and ceiling, and weighs its CPU by its demand; off: it keeps its limits' });

/** How the guest's CPU weighs against the others' when the host's CPUs are contended. */
export const priorities = ['low', 'normal', 'high'] as const;
export type Priority = (typeof priorities)[number];
const PriorityField = StringEnum(priorities, {
  description: "the guest's CPU weight against the others' when the host's CPUs are contended: low (half), normal (default), high (twice) the cpu.shares its limits.cpu gives; the autonomic loop lowers a guest that spins for long to a quarter of that",
});

const Autostart = Type.Boolean({
  description:
    'lodged starts the guest when it starts and finds it ended without being stopped (the host rebooted, or lodged and its guests were killed), in autostartOrder, lodged --autostart-delay apart; a guest stopped through Lodge stays stopped',
});
const AutostartOrder = Type.Integer({ minimum: 0, maximum: 1000, description: "its place among the guests lodged starts at its start: lower first (default 0), then by name" });

/** What a launch sets and a PATCH changes, beside the limits. */
const changeablePolicies = {
  restart: Type.Optional(Restart),
  autonomic: Type.Optional(Autonomic),
  priority: Type.Optional(PriorityField),
  autostart: Type.Optional(Autostart),
  autostartOrder: Type.Optional(AutostartOrder),
};

export const GuestsPost = Type.Object(
  {
    name: Name,
    image: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Type.Optional(GuestKind),
    limits: Type.Optional(Limits),
    options: Type.Optional(GuestOptions),
    pool: Type.Optional(Type.String({ pattern: namePattern, description: 'the storage pool of its root volume (default: the default pool, lodge storage list)' })),
    networks: Type.Optional(Type.Array(NicRequest, { maxItems: 8, description: 'one NIC per entry, eth0 first; left out: one on the network "default" if there is one; [] for loopback only' })),
    start: Type.Optional(Type.Boolean({ default: true })),
    ...changeablePolicies,
  },
  { additionalProperties: false },
);
export type GuestsPost = Static<typeof GuestsPost>;

export const GuestRenamePost = Type.Object({ name: Name }, { additionalProperties: false });
export type GuestRenamePost = Static<typeof GuestRenamePost>;

export const GuestPatch = Type.Object(
  {
    limits: Type.Optional(Limits),
    ...changeablePolicies,
  },
  { additionalProperties: false },
);
export type GuestPatch = Static<typeof GuestPatch>;

export const guestStates = ['creating', 'stopped', 'running', 'paused', 'error'] as const;
export type GuestState = (typeof guestStates)[number];

export const guestActions = ['start', 'stop', 'restart', 'pause', 'resume'] as const;
export type GuestAction = (typeof guestActions)[number];

export const GuestStatePut = Type.Object(
  {
    action: StringEnum(guestActions),
    timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'seconds to wait for a graceful stop' })),
    force: Type.Optional(Type.Boolean({ description: 'stop: kill at once' })),
  },
  { additionalProperties: false },
);
export type GuestStatePut = Static<typeof GuestStatePut>;

/** What a vm runs on and what it has done, as its driver sees it. */
export const Machine = Type.Object({
  accel: Type.String({ description: 'kvm or tcg' }),
  accelReason: Type.String({ description: 'why that accelerator' }),
  cpuModel: Type.String(),
  memoryBytes: Type.Integer({ description: 'the memory it booted with; a smaller --memory while it runs inflates the balloon' }),
  profile: StringEnum(deviceProfiles),
  boot: Type.String({ description: 'kernel (direct kernel boot) or firmware (SeaBIOS from a disk or an ISO)' }),
  vncSocket: Type.Optional(Type.String({ description: 'the VGA screen over VNC, on a unix socket' })),
  stats: Type.Optional(
    Type.Object({
      vcpuSeconds: Type.Number(),
      balloonBytes: Type.Optional(Type.Integer({ description: 'memory the guest holds after ballooning' })),
      diskReadBytes: Type.Integer(),
      diskWrittenBytes: Type.Integer(),
      diskReads: Type.Optional(Type.Integer({ description: 'read requests of its disks' })),
      diskWrites: Type.Optional(Type.Integer({ description: 'write requests of its disks' })),
    }),
  ),
  statsUnavailable: Type.Optional(Type.String({ description: 'why stats are missing from a running vm: its QEMU did not answer in time (wedged or busy)' })),
});
export type Machine = Static<typeof Machine>;

export const Guest = Type.Object({
  name: Type.String(),
  kind: GuestKind,
  image: Type.String(),
  state: StringEnum(guestStates),
  stateReason: Type.Optional(Type.String()),
  options: GuestOptions,
  limits: Limits,
  restart: Restart,
  autonomic: Autonomic,
  priority: PriorityField,
  autostart: Autostart,
  autostartOrder: AutostartOrder,
  createdAt: Type.String(),
  pid: Type.Optional(Type.Integer()),
  machine: Type.Optional(Machine),
  nics: Type.Optional(Type.Array(Nic)),
  engine: Type.Optional(Type.String({ description: 'the engine that runs the guest, and why it was chosen' })),
  volumes: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        path: Type.Optional(Type.String({ description: 'ct: where the guest sees it mounted' })),
        device: Type.Optional(Type.String({ description: 'pv and vm: the disk the guest sees' })),
      }),
      { description: 'its volumes of their own (lodge volume attach)' },
    ),
  ),
  root: Type.Optional(
    Type.Object(
      {
        pool: Type.String({ description: 'the storage pool of its root volume' }),
        path: Type.String({ description: 'its directory on the host' }),
        sizeBytes: Type.Integer({ description: 'what the guest may write (a container) or the size of its disk (pv, vm)' }),
        usedBytes: Type.Optional(Type.Integer({ description: 'what its root volume takes in the pool' })),
      },
      { description: 'its root volume; absent for a guest made before storage pools, whose root is in its own directory' },
    ),
  ),
  atNextStart: Type.Optional(
    Type.Array(Type.Object({ limit: Type.String(), why: Type.String() }), {
      description: 'in the answer of a change: the limits its running engine takes only at its next start (a vm\'s vCPUs), each with why; the others were applied',
    }),
  ),
  usage: Type.Optional(
    Type.Object({
      memoryBytes: Type.Optional(Type.Integer()),
      processes: Type.Optional(Type.Integer()),
      cpuSeconds: Type.Optional(Type.Number()),
    }),
  ),
});
export type Guest = Static<typeof Guest>;

export const GuestList = Type.Array(Guest);

/** GET /1.0/guests?...: every filter given must match (a guest's NICs come with each guest listed). */
export const GuestListQuery = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'a glob (* and ?) matching the whole name, or else a part of the name' })),
    kind: Type.Optional(GuestKind),
    state: Type.Optional(StringEnum(guestStates)),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'the image it was launched from, exactly' })),
    network: Type.Optional(Type.String({ pattern: namePattern, description: 'a network one of its NICs is on' })),
  },
  { additionalProperties: false },
);
export type GuestListQuery = Static<typeof GuestListQuery>;

/** An argument, variable or path handed to a program: a NUL would end it early, so none may hold one. */
const ArgText = Type.String({ pattern: '^[^\\u0000]*$', description: 'text without NUL bytes' });

const envName = { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'a variable name: letters, digits and _, not starting with a digit' };

const AbsolutePath = Type.String({ pattern: '^/[^\\u0000]*$', description: 'an absolute path without NUL bytes' });
/** A variable as the WebSocket's query gives it: NAME=VALUE. */
const EnvPair = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*=[^\\u0000]*$', description: 'NAME=VALUE, the name of letters, digits and _, not starting with a digit' });

export const ExecPost = Type.Object(
  {
    command: Type.Array(ArgText, { minItems: 1 }),
    stdin: Type.Optional(Type.String({ description: 'sent to the command, then end of input' })),
    // propertyNames and additionalProperties: a Record's key pattern alone lets any other key through (`A=B` or a NUL)
    env: Type.Optional(Type.Record(Type.String({ pattern: envName.pattern }), ArgText, { propertyNames: envName, additionalProperties: false })),
    cwd: Type.Optional(AbsolutePath),
  },
  { additionalProperties: false },
);
export type ExecPost = Static<typeof ExecPost>;

/** A command to run in a guest, its input given apart (streamed, or in ExecPost's stdin). */
export type ExecRequest = Omit<ExecPost, 'stdin'>;

/** The PATH an exec's command sees where its request sets none (vm and pv: their agents pass it; ct: the container's own). */
export const execPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What exec keeps of each of a command's stdout and stderr: past it the command is killed and the request fails. */
export const execOutputCapBytes = 16 * 1024 * 1024;
const capped = `at most ${execOutputCapBytes / 1024 / 1024} MiB: a command that writes more is killed, and the request fails`;

export const ExecResult = Type.Object({ exitCode: Type.Integer(), stdout: Type.String({ description: capped }), stderr: Type.String({ description: capped }) });
export type ExecResult = Static<typeof ExecResult>;

/** A terminal size in characters: what a pty accepts. */
const TermSize = Type.Integer({ minimum: 1, maximum: 1000 });

/** How an exec WebSocket carries the command's input and output. */
export const execStdio = ['pty', 'pipes'] as const;

export const ExecWsQuery = Type.Object(
  {
    command: Type.Union([ArgText, Type.Array(ArgText)]),
    stdio: Type.Optional(
      Type.Union(execStdio.map((s) => Type.Literal(s)), {
        description:
          'pty (the default): one terminal, binary frames both ways. pipes: binary frames in are stdin, binary frames out are stdout (first byte 1) or stderr (first byte 2) and the bytes after it; text frames {"eof":true} and {"signal":"INT"} in',
      }),
    ),
    env: Type.Optional(Type.Union([EnvPair, Type.Array(EnvPair)])),
    cwd: Type.Optional(AbsolutePath),
    cols: Type.Optional(TermSize),
    rows: Type.Optional(TermSize),
  },
  { additionalProperties: false },
);
export type ExecWsQuery = Static<typeof ExecWsQuery>;

/** The signals a client may send to an exec's command: what a terminal's keys and a shell's kill send. */
export const execSignals = ['INT', 'TERM', 'HUP', 'QUIT', 'KILL', 'USR1', 'USR2'] as const;
export type ExecSignal = (typeof execSignals)[number];

/** The first byte of an output frame on a pipes exec WebSocket: which of the command's outputs the rest is. */
export const execChannel = { stdout: 1, stderr: 2 } as const;

/**
 * A text frame a client sends on an exec WebSocket (binary frames are the terminal's input,
 * or stdin): a pty's new size, the end of stdin, or a signal for the command's process group.
 */
export const ExecControlFrame = Type.Union([
  Type.Object({ resize: Type.Tuple([TermSize, TermSize], { description: '[cols, rows]' }) }, { additionalProperties: false }),
  Type.Object({ eof: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object({ signal: Type.Union(execSignals.map((s) => Type.Literal(s))) }, { additionalProperties: false }),
]);
export type ExecControlFrame = Static<typeof ExecControlFrame>;
