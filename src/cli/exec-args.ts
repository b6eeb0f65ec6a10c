/**
 * @module Where `lodge exec`'s own options end and its command begins. After a `--`, all is
 * the command, and lodge's options may stand before or after the guest's name. Without one,
 * the command begins at the first word after the name that is not one of exec's options or
 * an option's value, so `lodge exec web1 ls -la` runs `ls -la`; this inserts the `--` there.
 */

/** lodge's own options before the command's name that take a value. */
const globalValued = ['--remote'];
/** exec's options that take a value (the others, -t and -h, stand alone). */
const execValued = ['-e', '--env', '--cwd'];

const isOption = (arg: string) => arg.startsWith('-') && arg !== '-';
const takesValue = (arg: string, valued: string[]) => valued.includes(arg);

/** The command line (without node and the script) with a `--` before an exec's command when it had none. */
export function separateExecCommand(args: string[]): string[] {
  let i = 0;
  while (i < args.length && isOption(args[i]!) && args[i] !== '--') i += takesValue(args[i]!, globalValued) ? 2 : 1;
  if (args[i] !== 'exec' || args.includes('--', i)) return args;
  let named = false;
  for (let j = i + 1; j < args.length; j++) {
    const arg = args[j]!;
    if (takesValue(arg, execValued)) j++;
    else if (isOption(arg)) continue; // exec's own, or one commander will name as unknown
    else if (!named) named = true;
    else return [...args.slice(0, j), '--', ...args.slice(j)];
  }
  return args;
}
