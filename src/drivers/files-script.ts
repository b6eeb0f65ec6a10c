/**
 * @module The guest's side of `lodge file push|pull` for kinds whose guest has a kernel of
 * its own (pv through lodge-agent, vm through the QEMU guest agent): a POSIX sh script, run
 * as the guest's root with its paths as arguments, never in its text. The guest resolves
 * the paths itself, so its links lead nowhere but into itself; the script keeps the rules
 * lodge-files (shim/lodge-files.c) keeps for containers: a push writes a new file beside
 * the path and renames it over it, refusing anything at the path but a regular file; a pull
 * takes a regular file only, up to a cap. Its answers read as lodge-files' do ("ok MODE UID
 * GID SIZE", or "lodge-files: WHY" and status 1), so every kind refuses with one message.
 */
import { randomBytes } from 'node:crypto';
import { LodgeError } from '../api/errors.js';
import type { ExecResult } from '../api/guests.js';
import type { FilePush, GuestFileInfo } from './driver.js';

/**
 * lodge-files OP ARGS: prepare PATH TMP PARENTS (checks the path, makes its directory when
 * PARENTS is 1, makes TMP empty and the guest root's alone, and says so), finish PATH TMP MODE UID GID
 * (gives TMP its owner and mode and renames it over PATH), push PATH TMP SOURCE MODE UID GID
 * PARENTS (both, copying SOURCE between), stat PATH MAXBYTES (a regular file's mode, owner
 * and size), pull PATH MAXBYTES DEST (stat, then a copy into DEST).
 */
export const filesScript = `set -u
tmp=
fail() { [ -n "$tmp" ] && rm -f -- "$tmp"; echo "lodge-files: $*" >&2; exit 1; }
# a command whose failure fails the copy, with the reason its message ends with
step() { out=$("$@" 2>&1) || { why=\${out##*: }; fail "$p: \${why:-$1 failed}"; }; }
what() { if [ -d "$1" ]; then echo 'a directory'; elif [ -p "$1" ]; then echo 'a FIFO'; elif [ -S "$1" ]; then echo 'a socket'; elif [ -b "$1" ] || [ -c "$1" ]; then echo 'a device'; else echo 'not a regular file'; fi; }
# a push replaces a regular file, or makes one; a link is not followed
replaceable() { if [ -L "$p" ]; then fail "$p is a symbolic link"; elif [ -e "$p" ] && [ ! -f "$p" ]; then fail "$p is $(what "$p")"; fi; }
create() { set -C; : > "$1"; }
copy() { cat -- "$1" > "$2"; }
prepare() {
  dir=\${p%/*}; [ -n "$dir" ] || dir=/
  case \${p##*/} in ''|.|..) fail "$p names no file" ;; esac
  if [ ! -d "$dir" ]; then
    if [ -e "$dir" ]; then fail "$dir: Not a directory"; fi
    if [ "$1" != 1 ]; then fail "$dir: No such file or directory (--parents makes it)"; fi
    umask 022; step mkdir -p -- "$dir"
  fi
  replaceable
  umask 077; step create "$t"; tmp=$t
}
# the new file, as a push leaves it for the bytes (the vm way)
prepared() { stat -c 'ok %a %u %g %s' -- "$tmp" || fail "$p: cannot stat"; }
finish() {
  tmp=$t
  # "-" keeps what the replaced file had; a new file is 644 and root's
  if [ -f "$p" ] && [ ! -L "$p" ]; then was=$(stat -c '%a %u %g' -- "$p") || was='644 0 0'; else was='644 0 0'; fi
  # shellcheck disable=SC2086
  set -- "$@" $was
  m=$1; [ "$m" != - ] || m=$4
  u=$2; [ "$u" != - ] || u=$5
  g=$3; [ "$g" != - ] || g=$6
  # the owner before the mode: a chown clears setuid and setgid bits
  step chown -- "$u:$g" "$tmp"; step chmod -- "$m" "$tmp"
  sync -- "$tmp" 2>/dev/null || sync
  replaceable
  step mv -f -- "$tmp" "$p"; tmp=
  stat -c 'ok %a %u %g %s' -- "$p"
}
regular() {
  [ -e "$p" ] || fail "$p: No such file or directory"
  [ -f "$p" ] || fail "$p is $(what "$p")"
  info=$(stat -L -c '%a %u %g %s' -- "$p") || fail "$p: cannot stat"
  size=\${info##* }
  [ "$size" -le "$1" ] || fail "$p is $size bytes, more than the $1 lodged takes"
}
op=$1 p=$2; shift 2
case $op in
  prepare) t=$1; prepare "$2"; prepared ;;
  finish) t=$1; shift; finish "$@" ;;
  push) t=$1; prepare "$6"; step copy "$2" "$tmp"; finish "$3" "$4" "$5" ;;
  stat) regular "$1"; echo "ok $info" ;;
  pull) regular "$1"; umask 077; step copy "$p" "$2"; echo "ok $info" ;;
  *) fail "unknown operation $op" ;;
esac
`;

/** The command that runs one operation of the script in the guest. */
export const filesCommand = (op: 'prepare' | 'finish' | 'push' | 'stat' | 'pull', ...args: string[]): string[] => ['/bin/sh', '-c', filesScript, 'lodge-files', op, ...args];

/** MODE UID GID as the script takes them: "-" for what is left out (the replaced file's). */
export const ownership = (push: Pick<FilePush, 'mode' | 'uid' | 'gid'>): [string, string, string] => [push.mode?.toString(8) ?? '-', push.uid?.toString() ?? '-', push.gid?.toString() ?? '-'];

/** A name beside `guestPath` for the new file a push writes, that no one in the guest can guess. */
export function tempBeside(guestPath: string): string {
  return `${guestPath.slice(0, guestPath.lastIndexOf('/') + 1)}.lodge-push-${randomBytes(8).toString('hex')}`;
}

/** What the guest said, as one short line: it is the guest's, so cut, without control characters. */
const said = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 300);

/**
 * The script's answer: the file's mode, owner and size; a file the guest cannot give or take
 * is NOT_FOUND or BAD_REQUEST with the guest's reason, anything else ENGINE_FAILED.
 */
export function filesAnswer(result: ExecResult, what: string): GuestFileInfo {
  const m = /^ok ([0-7]{1,6}) (\d{1,10}) (\d{1,10}) (\d{1,19})$/m.exec(result.stdout);
  if (result.exitCode === 0 && m) return { mode: parseInt(m[1]!, 8) & 0o7777, uid: Number(m[2]), gid: Number(m[3]), sizeBytes: Number(m[4]) };
  const why = /^lodge-files: (.*)$/m.exec(result.stderr)?.[1];
  if (result.exitCode === 1 && why) throw new LodgeError(/No such file/.test(why) ? 'NOT_FOUND' : 'BAD_REQUEST', `${what}: ${said(why)}`);
  const stderr = said(result.stderr.split('\n').filter(Boolean).pop() ?? '');
  throw new LodgeError('ENGINE_FAILED', `${what}: the guest's shell ended with status ${result.exitCode}${stderr ? `: ${stderr}` : ''}`);
}
