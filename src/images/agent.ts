/**
 * @module lodge-agent: the guest side of `lodge exec` in paravirtual guests, put into
 * Lodge's images. lodged leaves a request as a shell script (and its input) in a
 * directory the guest reads through hostfs; the agent runs it and leaves the output and
 * exit code in a directory the guest may write. Plain POSIX sh: busybox and Debian alike.
 * Between looks it waits without starting a process: every fork costs a UML guest dearly
 * (a `sleep` ten times a second kept an idle guest at a few % of a core), so where the shell
 * has `read -t` (busybox ash, bash: Debian runs it with bash) it waits for a line that never
 * comes on a FIFO of its own; only a shell without it (dash) falls back to `sleep`. Each look
 * still wakes the guest's kernel (3 % of a core at 20 a second here), so it looks quickly only
 * for a few seconds after a request and then twice a second: lodge exec and the API's exec go
 * through lodge-execd where the image has it, leaving the agent file copies and older images.
 */

/** Where the agent finds its exchange directory inside a guest. */
export const agentMount = '/run/lodge-agent';

/** How long the agent waits between looks for a request: half of it, on average, is what a request waits to be taken. */
const pauseSeconds = 0.05;
/** How long it waits once it has seen no request for `quickLooks` looks (5 s). */
const idlePauseSeconds = 0.5;
const quickLooks = 100;

export const agentScript = `#!/bin/sh
# lodge-agent: runs the commands lodged leaves in ${agentMount}/requests (pv guests only)
dir=${agentMount}
mkdir -p "$dir"
mount -t hostfs -o rw none "$dir" || exit 1
# a FIFO held open for reading and writing: a read on it waits its whole timeout
idle=/run/lodge-agent.idle
pause() { sleep "$1"; }
rm -f "$idle"
if mkfifo "$idle" 2>/dev/null; then
  exec 3<>"$idle"
  case "$(readlink /proc/$$/exe)" in
    *busybox|*bash) pause() { read -t "$1" _ <&3; } ;;
  esac
fi
looks=0
while true; do
  for req in "$dir"/requests/*.sh; do
    [ -e "$req" ] || continue
    id=\${req##*/}; id=\${id%.sh}
    out="$dir/responses/$id"
    [ -e "$out.taken" ] && continue
    looks=0
    : > "$out.taken"
    (
      input="$dir/requests/$id.in"; [ -e "$input" ] || input=/dev/null
      sh "$req" < "$input" > "$out.out" 2> "$out.err"
      echo $? > "$out.code"
      mv "$out.code" "$out.exit"
    ) &
  done
  looks=$((looks + 1))
  if [ "$looks" -gt ${quickLooks} ]; then pause ${idlePauseSeconds}; else pause ${pauseSeconds}; fi
done
`;
