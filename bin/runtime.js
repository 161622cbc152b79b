// How Node runs each shoal command: V8 heap flags and malloc settings, chosen by what the
// command does. bin/shoal.js applies them by re-executing Node; bench/net-raw.ts gives its
// sender and receiver those of a seeder and a downloader, so that its ceiling is measured
// on the same runtime. Plain JavaScript: the entry point loads it on any Node.

// Commands that stream large files allocate buffers that die young; with V8's default young
// generation their garbage piles up as resident memory. These commands run with a small young
// generation: 1 MiB, which first took a 4 GiB clone's peak RSS from 394 MB to 311 MB at the
// same speed, and stays the choice for local commands.
const LOCAL = ['add', 'checkout', 'switch', 'restore', 'merge', 'cat', 'fsck', 'gc'];
const LOCAL_YOUNG_GENERATION = '--max-semi-space-size=1';
// Transfers size it by role. Their major GCs come from the chunk buffers' memory outside the
// heap: V8 starts one whenever that grows by 64 MB. Too small a young generation promotes the
// buffers still in flight, and only a major GC frees them; too large a one scavenges so rarely
// that dead buffers pass the 64 MB first. A seeder's major GCs in a 1 GiB clone: 47 at 1 MiB,
// 4 at 4 MiB, 32 at 8 MiB. By hand, alternating, the same clone from a seeder at 4 MiB:
// 323-350 MB/s against 292-311 at 1 MiB, seeder CPU 2.0-2.2 s against 2.7-2.8 s, its peak RSS
// 173-216 MiB against 204-217. A downloader does best at 2 MiB: at 4 its peak RSS in a 4 GiB
// clone reached 289-299 MiB, over the 286 MiB (300 MB) it must stay under; at 2, 264-268 MiB
// (260-283 at 1), and 18-19 major GCs in a 1 GiB clone fell to 4-9. A seeder without an
// upload limit has since read what it sends into memory it reuses (src/net/send-buffers.ts),
// and ran 1 major GC in a 1 GiB clone; its young generation then went to 2 MiB as well. By hand,
// alternating, eight 1 GiB clones each: 393-436 MB/s against 360-421 at 4 MiB, the seeder's
// CPU 1.77-1.93 s against 1.83-2.33 s, its peak RSS 136-139 MiB against 145-162. A daemon
// serves, and fetches only what is pushed to it. `demo` runs its peers as processes of their
// own, each on the runtime of its command, and needs none itself.
const SERVING = ['serve', 'daemon', 'push'];
const SERVING_YOUNG_GENERATION = '--max-semi-space-size=2';
const FETCHING = ['clone', 'fetch', 'pull'];
const FETCHING_YOUNG_GENERATION = '--max-semi-space-size=2';
// Transfers also start with room in the old generation. With the small young generation, the
// chunk buffers a transfer holds in flight are promoted, and V8 starts a major GC whenever they
// approach the old generation's limit, which it first sets just above the live heap (about
// 20 MB): a seeder ran one every 75 ms. A 1 GiB clone by hand: 46 -> 20 major GCs in the
// seeder, transfer 4.98-5.35 s -> 4.14-4.54 s, peak RSS of a 4 GiB clone unchanged (270 MiB).
// Local commands do without it: it raised their peak RSS by up to 24 MB (add of 4 GiB: 254 ->
// 277 MiB, near the 286 MiB bound) for little speed (add of 1 GiB: 1.61-1.78 s -> 1.55-1.75 s).
const OLD_GENERATION = '--initial-old-space-size=64';
// And with at most two malloc arenas (glibc makes up to eight per core, and the thread pool's
// threads each take one for what they allocate): peak RSS of a 4 GiB clone, seven runs each
// alternating by hand, 251-269 MiB with two against 255-290 MiB without, at the same speed. A
// value the user set is kept; other C libraries ignore the variable.
const MALLOC_ARENAS = 2;
// A downloader also takes blocks of 128 KiB and more from mmap, each given back when freed,
// rather than from the malloc heap, where the holes they leave among the smaller buffers
// Noise and yamux allocate keep the heap from shrinking (glibc would otherwise raise this
// threshold up to 32 MiB as such blocks are freed). Peak RSS of a 4 GiB clone, eight runs each
// alternating by hand: 248-276 MiB with it, 255-292 MiB without, at the same speed. 64 KiB:
// 269-292 MiB in three runs; 32 KiB: 243-262 MiB in two, and a slower clone.
const MMAP_THRESHOLD = 128 * 1024;

// The options named in Node arguments, normalized as Node reads them (`--max_semi_space_size=8`
// is `--max-semi-space-size`).
function optionNames(args) {
  return new Set(args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0].replaceAll('_', '-')));
}

/**
 * The Node flags `command` runs with, and the variables its environment gains. What the caller
 * already chose stays: a value in its environment, and an option it gave Node, in `nodeArgs`
 * (the process's own, say) or in NODE_OPTIONS. So a process already on its runtime has no flags
 * to add and no variable to change.
 */
export function runtimeFor(command, env = process.env, nodeArgs = []) {
  const given = optionNames([...nodeArgs, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]);
  const { flags, env: vars } = chosenFor(command, env);
  return { flags: flags.filter((f) => !given.has(f.split('=')[0])), env: vars };
}

function chosenFor(command, env) {
  const arenas = { MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? String(MALLOC_ARENAS) };
  if (SERVING.includes(command)) return { flags: [SERVING_YOUNG_GENERATION, OLD_GENERATION], env: arenas };
  if (FETCHING.includes(command)) {
    const threshold = env.MALLOC_MMAP_THRESHOLD_ ?? String(MMAP_THRESHOLD);
    return {
      flags: [FETCHING_YOUNG_GENERATION, OLD_GENERATION],
      env: { ...arenas, MALLOC_MMAP_THRESHOLD_: threshold },
    };
  }
  if (LOCAL.includes(command)) return { flags: [LOCAL_YOUNG_GENERATION], env: {} };
  return { flags: [], env: {} };
}
