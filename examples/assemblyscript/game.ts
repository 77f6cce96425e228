// An AssemblyScript module for the compiler tests (__test__/compilers.test.js):
// classes, arrays, a Map, strings (UTF-16 in the guest's memory, printed by
// the host), float math and the incremental garbage collector, with imports
// from two modules. Built by build.sh.

@external("env", "print")
declare function print(s: string): void

@external("game", "sense")
declare function sense(x: f64, y: f64): i32

class Robot {
  constructor(public x: f64, public y: f64, public energy: i32) {}

  step(dx: f64, dy: f64): void {
    this.x += dx
    this.y += dy
    this.energy -= 1
  }
}

export function entry(): void {
  const robots = new Array<Robot>()
  for (let i = 0; i < 50; i++) robots.push(new Robot(<f64>i, <f64>(i * 2), 1000))
  const seen = new Map<i32, i32>()
  let total: i64 = 0
  for (let t = 0; t < 400; t++) {
    for (let i = 0; i < robots.length; i++) {
      const r = robots[i]
      const s = sense(r.x, r.y)
      seen.set(s, seen.has(s) ? seen.get(s) + 1 : 1)
      r.step(Math.sin(<f64>t) * 0.5, Math.cos(<f64>(t + i)) * 0.5)
      total += <i64>s
    }
    if (t % 100 == 0) print("tick " + t.toString() + " total " + total.toString() + " keys " + seen.size.toString())
  }
  const keys = seen.keys()
  keys.sort()
  let line = "done " + total.toString() + " " + robots[7].x.toString() + " keys:"
  for (let k = 0; k < keys.length && k < 8; k++) line += " " + keys[k].toString() + "=" + seen.get(keys[k]).toString()
  print(line)
}

/** A failed assertion: AssemblyScript calls the `env.abort` import. */
export function fail(): void {
  const robot = new Robot(1, 2, 3)
  robot.step(0.5, 0.5)
  assert(robot.energy > 5, "robot out of energy")
}
