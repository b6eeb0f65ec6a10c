/**
 * @module lodge-agent: the guest side of `lodge exec` in paravirtual guests, put into
 * Lodge's images. lodged leaves a request as a shell script (and its input) in a
 * directory the guest reads through hostfs; the agent runs it and leaves the output and
 * exit code in a directory the guest may write. Plain POSIX sh: busybox and Debian alike.
 * Between looks it waits without starting a process: every fork costs a UML guest dearly
 * (a `sleep` ten times a second kept an idle guest at a few % of a core), so where the shell
 * has `read -t` (busybox ash, bash: Debian runs it with bash) it waits for a line that never
 * comes on a FIFO of its own; only a shell without it (dash) falls back to `sleep`.
 */

/** Where the agent finds its exchange directory inside a guest. */
export const agentMount = '/run/lodge-agent';

/** How long the agent waits between looks for a request: half of it, on average, is what an exec waits to be taken. */
const pauseSeconds = 0.05;

export const agentScript = `#!/bin/sh
# lodge-agent: runs the commands lodged leaves in ${agentMount}/requests (pv guests only)
dir=${agentMount}
mkdir -p "$dir"
mount -t hostfs -o rw none "$dir" || exit 1
# a FIFO held open for reading and writing: a read on it waits its whole timeout
idle=/run/lodge-agent.idle
pause() { sleep ${pauseSeconds}; }
rm -f "$idle"
if mkfifo "$idle" 2>/dev/null; then
  exec 3<>"$idle"
  case "$(readlink /proc/$$/exe)" in
    *busybox|*bash) pause() { read -t ${pauseSeconds} _ <&3; } ;;
  esac
fi
while true; do
  for req in "$dir"/requests/*.sh; do
    [ -e "$req" ] || continue
    id=\${req##*/}; id=\${id%.sh}
    out="$dir/responses/$id"
    [ -e "$out.taken" ] && continue
    : > "$out.taken"
    (
      input="$dir/requests/$id.in"; [ -e "$input" ] || input=/dev/null
      sh "$req" < "$input" > "$out.out" 2> "$out.err"
      echo $? > "$out.code"
      mv "$out.code" "$out.exit"
    ) &
  done
  pause
done
`;
