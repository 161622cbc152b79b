// Completes package-lock.json with the optional per-platform packages (biome, blake-hash, ...)
// that npm leaves out when its registry serves only this platform's builds: `npm ci` checks
// that every optional dependency has an entry, and skips the ones whose os/cpu do not match.
// Run it after `npm install` changes the lockfile: node scripts/complete-lockfile.mjs package-lock.json
import fs from 'node:fs';

const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const osOf = (n) => ['darwin', 'linux', 'win32', 'android', 'freebsd'].find((o) => n.includes(o));
const cpuOf = (n) =>
  n.includes('arm64')
    ? 'arm64'
    : n.includes('x64')
      ? 'x64'
      : n.includes('ia32')
        ? 'ia32'
        : n.includes('-arm-') || n.includes('arm-gnueabihf')
          ? 'arm'
          : undefined;
let added = 0;
for (const entry of Object.values(pkgs)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (pkgs[key]) continue;
    const os = osOf(dep);
    const cpu = cpuOf(dep);
    const libc = dep.includes('musl')
      ? ['musl']
      : dep.includes('gnu') && os === 'linux'
        ? ['glibc']
        : undefined;
    pkgs[key] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(libc ? { libc } : {}),
      ...(os ? { os: [os] } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log('added', added);
