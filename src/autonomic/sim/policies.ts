/**
 * @module The policies of the paper's Table V that the simulator replays: no power
 * management (every host on at full power, no migration), and dynamic consolidation with
 * MMT selection and PABFD placement under a static-threshold or local-regression detector;
 * and Lodge's own planner.
 */
import type { PlannerOptions } from '../planner/plan.js';
import { localRegression, threshold, type Detector } from './detectors.js';

export interface Policy {
  readonly name: string;
  /** Decides overload for the first placement and, when `migrates`, for every interval. */
  readonly detector: Detector;
  readonly migrates: boolean;
  /** False: every host draws its full power all day, guests or not (NPA). */
  readonly powerManaged: boolean;
  /** Set: the interval's migrations are Lodge's planner's, with these options. */
  readonly planner?: Partial<PlannerOptions>;
}

export const policies: Readonly<Record<string, Policy>> = {
  NPA: { name: 'NPA', detector: threshold(1), migrates: false, powerManaged: false },
  'THR-MMT-0.8': { name: 'THR-MMT-0.8', detector: threshold(0.8), migrates: true, powerManaged: true },
  'LR-MMT-1.2': { name: 'LR-MMT-1.2', detector: localRegression(1.2), migrates: true, powerManaged: true },
  // the first placement is THR-MMT-0.8's (PABFD at full size); the planner decides every interval after
  LODGE: { name: 'LODGE', detector: threshold(0.8), migrates: true, powerManaged: true, planner: {} },
};
