/**
 * The conformance cases (conformance.ts) for vm guests: virtual machines on QEMU (TCG here).
 */
import { conformance } from './conformance.js';

conformance('vm');
