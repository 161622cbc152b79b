// End to end: branches, tags, switch, reflog recovery, config and shell completion.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { json, shoal, tempDir } from '../helpers.ts';
import { shoalAsync } from '../swarm/swarm-helpers.ts';
import { describe, newRepo } from './repo-helpers.ts';

interface Branch {
  name: string;
  id: string;
  current: boolean;
}

test('branch: list with the current one marked, create at HEAD or a rev, delete', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'one\n');
  const first = r.commit('first');
  r.write('a.txt', 'two\n');
  const second = r.commit('second');
  assert.deepEqual(r.j<Branch[]>(['branch']), [{ name: 'main', id: second, current: true }]);
  r.ok(['branch', 'old', 'HEAD~1']);
  r.ok(['branch', 'feature/x']);
  assert.deepEqual(r.j<Branch[]>(['branch']), [
    { name: 'feature/x', id: second, current: false },
    { name: 'main', id: second, current: true },
    { name: 'old', id: first, current: false },
  ]);
  assert.match(r.ok(['branch']).stdout, /^\* main /m);
  r.fails(['branch', 'old'], 'ALREADY_EXISTS');
  r.fails(['branch', 'new', 'nope'], 'UNKNOWN_REV');
  // old is merged into HEAD (an ancestor), so -d is enough.
  r.ok(['branch', '-d', 'old']);
  r.fails(['branch', '-d', 'old'], 'NOT_FOUND');
  r.fails(['branch', '-d', 'main'], 'CURRENT_BRANCH');
  r.fails(['branch', '-D', 'main'], 'CURRENT_BRANCH');
  assert.deepEqual(
    r.j<Branch[]>(['branch']).map((b) => b.name),
    ['feature/x', 'main'],
  );
});

test('branch and tag names git would reject are refused', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.commit('first');
  const refused = (args: string[]): void => {
    const res = r.run(['--json', ...args]);
    assert.equal(res.status, 1, res.stderr);
    assert.equal(JSON.parse(res.stdout).error.code, 'INVALID_NAME', res.stdout);
  };
  // A name with a leading dash can only be passed after `--`; it is still refused.
  const named = (name: string): string[] => (name.startsWith('-') ? ['--', name] : [name]);
  for (const bad of [
    'has space',
    'a..b',
    '-leading',
    'ends.lock',
    'x~1',
    'a:b',
    'trailing/',
    'HEAD',
    '.hidden',
  ]) {
    refused(['branch', ...named(bad)]);
  }
  for (const bad of ['has space', 'a..b', '-leading']) {
    refused(['tag', ...named(bad)]);
    refused(['switch', '-c', ...named(bad)]);
  }
  assert.equal(r.run(['branch', '-leading']).status, 2); // read as options: misuse
  assert.deepEqual(
    r.j<Branch[]>(['branch']).map((b) => b.name),
    ['main'],
  );
});

test('an unmerged branch needs -D; its last commit stays recoverable through the reflog', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.commit('base');
  r.ok(['switch', '-c', 'experiment']);
  r.write('e.txt', 'experiment\n');
  const tip = r.commit('experiment work');
  r.ok(['switch', 'main']);
  r.fails(['branch', '-d', 'experiment'], 'NOT_MERGED');
  const deleted = r.j<{ deleted: string; id: string }>(['branch', '-D', 'experiment']);
  assert.equal(deleted.id, tip);
  // gc within the grace period keeps it.
  const gc = r.j<{ objectsRemoved: number }>(['gc']);
  assert.equal(gc.objectsRemoved, 0);
  const log = r.j<{ name: string; old: string | null; new: string | null }[]>(['reflog', 'experiment']);
  assert.equal(log[0]!.old, tip);
  assert.equal(log[0]!.new, null);
  // A tag of the same name does not stand in for the deleted branch.
  r.ok(['tag', 'experiment']);
  assert.deepEqual(
    r.j<{ name: string }[]>(['reflog', 'experiment']).map((e) => e.name)[0],
    'refs/heads/experiment',
  );
  r.ok(['tag', '-d', 'experiment']);
  r.ok(['branch', 'experiment', log[0]!.old!]);
  r.ok(['switch', 'experiment']);
  assert.equal(r.read('e.txt').toString(), 'experiment\n');
});

test('reflog finds a deleted tag by its short name, HEAD as the current branch, and names what it cannot find', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  const first = r.commit('first');
  r.ok(['tag', 'v1']);
  r.ok(['tag', '-d', 'v1']);
  type Entry = { name: string; old: string | null; new: string | null };
  for (const name of ['v1', 'tags/v1', 'refs/tags/v1']) {
    const log = r.j<Entry[]>(['reflog', name]);
    assert.deepEqual([log[0]!.name, log[0]!.old, log[0]!.new], ['refs/tags/v1', first, null], name);
  }
  assert.equal(r.j<Entry[]>(['reflog', 'HEAD'])[0]!.name, 'refs/heads/main');
  // A remote-tracking branch's moves are logged too (as a fetch logs them).
  const db = new DatabaseSync(r.path('.shoal/index.db'));
  db.prepare('INSERT INTO reflog (name, old, new, time, message) VALUES (?, NULL, ?, ?, ?)').run(
    'refs/remotes/origin/main',
    Buffer.from(first, 'hex'),
    Date.now(),
    'fetch: test',
  );
  db.close();
  assert.equal(r.j<Entry[]>(['reflog', 'origin/main'])[0]!.name, 'refs/remotes/origin/main');
  // Past the default limit the list says it was cut, and how to see the rest.
  assert.doesNotMatch(r.ok(['reflog']).stderr, /newest/);
  const more = new DatabaseSync(r.path('.shoal/index.db'));
  const put = more.prepare('INSERT INTO reflog (name, old, new, time, message) VALUES (?, NULL, ?, ?, ?)');
  for (let i = 0; i < 100; i++)
    put.run(`refs/tags/t${i}`, Buffer.from(first, 'hex'), Date.now(), 'tag: test');
  more.close();
  const cut = r.ok(['reflog']);
  assert.equal(cut.stdout.trim().split('\n').length, 100);
  assert.match(cut.stderr, /the newest 100 entries; -n <N> shows more/);
  const missing = r.fails(['reflog', 'never-was'], 'NOT_FOUND');
  assert.match(missing.stderr, /no branch or tag 'never-was'/);
  r.ok(['checkout', first]); // detached: HEAD's own log
  assert.match(
    r.ok(['branch']).stdout,
    new RegExp(`^\\* \\(HEAD detached at ${first.slice(0, 12)}\\)\n {2}main `),
  );
  const detached = r.j<Entry[]>(['reflog', 'HEAD']);
  assert.deepEqual([detached[0]!.name, detached[0]!.new], ['HEAD', first]);
});

test('a commit made on a detached HEAD: leaving it is warned about, and reflog HEAD keeps its id', (t) => {
  const r = newRepo(t);
  r.write('f', '1\n');
  r.commit('one');
  r.write('f', '2\n');
  r.commit('two');
  r.ok(['tag', 'v1', 'HEAD~1']);
  r.ok(['checkout', 'v1']);
  r.write('new.txt', 'work\n');
  const work = r.commit('work on a detached HEAD');
  const left = r.ok(['switch', 'main']);
  assert.match(
    left.stderr,
    new RegExp(`^warning: leaving commit ${work.slice(0, 12)} behind: no branch or tag holds it`, 'm'),
  );
  // Found again after the switch: in HEAD's log (git's `reflog`), and in the whole reflog.
  type Entry = { name: string; old: string | null; new: string | null; message: string };
  const head = r.j<Entry[]>(['reflog', 'HEAD']);
  assert.ok(
    head.some((e) => e.name === 'HEAD' && e.new === work && /^commit \(detached HEAD\)/.test(e.message)),
    JSON.stringify(head),
  );
  assert.ok(r.j<Entry[]>(['reflog']).some((e) => e.new === work));
  r.ok(['branch', 'keep', work.slice(0, 12)]);
  // Leaving a detached commit that a ref holds says nothing.
  r.ok(['checkout', 'keep']);
  r.ok(['checkout', 'v1']);
  assert.doesNotMatch(r.ok(['switch', 'main']).stderr, /warning/);
});

test('a name that is both a branch and a tag: the branch is used, with a warning naming the other', (t) => {
  const r = newRepo(t);
  r.write('f', '1\n');
  const one = r.commit('one');
  r.ok(['tag', 'v1']);
  r.write('f', '2\n');
  const two = r.commit('two');
  r.ok(['branch', 'v1']);
  const shown = r.ok(['log', '-n', '1', '--oneline', 'v1']);
  assert.match(shown.stdout, new RegExp(`^${two.slice(0, 12)} `));
  assert.equal(
    shown.stderr,
    "warning: 'v1' names a branch and a tag: the branch is used (refs/tags/v1 for the other)\n",
  );
  // Spelt out, each is reached without a warning.
  const tagged = r.ok(['log', '-n', '1', '--oneline', 'tags/v1']);
  assert.match(tagged.stdout, new RegExp(`^${one.slice(0, 12)} `));
  assert.equal(tagged.stderr, '');
  // A name that stands for one ref says nothing; --json output has no warning either.
  assert.equal(r.ok(['show', 'main']).stderr, '');
  assert.equal(r.run(['show', '--json', 'v1']).stderr, '');
  // A branch called tags/v1 shadows the short spelling; the warning names the tag in full.
  r.ok(['branch', 'tags/v1', two]);
  assert.equal(
    r.ok(['log', '-n', '1', '--oneline', 'tags/v1']).stderr,
    "warning: 'tags/v1' names a branch and a tag: the branch is used (refs/tags/v1 for the other)\n",
  );
  assert.match(
    r.ok(['log', '-n', '1', '--oneline', 'refs/tags/v1']).stdout,
    new RegExp(`^${one.slice(0, 12)} `),
  );
});

test('log of several revisions, or --all, walks their histories together, newest first', (t) => {
  const r = newRepo(t);
  r.write('f', 'base\n');
  const base = r.commit('base');
  r.ok(['switch', '-c', 'side']);
  r.write('f', 'side\n');
  const side = r.commit('on side');
  r.ok(['switch', 'main']);
  r.write('g', 'main\n');
  const main = r.commit('on main');
  r.ok(['tag', 'v0', base]);
  const ids = (args: string[]) => r.j<{ id: string }[]>(['log', ...args]).map((e) => e.id);
  assert.deepEqual(ids([]), [main, base]);
  assert.deepEqual(ids(['main', 'side']), [main, side, base]);
  assert.deepEqual(ids(['--all']), [main, side, base]);
  assert.deepEqual(ids(['--all', '-n', '2']), [main, side]);
  assert.match(r.ok(['log', '--all', '--graph', '--oneline']).stdout, /on side/);
  assert.equal(r.run(['log', '--all', 'side']).status, 2);
});

test('switch: moves the working tree, -c creates, refuses to overwrite local changes', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'main\n');
  r.commit('base');
  r.fails(['switch', 'nope'], 'NOT_FOUND');
  const created = r.j<{ branch: string; created: boolean }>(['switch', '-c', 'feature']);
  assert.deepEqual([created.branch, created.created], ['feature', true]);
  r.write('a.txt', 'feature\n');
  r.write('f.txt', 'only on feature\n');
  r.commit('feature');
  r.ok(['switch', 'main']);
  assert.equal(r.read('a.txt').toString(), 'main\n');
  assert.equal(r.j<{ branch: string }>(['status']).branch, 'main');
  r.fails(['switch', '-c', 'feature'], 'ALREADY_EXISTS');
  assert.match(r.ok(['switch', 'main']).stdout, /^already on 'main'$/m);
  r.ok(['tag', 'v1']);
  assert.match(
    r.fails(['switch', 'v1'], 'NOT_FOUND').stderr,
    /'v1' is a tag; to look at it: shoal checkout v1/,
  );

  r.write('a.txt', 'uncommitted\n');
  const refused = r.fails(['switch', 'feature'], 'DIRTY_WORKTREE');
  assert.deepEqual(JSON.parse(refused.stdout).error.paths, ['a.txt']);
  assert.equal(r.read('a.txt').toString(), 'uncommitted\n');
  assert.equal(r.j<{ branch: string }>(['status']).branch, 'main');
  // An untracked file in the way is at risk too.
  r.ok(['restore', 'a.txt']);
  r.write('f.txt', 'mine\n');
  r.fails(['switch', 'feature'], 'DIRTY_WORKTREE');
  r.ok(['switch', 'feature', '--force']);
  assert.equal(r.read('f.txt').toString(), 'only on feature\n');

  // On an unborn branch, switch -c just renames where the first commit will go.
  const u = newRepo(t);
  u.ok(['switch', '-c', 'trunk']);
  u.write('x.txt', 'x\n');
  u.commit('first');
  assert.deepEqual(
    u.j<Branch[]>(['branch']).map((b) => [b.name, b.current]),
    [['trunk', true]],
  );
});

test('tag: create with and without a message, list, delete', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  const first = r.commit('first');
  r.write('a.txt', 'b\n');
  r.commit('second');
  r.ok(['tag', 'v1', 'HEAD~1', '-m', 'first release']);
  r.ok(['tag', 'latest']);
  const tags = r.j<{ name: string; id: string; message: string | null }[]>(['tag']);
  assert.deepEqual(
    tags.map((x) => [x.name, x.message]),
    [
      ['latest', null],
      ['v1', 'first release'],
    ],
  );
  assert.equal(tags[1]!.id, first);
  r.fails(['tag', 'v1'], 'ALREADY_EXISTS');
  const head = r.j<{ id: string }>(['show']).id;
  assert.equal(
    r.ok(['tag', 'v1', '-f']).stdout,
    `updated tag 'v1' to ${head.slice(0, 12)} (was ${first.slice(0, 12)})\n`,
  );
  assert.match(r.ok(['log', '--oneline', 'v1']).stdout, /second/);
  const again = r.j<{ id: string; previous: string | null }>(['tag', 'v1', '-f', first]);
  assert.deepEqual([again.id, again.previous], [first, head]);
  assert.equal(r.j<{ previous: string | null }>(['tag', 'v2']).previous, null);
  r.ok(['tag', '-d', 'v2']);
  r.ok(['tag', 'v1', '-f']);
  r.ok(['tag', '-d', 'v1']);
  r.fails(['tag', '-d', 'v1'], 'NOT_FOUND');
  assert.deepEqual(
    r.j<{ name: string }[]>(['tag']).map((x) => x.name),
    ['latest'],
  );
});

test('config set and remote add run at once: every setting and every remote is kept', async (t) => {
  const r = newRepo(t);
  const peer = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWMh32kw457skSRfAMRTmkGwNGJQzyos7FCLv5PNZwJGxn';
  const runs = await Promise.all([
    ...Array.from({ length: 8 }, (_, i) =>
      shoalAsync(t, ['config', 'set', `user.k${i}`, `v${i}`], { cwd: r.dir, configDir: r.configDir }),
    ),
    ...Array.from({ length: 6 }, (_, i) =>
      shoalAsync(t, ['remote', 'add', `r${i}`, peer], { cwd: r.dir, configDir: r.configDir }),
    ),
  ]);
  for (const run of runs) assert.equal(run.status, 0, describe(run));
  const config = r.j<Record<string, string>>(['config', 'list']);
  for (let i = 0; i < 8; i++) assert.equal(config[`user.k${i}`], `v${i}`);
  assert.deepEqual(
    r
      .j<{ name: string }[]>(['remote', 'list'])
      .map((x) => x.name)
      .sort(),
    ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'],
  );
});

test('config get, set, unset, list, repository and --global', (t) => {
  const r = newRepo(t);
  r.ok(['config', 'set', 'gc.grace', '7d']);
  assert.equal(r.ok(['config', 'get', 'gc.grace']).stdout, '7d\n');
  assert.deepEqual(r.j(['config', 'get', 'gc.grace']), { key: 'gc.grace', value: '7d' });
  r.ok(['config', 'core.compression', 'none']); // git-style shorthand
  assert.deepEqual(r.j(['config', 'list']), { 'core.compression': 'none', 'gc.grace': '7d' });
  r.ok(['config', 'unset', 'gc.grace']);
  assert.equal(r.run(['config', 'get', 'gc.grace']).status, 1);
  r.fails(['config', 'get', 'gc.grace'], 'NOT_FOUND'); // --json says why
  // The global file holds user.name (set by the test config); the repository falls back to it.
  assert.equal(r.ok(['config', 'get', 'user.name']).stdout, 'Test Author\n');
  r.ok(['config', '--global', 'set', 'user.email', 'a@b']);
  assert.equal(r.ok(['config', 'get', 'user.email']).stdout, 'a@b\n');
  r.ok(['config', 'set', 'user.email', 'local@b']);
  assert.equal(r.ok(['config', 'get', 'user.email']).stdout, 'local@b\n');
  assert.equal(r.run(['config', 'get', 'nodots']).status, 2);
  // A configured grace period is what gc uses.
  r.ok(['config', 'set', 'gc.grace', '3h']);
  assert.equal(r.j<{ graceMs: number }>(['gc', '--dry-run']).graceMs, 3 * 3_600_000);
  r.ok(['config', 'set', 'gc.grace', 'whenever']);
  r.fails(['gc'], 'INVALID_ARGUMENT');
  // Section and name are case-insensitive, as in git: the setting is the one the tool reads.
  r.ok(['config', 'set', 'Transfer.Max-Download', '12X']);
  assert.equal(r.ok(['config', 'get', 'transfer.max-download']).stdout, '12X\n');
  const bad = r.fails(['fetch', 'nowhere'], 'INVALID_ARGUMENT');
  assert.match(bad.stderr, /transfer\.max-download/);
  r.ok(['config', 'unset', 'TRANSFER.max-download']);
  // What lies between them (a remote's name) keeps its case.
  r.ok(['config', 'set', 'Remote.Origin.URL', 'x']);
  assert.equal(r.j<Record<string, string>>(['config', 'list'])['remote.Origin.url'], 'x');
  assert.equal(r.run(['config', 'get', 'remote.origin.url']).status, 1);
  // A key stored in another case (by hand, or before keys were folded) is still the setting.
  r.ok(['config', 'unset', 'gc.grace']);
  const file = join(r.dir, '.shoal', 'config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), 'GC.Grace': 'soon' }));
  assert.equal(r.ok(['config', 'get', 'gc.grace']).stdout, 'soon\n');
  r.fails(['gc'], 'INVALID_ARGUMENT');
});

test('completion scripts: commands, options, and branch and tag names', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.commit('first');
  r.ok(['branch', 'topic']);
  r.ok(['tag', 'v9']);
  assert.deepEqual(r.ok(['completion', 'refs']).stdout.split('\n').filter(Boolean).sort(), [
    'main',
    'topic',
    'v9',
  ]);
  /** A repository in a directory named `name`, with one commit and a branch only it has. */
  const repoWithBranch = (name: string, branch: string) => {
    const dir = join(tempDir(t), name);
    mkdirSync(dir);
    const repo = newRepo(t, { dir });
    repo.write('f.txt', `${name}\n`);
    repo.commit('first');
    repo.ok(['branch', branch]);
    return repo;
  };
  // A repository at a path with a space, named as typed: quoted, or with a backslash.
  const spaced = repoWithBranch('my repo', 'spaced-only');
  // A directory whose name ends in C, which a bundle pattern (-qC) would also match.
  const other = repoWithBranch('repoC', 'only-there');
  const bash = r.ok(['completion', 'bash']).stdout;
  for (const word of [
    'merge',
    'switch',
    'gc',
    '--prune',
    '--dry-run',
    '--continue',
    '--cached',
    'completion refs',
  ])
    assert.ok(bash.includes(word), `bash script lacks ${word}`);
  const check = spawnSync('bash', ['-n'], { input: bash });
  assert.equal(check.status, 0, check.stderr.toString());

  // Drive the bash function as bash would on `shoal sw<TAB>` and `shoal switch t<TAB>`.
  const script = join(r.dir, 'complete.sh');
  const shoalBin = join(import.meta.dirname, '..', '..', 'bin', 'shoal.js');
  const complete = (line: string, cword: number): string =>
    `COMP_WORDS=(${line}); COMP_CWORD=${cword}; _shoal; echo "\${COMPREPLY[*]}"`;
  writeFileSync(
    script,
    [
      bash,
      `shoal() { "${process.execPath}" "${shoalBin}" "$@"; }`,
      complete('shoal sw', 1),
      complete('shoal switch t', 2),
      complete('shoal gc --p', 2),
      complete(`shoal -C ${other.dir} switch o`, 4), // branches of the repository -C names
      complete('shoal log --j', 2), // offered once, though both log and every command take it
      complete(`shoal -qC ${other.dir} switch o`, 4), // -C at the end of a bundle
      complete(`shoal -C${other.dir} switch o`, 3), // -C<dir> in one word
      complete('shoal -C \\~/repoC switch o', 4), // a ~ the shell has not expanded yet
      complete(`shoal -C '"${spaced.dir}"' switch s`, 4), // the word holds its quotes
      complete(`shoal -C '${spaced.dir.replace(' ', '\\ ')}' switch s`, 4),
      '',
    ].join('\n'),
  );
  const run = spawnSync('bash', [script], {
    cwd: r.dir,
    env: { ...process.env, SHOAL_CONFIG_DIR: r.configDir, HOME: dirname(other.dir) },
  });
  assert.equal(run.status, 0, run.stderr.toString());
  assert.deepEqual(run.stdout.toString().trim().split('\n'), [
    'switch',
    'topic',
    '--prune',
    'only-there',
    '--json',
    'only-there',
    'only-there',
    'only-there',
    'spaced-only',
    'spaced-only',
  ]);
  assert.doesNotMatch(bash, /ready-fd/, 'an internal option, not in the usage line, is not offered');

  const zsh = r.ok(['completion', 'zsh']).stdout;
  assert.match(zsh, /^#compdef shoal/);
  assert.ok(zsh.includes("'merge:merge another branch into the current one'"));
  if (spawnSync('zsh', ['-c', 'true']).status === 0) {
    // Drive the zsh function with the completion system's builtins replaced by ones that print.
    const zshScript = join(r.dir, 'complete.zsh');
    const zcomplete = (words: string, current: number): string =>
      `words=(${words}); CURRENT=${current}; _shoal; echo`;
    writeFileSync(
      zshScript,
      [
        zsh,
        'compadd() { [[ "$1" == -- ]] && shift; print -rn -- "$* "; }',
        '_describe() { print -rn -- "commands "; }',
        '_files() { :; }',
        `shoal() { "${process.execPath}" "${shoalBin}" "$@"; }`,
        zcomplete('shoal sw', 2),
        zcomplete('shoal switch t', 3),
        zcomplete(`shoal -C ${other.dir} switch o`, 5),
        zcomplete(`shoal -qC${other.dir} switch o`, 4),
        zcomplete("shoal -C '~/repoC' switch o", 5),
        zcomplete(`shoal -C '"${spaced.dir}"' switch s`, 5),
        // a user's own option, with nothing left in $match by the calls before
        `(setopt bash_rematch; unset match; ${zcomplete(`shoal -C${other.dir} switch o`, 4)})`,
        '',
      ].join('\n'),
    );
    const zrun = spawnSync('zsh', [zshScript], {
      cwd: r.dir,
      env: { ...process.env, SHOAL_CONFIG_DIR: r.configDir, HOME: dirname(other.dir) },
    });
    assert.equal(zrun.status, 0, zrun.stderr.toString());
    const lines = zrun.stdout.toString().trim().split('\n');
    assert.match(lines[0]!, /^commands /);
    assert.deepEqual(
      lines.slice(1).map((l) => l.trim()),
      [
        'main topic v9',
        'main only-there',
        'main only-there',
        'main only-there',
        'main spaced-only',
        'main only-there',
      ],
    );
  } else t.diagnostic('zsh is not installed: its completion script was not run');
  const fish = r.ok(['completion', 'fish']).stdout;
  assert.ok(fish.includes("complete -c shoal -n '__fish_seen_subcommand_from merge' -l abort"));
  assert.ok(fish.includes('(shoal completion refs 2>/dev/null)'));
  assert.equal(r.run(['completion', 'tcsh']).status, 2);
});

test('a switch goes ahead over tracked files deleted from the working tree, as in git', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a on main\n');
  repo.write('b.txt', 'b on main\n');
  repo.write('c.txt', 'c\n');
  repo.commit('main');
  repo.ok(['switch', '-c', 'other']);
  repo.write('a.txt', 'a on other\n');
  rmSync(repo.path('b.txt'));
  repo.commit('other');
  repo.ok(['switch', 'main']);
  // Deleted by hand (not staged): nothing of the user's is lost by moving on. This is also what
  // an interrupted switch leaves behind, and running it again must complete it.
  rmSync(repo.path('a.txt'));
  rmSync(repo.path('b.txt'));
  repo.ok(['switch', 'other']);
  assert.equal(repo.read('a.txt').toString(), 'a on other\n');
  assert.equal(existsSync(repo.path('b.txt')), false);
  const st = repo.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // A modified file still stops it.
  repo.write('a.txt', 'local edit\n');
  repo.fails(['switch', 'main'], 'DIRTY_WORKTREE');
  assert.equal(repo.read('a.txt').toString(), 'local edit\n');
});

test('a switch from a tracked symlink to a directory of the same name does not look through the symlink', (t) => {
  const repo = newRepo(t);
  repo.write('real/x', 'x in real\n');
  symlinkSync('real', repo.path('d'));
  repo.commit('symlink');
  repo.ok(['switch', '-c', 'dir']);
  rmSync(repo.path('d'));
  repo.write('d/x', 'x in d\n');
  repo.commit('directory');
  repo.ok(['switch', 'main']);
  assert.equal(readlinkSync(repo.path('d')), 'real');
  // real/x shows through d as d/x: it is no local change of d/x, and the tree is clean.
  repo.ok(['switch', 'dir']);
  assert.ok(lstatSync(repo.path('d')).isDirectory());
  assert.equal(repo.read('d/x').toString(), 'x in d\n');
  assert.equal(repo.read('real/x').toString(), 'x in real\n');
  repo.ok(['switch', 'main']);
  assert.equal(readlinkSync(repo.path('d')), 'real');
  // A symlink retargeted by hand is a local change, though, and still stops the switch.
  rmSync(repo.path('d'));
  symlinkSync('elsewhere', repo.path('d'));
  const refused = repo.fails(['switch', 'dir'], 'DIRTY_WORKTREE');
  assert.deepEqual(JSON.parse(refused.stdout).error.paths, ['d']);
  assert.equal(readlinkSync(repo.path('d')), 'elsewhere');
});

test('a switch that rewrites 20,000 files, a diff and a merge of them, run in a heap too small to hold them all', (t) => {
  const repo = newRepo(t);
  const writeAll = (tag: string): void => {
    for (let i = 0; i < 20_000; i++) {
      if (i < 100) mkdirSync(repo.path(`d${i}`), { recursive: true });
      writeFileSync(repo.path(`d${i % 100}/f${i}`), `${tag} ${i}\n`);
    }
  };
  /** shoal <args> --json with V8's old space limited to `mib`: it fails if memory grows with the files. */
  const inHeap = <T>(mib: number, args: string[]): T => {
    const r = shoal([...args, '--json'], {
      cwd: repo.dir,
      configDir: repo.configDir,
      env: { NODE_OPTIONS: `--max-old-space-size=${mib}` },
    });
    assert.equal(r.status, 0, describe(r));
    return json<T>(r);
  };
  writeAll('one');
  repo.commit('one');
  repo.ok(['switch', '-c', 'two']);
  writeAll('two');
  repo.commit('two');
  // A switch streams the two trees and the index in path order. Holding maps of every path, as
  // it once did, it needed a heap of over 32 MiB for these files; streaming, under 16 MiB.
  assert.equal(inHeap<{ written: string[] }>(24, ['switch', 'main']).written.length, 20_000);
  for (const i of [0, 9_999, 19_999]) assert.equal(repo.read(`d${i % 100}/f${i}`).toString(), `one ${i}\n`);
  const st = repo.j<{ branch: string; staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>([
    'status',
  ]);
  assert.deepEqual([st.branch, st.staged, st.unstaged, st.untracked], ['main', [], [], []]);
  // diff streams its two ends the same way (with maps of both it needed over 24 MiB; now 10).
  assert.deepEqual(inHeap<{ files: unknown[] }>(20, ['diff', 'HEAD', '--stat']).files, []);
  // A three-way merge holds what the two sides changed, not every path of the three commits.
  repo.ok(['switch', '-c', 'side']);
  repo.write('d1/f1', 'side\n');
  repo.commit('side');
  repo.ok(['switch', 'main']);
  repo.write('d2/f2', 'main\n');
  repo.commit('main');
  assert.equal(inHeap<{ outcome: string }>(20, ['merge', 'side']).outcome, 'merged');
  assert.equal(repo.read('d1/f1').toString(), 'side\n');
  assert.equal(repo.read('d2/f2').toString(), 'main\n');
});
