/**
 * File names of recorded command outputs under DIR/commands/ (the `--root` and `dump` format).
 *
 * One command line gives one base name: each argv element percent-encoded (every byte outside
 * [A-Za-z0-9.-] becomes %XX), elements joined with '_'. `nvidia-smi -q -x` → `nvidia-smi_-q_-x`,
 * `ethtool -i eth0` → `ethtool_-i_eth0`. Files: `<base>.stdout` (the output; its absence means the
 * tool is not installed), `<base>.exit` (exit code as decimal text, absent = 0, or the word
 * `timeout` to replay a hang), `<base>.stderr` (optional).
 */
export function commandBaseName(argv: readonly string[]): string {
  return argv
    .map((a) =>
      Array.from(Buffer.from(a, 'utf8'), (b) =>
        /[A-Za-z0-9.-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
      ).join(''),
    )
    .join('_');
}

export const COMMANDS_DIR = 'commands';
export const SYSINFO_DIR = 'sysinfo';
