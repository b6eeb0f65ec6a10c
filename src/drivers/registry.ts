/**
 * @module Drivers by kind. The daemon makes each driver once and probes it at start;
 * a kind whose engine is missing is reported, not fatal. What a kind cannot do is
 * refused here, in one place, with the driver's own reason.
 */
import type { GuestKind } from '../api/common.js';
import { LodgeError } from '../api/errors.js';
import { guestFeatures, type GuestFeature } from '../api/host.js';
import type { DriverInfo, GuestDriver } from './driver.js';

/** How a feature reads in an error: what was asked. */
export const featureActions: Record<GuestFeature, string> = {
  exec: 'exec',
  interactiveExec: 'exec -t',
  pause: 'pause',
  liveLimits: 'changing limits while a guest runs',
  memoryBalloon: 'giving memory back while a guest runs',
  diskHotplug: 'attaching or detaching a volume while a guest runs',
  volumeMount: 'a volume mounted at a path',
  files: 'pushing or pulling files',
  filesStopped: 'pushing or pulling files while a guest is stopped',
  statefulSnapshot: 'a snapshot with the guest\'s memory',
  liveMigration: 'live migration',
  vga: 'a VGA screen',
};

export class DriverRegistry {
  private readonly drivers = new Map<GuestKind, { driver: GuestDriver; info: DriverInfo }>();

  async add(driver: GuestDriver): Promise<DriverInfo> {
    const info = { ...(await driver.probe()), ...driver.capabilities };
    this.drivers.set(driver.kind, { driver, info });
    return info;
  }

  info(kind: GuestKind): DriverInfo | undefined {
    return this.drivers.get(kind)?.info;
  }

  /** Whether guests of `kind` can do `feature`. */
  has(kind: GuestKind, feature: GuestFeature): boolean {
    return this.info(kind)?.features[feature] === true;
  }

  /** The kinds (of this lodged) whose declarations pass `test`. */
  kindsWith(test: (info: DriverInfo) => boolean): GuestKind[] {
    return [...this.drivers.values()].filter((e) => test(e.info)).map((e) => e.info.kind);
  }

  /** Refuses what guests of `kind` cannot do, with the driver's reason (NAME in it: the guest's name). */
  require(kind: GuestKind, feature: GuestFeature, guest = 'NAME'): void {
    const answer = this.info(kind)?.features[feature];
    if (answer === true) return;
    const why = (answer ?? 'this lodged has no such kind').replace(/\bNAME\b/g, guest);
    throw new LodgeError('UNSUPPORTED', `${featureActions[feature]} is not available in ${kind} guests: ${why}`);
  }

  /** The features of a kind as the API shows them: those it has, and why not the others. */
  static describe(info: DriverInfo): { features: GuestFeature[]; lacks: Record<string, string> } {
    const lacks: Record<string, string> = {};
    for (const f of guestFeatures) if (info.features[f] !== true) lacks[f] = info.features[f] as string;
    return { features: guestFeatures.filter((f) => info.features[f] === true), lacks };
  }

  /** The driver of a kind, refusing kinds this host cannot run. */
  get(kind: GuestKind): GuestDriver {
    const entry = this.drivers.get(kind);
    if (!entry) throw new LodgeError('UNSUPPORTED', `guest kind ${kind} is not supported by this lodged yet`);
    if (!entry.info.available) throw new LodgeError('UNAVAILABLE', `guest kind ${kind} cannot run on this host: ${entry.info.engine}`);
    return entry.driver;
  }

  /** For guests that already exist: the driver even when its engine went missing, to report and clean up. */
  existing(kind: GuestKind): GuestDriver | undefined {
    return this.drivers.get(kind)?.driver;
  }
}
