/**
 * @module A command-line option that is a number of seconds within a range, read into
 * milliseconds, with an error that names the option and the range.
 */

export interface SecondsRange {
  min: number;
  max: number;
  /** Whole seconds only. */
  whole?: boolean;
}

/** `value` of option `flag` in milliseconds; `fallbackMs` when it was not given. */
export function secondsOption(flag: string, value: string | undefined, fallbackMs: number, range: SecondsRange): number {
  if (value === undefined) return fallbackMs;
  const seconds = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(seconds) && (!range.whole || Number.isInteger(seconds)) && seconds >= range.min && seconds <= range.max;
  if (!ok) throw new Error(`${flag}: "${value}" is not a number of ${range.whole ? 'whole ' : ''}seconds from ${range.min} to ${range.max}`);
  return seconds * 1000;
}
