/**
 * The conformance cases (conformance.ts) for ct guests: system containers on runc.
 */
import { conformance } from './conformance.js';

conformance('ct');
