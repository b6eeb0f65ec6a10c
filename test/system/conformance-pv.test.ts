/**
 * The conformance cases (conformance.ts) for pv guests: paravirtual guests on User-Mode Linux.
 */
import { conformance } from './conformance.js';

conformance('pv');
