// shoal completion bash|zsh|fish: a shell completion script for commands, their options, and
// branch and tag names. The command list and options come from the commands table and each
// command's options, so the scripts follow the CLI as it grows. `shoal completion refs`
// (plumbing, used by the scripts) prints the branch and tag names of the current repository.

import { Repository } from '../../store/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { type Command, commands } from '../main.ts';

const USAGE = 'shoal completion (bash | zsh | fish)';
const GLOBAL_OPTIONS = ['--json', '-q', '--quiet', '-C', '-h', '--help'];

interface Spec {
  name: string;
  summary: string;
  options: string[];
  refs: boolean;
  files: boolean;
}

async function specs(): Promise<Spec[]> {
  const out: Spec[] = [];
  for (const [name, load] of Object.entries(commands)) {
    const { command } = await load();
    const text = command.usage;
    // The options the usage line shows: one it leaves out is internal (daemon --ready-fd).
    const shown = (flag: string): boolean => new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(text);
    const options: string[] = [];
    for (const [long, o] of Object.entries(command.options)) {
      const forms = [`--${long}`, ...(o.short ? [`-${o.short}`] : [])];
      if (forms.some(shown)) options.push(...forms);
    }
    out.push({
      name,
      summary: command.summary,
      options,
      refs: /<(rev|branch|new-branch|start|name|branch or ref)>/.test(text) || /<rev>:/.test(text),
      files: /<(path|source|destination|dir)>/.test(text),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

function bash(list: Spec[]): string {
  const cases = list.map((s) => `    ${s.name}) opts=${quote(s.options.join(' '))} ;;`).join('\n');
  const refCmds = list
    .filter((s) => s.refs)
    .map((s) => s.name)
    .join('|');
  return `# shoal completion for bash. Load it with:  source <(shoal completion bash)
_shoal() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" opts="" dir="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    # Before the command only -q, -h and -C can be bundled: -C <dir>, -qC <dir>, -C<dir>, -qC<dir>.
    # A pattern match would take -C/some/dirC for a bundle ending in C.
    if [[ "\${COMP_WORDS[i]}" =~ ^-[qh]*C$ ]]; then ((i++)); dir="\${COMP_WORDS[i]}"
    elif [[ "\${COMP_WORDS[i]}" =~ ^-[qh]*C(.+)$ ]]; then dir="\${BASH_REMATCH[1]}"
    elif [[ "\${COMP_WORDS[i]}" != -* ]]; then cmd="\${COMP_WORDS[i]}"; break
    fi
  done
  # The word as typed: its quotes and backslashes taken off (never eval'd, which would run what
  # it holds), and a leading ~ expanded, as the shell will do.
  if [[ "$dir" == \\"*\\" || "$dir" == \\'*\\' ]]; then dir="\${dir:1:\${#dir}-2}"; else dir="\${dir//\\\\/}"; fi
  [[ "$dir" == '~' || "$dir" == '~/'* ]] && dir="$HOME\${dir:1}"
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W ${quote([...list.map((s) => s.name), ...GLOBAL_OPTIONS].join(' '))} -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts ${GLOBAL_OPTIONS.join(' ')}" -- "$cur"))
    return
  fi
  case "$cmd" in
    completion) COMPREPLY=($(compgen -W 'bash zsh fish' -- "$cur")) ;;
    ${refCmds}) COMPREPLY=($(compgen -W "$(shoal \${dir:+"-C$dir"} completion refs 2>/dev/null)" -- "$cur")) ;;
  esac
}
complete -o default -o bashdefault -F _shoal shoal
`;
}

function zsh(list: Spec[]): string {
  const described = list.map((s) => `    ${quote(`${s.name}:${s.summary.replace(/:/g, '\\:')}`)}`).join('\n');
  const cases = list.map((s) => `    ${s.name}) opts=(${s.options.map(quote).join(' ')}) ;;`).join('\n');
  const refCmds = list
    .filter((s) => s.refs)
    .map((s) => s.name)
    .join('|');
  return `#compdef shoal
# shoal completion for zsh. Load it with:  source <(shoal completion zsh)
# or save it as _shoal in a directory of $fpath.
_shoal() {
  setopt localoptions no_bash_rematch # the regex groups below are read from $match
  local -a cmds opts
  cmds=(
${described}
  )
  local i cmd="" dir=""
  for ((i = 2; i < CURRENT; i++)); do
    if [[ "\${words[i]}" =~ '^-[qh]*C$' ]]; then ((i++)); dir="\${words[i]}"
    elif [[ "\${words[i]}" =~ '^-[qh]*C(.+)$' ]]; then dir="\${match[1]}"
    elif [[ "\${words[i]}" != -* ]]; then cmd="\${words[i]}"; break
    fi
  done
  dir="\${(Q)dir}" # the word as typed, unquoted
  [[ "$dir" == '~' || "$dir" == '~/'* ]] && dir="$HOME\${dir:1}"
  if [[ -z "$cmd" ]]; then
    _describe 'command' cmds
    compadd -- ${GLOBAL_OPTIONS.join(' ')}
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$PREFIX" == -* ]]; then
    compadd -- $opts ${GLOBAL_OPTIONS.join(' ')}
    return
  fi
  case "$cmd" in
    completion) compadd -- bash zsh fish ;;
    ${refCmds}) compadd -- \${(f)"$(shoal \${dir:+"-C$dir"} completion refs 2>/dev/null)"}; _files ;;
    *) _files ;;
  esac
}
if [[ "\${funcstack[1]}" == "_shoal" ]]; then _shoal "$@"; else compdef _shoal shoal; fi
`;
}

function fish(list: Spec[]): string {
  const lines = [
    '# shoal completion for fish. Load it with:  shoal completion fish | source',
    'complete -c shoal -f',
    "complete -c shoal -s C -r -F -d 'run as if started in this directory'",
    "complete -c shoal -l json -d 'machine-readable output'",
    "complete -c shoal -s q -l quiet -d 'print less'",
  ];
  for (const s of list) {
    lines.push(`complete -c shoal -n __fish_use_subcommand -a ${s.name} -d ${quote(s.summary)}`);
    for (const o of s.options) {
      if (GLOBAL_OPTIONS.includes(o)) continue;
      const flag = o.startsWith('--') ? `-l ${o.slice(2)}` : `-s ${o.slice(1)}`;
      lines.push(`complete -c shoal -n '__fish_seen_subcommand_from ${s.name}' ${flag}`);
    }
    if (s.refs) {
      lines.push(
        `complete -c shoal -n '__fish_seen_subcommand_from ${s.name}' -a '(shoal completion refs 2>/dev/null)'`,
      );
    }
    if (s.files) lines.push(`complete -c shoal -n '__fish_seen_subcommand_from ${s.name}' -F`);
  }
  lines.push("complete -c shoal -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'");
  return `${lines.join('\n')}\n`;
}

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: 'print a shell completion script (bash, zsh or fish)',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  async run(ctx: Context, args: string[]) {
    const { positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length !== 1) usage(USAGE);
    const shell = positionals[0]!;
    if (shell === 'refs') {
      let repo: Repository;
      try {
        repo = Repository.open(ctx.cwd);
      } catch {
        return 0; // not in a repository: nothing to offer
      }
      try {
        const names = repo.refs.list('refs/').map((r) => r.name.replace(/^refs\/(heads|tags)\//, ''));
        for (const n of new Set(names)) ctx.out(n);
      } finally {
        repo.close();
      }
      return 0;
    }
    const list = await specs();
    const make = { bash, zsh, fish }[shell];
    if (!make) usage(USAGE);
    ctx.out(make(list).replace(/\n$/, ''));
    return 0;
  },
};
