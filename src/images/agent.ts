/**
 * @module lodge-agent: the guest side of `lodge exec` in paravirtual guests, put into
 * Lodge's images. lodged leaves a request as a shell script (and its input) in a
 * directory the guest reads through hostfs; the agent runs it and leaves the output and
 * exit code in a directory the guest may write. Plain POSIX sh: busybox and Debian alike.
 */

/** Where the agent finds its exchange directory inside a guest. */
export const agentMount = '/run/lodge-agent';

export const agentScript = `#!/bin/sh
# lodge-agent: runs the commands lodged leaves in ${agentMount}/requests (pv guests only)
dir=${agentMount}
mkdir -p "$dir"
mount -t hostfs -o rw none "$dir" || exit 1
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
  sleep 0.1
done
`;
