/**
 * @module lodge config show NAME, lodge config edit NAME: a guest's settings as YAML or
 * JSON, and changed in $EDITOR as kubectl edit does (what can change is applied, live on
 * a running guest where its kind can; what waits for its next start is said).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { LodgeClient } from '../../client/index.js';
import { changeLines, patchFrom, settingsOf, type GuestSettings } from '../guest-settings.js';
import { printJson } from '../output.js';

type SettingsFormat = 'yaml' | 'json';

function settingsFormat(value: string): SettingsFormat {
  if (value !== 'yaml' && value !== 'json') throw new LodgeError('BAD_REQUEST', `--format: "${value}" is not yaml or json`);
  return value;
}

const header = (name: string) =>
  [
    `# The settings of ${name}. limits, restart and autonomic change when this file is saved and closed;`,
    '# name, kind, image, options and networks are set at launch. Lines starting with # are left out.',
    '',
  ].join('\n');

async function render(settings: GuestSettings, format: SettingsFormat): Promise<string> {
  if (format === 'json') return `${JSON.stringify(settings, null, 2)}\n`;
  // loaded only here: the CLI's other commands do not pay its start time
  const yaml = await import('yaml');
  return yaml.stringify(settings);
}

async function parse(text: string, format: SettingsFormat): Promise<unknown> {
  try {
    if (format === 'json') return JSON.parse(text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n'));
    const yaml = await import('yaml');
    return yaml.parse(text);
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `the edited settings are not ${format === 'json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}; nothing was changed`);
  }
}

export function register(program: Command, client: () => LodgeClient): void {
  const config = program.command('config').description("a guest's settings: show them, or edit them in $EDITOR");

  config
    .command('show')
    .description("print a guest's settings: name, kind, image, options, networks, limits, restart policy, autonomic")
    .argument('<name>')
    .option('--format <format>', 'yaml or json', 'yaml')
    .addHelpText('after', '\nExamples:\n  lodge config show web1\n  lodge config show web1 --format json')
    .action(async (name: string, flags: { format: string }) => {
      const format = settingsFormat(flags.format);
      const settings = settingsOf(await client().guests.get(name));
      if (format === 'json') return printJson(settings);
      process.stdout.write(await render(settings, format));
    });

  config
    .command('edit')
    .description("change a guest's limits and restart policy in $EDITOR (then $VISUAL, then vi)")
    .argument('<name>')
    .option('--format <format>', 'what the editor shows: yaml or json', 'yaml')
    .addHelpText(
      'after',
      [
        '',
        'When the editor ends, the settings are checked: a bad value, or a change to what is set at',
        'launch, is refused with the field named and nothing is changed (the edit is kept in a file',
        'the message names, to fix and paste in when you run lodge config edit again). Otherwise the change is applied: at once',
        'on a running guest where its kind can, and each limit its engine takes only at its next',
        "start (a vm's vCPUs) is said to be so. Saving the file unchanged changes nothing.",
        '',
        'Examples:',
        '  lodge config edit web1',
        '  EDITOR=nano lodge config edit web1 --format json',
      ].join('\n'),
    )
    .action(async (name: string, flags: { format: string }) => {
      const format = settingsFormat(flags.format);
      const c = client();
      const before = settingsOf(await c.guests.get(name));
      const dir = mkdtempSync(path.join(tmpdir(), 'lodge-edit-'));
      const file = path.join(dir, `${name}.${format}`);
      writeFileSync(file, `${header(name)}${await render(before, format)}`, { mode: 0o600 });
      const editor = process.env.EDITOR || process.env.VISUAL || 'vi';
      // the editor is a command line (EDITOR="code --wait"), run by the shell as git and kubectl do
      const ran = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
      if (ran.status !== 0) {
        rmSync(dir, { recursive: true, force: true });
        throw new LodgeError('BAD_REQUEST', `the editor (${editor}) ended with ${ran.status ?? ran.signal}: nothing was changed`);
      }
      try {
        const patch = patchFrom(before, await parse(readFileSync(file, 'utf8'), format));
        if (patch) {
          const answer = await c.guests.update(name, patch);
          for (const line of changeLines(patch, answer)) process.stderr.write(`${name}: ${line}\n`);
        } else process.stderr.write(`${name}: nothing changed\n`);
      } catch (e) {
        // a refused edit is kept, so that it is not lost
        if (e instanceof LodgeError) throw new LodgeError(e.code, `${e.message} (the edit is kept in ${file}: run lodge config edit ${name} again)`, e.cause === undefined ? undefined : { cause: e.cause });
        throw e;
      }
      rmSync(dir, { recursive: true, force: true });
    });
}
