//! A Rust program for the WASI tests: the standard library's collections,
//! formatting, trait objects, 128-bit and float arithmetic, stdin, args,
//! environment, exit codes, panics and allocation failure. Built by
//! `build-rust.sh`, which also runs it natively to record what it prints.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, Write};

trait Shape {
    fn area(&self) -> f64;
    fn name(&self) -> String;
}

struct Circle(f64);
struct Rect(f64, f64);

impl Shape for Circle {
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.0 * self.0
    }
    fn name(&self) -> String {
        format!("circle r={:.3}", self.0)
    }
}

impl Shape for Rect {
    fn area(&self) -> f64 {
        self.0 * self.1
    }
    fn name(&self) -> String {
        format!("rect {}x{}", self.0, self.1)
    }
}

/// Steps of the Collatz sequence from `n` to 1, memoized.
fn collatz(n: u64, memo: &mut HashMap<u64, u32>) -> u32 {
    let mut path = Vec::new();
    let mut m = n;
    let mut tail = 0;
    while m != 1 {
        if let Some(&k) = memo.get(&m) {
            tail = k;
            break;
        }
        path.push(m);
        m = if m % 2 == 0 { m / 2 } else { 3 * m + 1 };
    }
    let total = tail + path.len() as u32;
    for (i, p) in path.iter().enumerate() {
        memo.insert(*p, total - i as u32);
    }
    total
}

/// Shortest path lengths from 0 in a graph of `n` nodes (breadth first).
fn bfs(n: usize) -> Vec<u32> {
    let edges = |v: usize| [(v * 7 + 3) % n, (v * v + 1) % n, (v + n - 1) % n];
    let mut dist = vec![u32::MAX; n];
    let mut queue = VecDeque::from([0]);
    dist[0] = 0;
    while let Some(v) = queue.pop_front() {
        for w in edges(v) {
            if dist[w] == u32::MAX {
                dist[w] = dist[v] + 1;
                queue.push_back(w);
            }
        }
    }
    dist
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("run");
    let mut out = String::new();

    let mut memo = HashMap::new();
    let (best, steps) = (1..10_000u64)
        .map(|i| (i, collatz(i, &mut memo)))
        .max_by_key(|&(i, s)| (s, std::cmp::Reverse(i)))
        .unwrap();
    writeln!(out, "collatz: {best} takes {steps} steps, {} memoized", memo.len()).unwrap();

    let shapes: Vec<Box<dyn Shape>> = (1..300)
        .map(|i| -> Box<dyn Shape> {
            if i % 3 == 0 {
                Box::new(Circle(i as f64 / 7.0))
            } else {
                Box::new(Rect(i as f64, (i % 11) as f64 + 0.5))
            }
        })
        .collect();
    let total: f64 = shapes.iter().map(|s| s.area()).sum();
    let biggest = shapes
        .iter()
        .max_by(|a, b| a.area().total_cmp(&b.area()))
        .unwrap();
    writeln!(out, "shapes: area {total:.6} ({total:e}), biggest {}", biggest.name()).unwrap();
    writeln!(out, "floats: {} {} {:.10} {}", 0.1 + 0.2, (2.0f64).sqrt(), (1.5f64).ln().sin(), f32::MAX).unwrap();

    let text = "the quick brown fox jumps over the lazy dog and the end";
    let mut words: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..100 {
        for w in text.split_whitespace() {
            *words.entry(format!("{}{}", w.to_uppercase(), round % 3)).or_default() += 1;
        }
    }
    let first: Vec<_> = words.iter().take(4).collect();
    writeln!(out, "words: {} keys, {first:?}", words.len()).unwrap();
    let unique: HashSet<char> = text.chars().collect();
    let mut letters: Vec<char> = unique.into_iter().collect();
    letters.sort_unstable();
    writeln!(out, "letters: {}", letters.iter().collect::<String>()).unwrap();

    let mut x: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
    let mut acc: u128 = 1;
    for i in 0..5_000u128 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        acc ^= x.rotate_left((i % 127) as u32);
        acc = acc.wrapping_add(acc / (i + 1));
    }
    writeln!(out, "u128: {acc:032x} {}", acc % 1_000_000_007).unwrap();

    let mut v: Vec<i64> = (0..20_000).map(|i: i64| (i * 7919) % 20_011 - 10_000).collect();
    v.sort_unstable();
    let mut strings: Vec<String> = v.iter().step_by(1_999).map(|x| x.to_string()).collect();
    strings.sort();
    writeln!(out, "sorted: {} .. {}; {}", v[0], v[v.len() - 1], strings.join(",")).unwrap();

    let dist = bfs(2_000);
    let far = dist.iter().filter(|&&d| d != u32::MAX).max().unwrap();
    let unreached = dist.iter().filter(|&&d| d == u32::MAX).count();
    writeln!(out, "bfs: farthest {far}, unreached {unreached}").unwrap();

    let lines: Vec<String> = std::io::stdin().lock().lines().map(|l| l.unwrap()).collect();
    let longest = lines.iter().max_by_key(|l| l.len());
    writeln!(out, "stdin: {} lines, longest {longest:?}", lines.len()).unwrap();
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    writeln!(out, "args: {args:?}; env: {env:?}").unwrap();
    std::io::stdout().write_all(out.as_bytes()).unwrap();
    std::io::stdout().flush().unwrap();

    match mode {
        "exit" => std::process::exit(3),
        "panic" => {
            let empty: Vec<u8> = Vec::new();
            println!("{}", empty[args.len() + 6]);
        }
        "alloc" => {
            // Grows until the allocator fails: Rust then aborts.
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                blocks.push(vec![1u8; 1 << 20]);
                eprintln!("allocated {} MiB", blocks.len());
            }
        }
        _ => eprintln!("done"),
    }
}
