/**
 * The conformance cases (conformance.ts) for pv guests: paravirtual guests on User-Mode Linux,
 * with their roots and volumes on a dir pool (ct and vm run them on btrfs, so that both pool
 * drivers carry a whole run).
 */
import { conformance } from './conformance.js';

conformance('pv', 'dir');
