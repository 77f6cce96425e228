//! Which locals are live at the start of each loop body and right after
//! each call of a function, before instrumentation: a backward dataflow
//! over walrus's structured code (a block's label is its end, a loop's
//! label its start, iterated to a fixpoint).
//!
//! The resume pass uses it at those pause sites: a local that is dead
//! there (every path from the site writes it before reading it) is
//! overwritten on the site's pause path, so the pause exit does not keep
//! its value alive around the loop or across the call, and a rewind
//! restores a value the program never reads. Compilers reuse wasm locals
//! for unrelated values, so such locals are common: strcmp's two byte
//! locals are dead at its loop header.

use std::collections::{BTreeMap, HashMap, HashSet};

use walrus::ir::{Instr, InstrLocId, InstrSeqId};
use walrus::{LocalFunction, LocalId};

/// The locals live at the pause sites of a function.
#[derive(Default)]
pub struct Live {
    /// At the start of each loop body (by the loop's sequence id).
    pub loops: HashMap<InstrSeqId, HashSet<LocalId>>,
    /// Right after each call of the input (by its offset).
    pub after_calls: BTreeMap<InstrLocId, HashSet<LocalId>>,
}

/// The live locals of `func` at its loop headers and after its calls.
/// `None` when the function has a control instruction the analysis does
/// not model (the accepted features have none; this keeps a later feature
/// from being analysed wrongly).
pub fn analyse(func: &LocalFunction) -> Option<Live> {
    let entry = func.entry_block();
    let mut a = Analysis {
        func,
        labels: HashMap::from([(entry, HashSet::new())]),
        live: Live::default(),
        modelled: true,
    };
    a.seq(entry, HashSet::new());
    a.modelled.then_some(a.live)
}

struct Analysis<'f> {
    func: &'f LocalFunction,
    /// Live locals where a branch to each label goes (a block's end, a
    /// loop's start; the function's label returns, so nothing is live).
    labels: HashMap<InstrSeqId, HashSet<LocalId>>,
    /// What is known so far (final once the enclosing loops are stable:
    /// their last round runs their bodies with the final labels).
    live: Live,
    modelled: bool,
}

impl Analysis<'_> {
    /// The locals live at the start of `seq`, given those live after it.
    fn seq(&mut self, seq: InstrSeqId, after: HashSet<LocalId>) -> HashSet<LocalId> {
        let func = self.func;
        let mut live = after;
        for (instr, loc) in func.block(seq).instrs.iter().rev() {
            if matches!(instr, Instr::Call(_) | Instr::CallIndirect(_)) && !loc.is_default() {
                self.live.after_calls.insert(*loc, live.clone());
            }
            live = self.instr(instr, live);
        }
        live
    }

    fn label(&mut self, label: InstrSeqId) -> HashSet<LocalId> {
        match self.labels.get(&label) {
            Some(l) => l.clone(),
            None => {
                // A label outside the function: not valid wasm.
                self.modelled = false;
                HashSet::new()
            }
        }
    }

    fn instr(&mut self, instr: &Instr, mut live: HashSet<LocalId>) -> HashSet<LocalId> {
        match instr {
            Instr::LocalGet(x) => {
                live.insert(x.local);
                live
            }
            Instr::LocalSet(x) => {
                live.remove(&x.local);
                live
            }
            Instr::LocalTee(x) => {
                live.remove(&x.local);
                live
            }
            Instr::Br(x) => self.label(x.block),
            Instr::BrIf(x) => {
                live.extend(self.label(x.block));
                live
            }
            Instr::BrTable(x) => {
                let mut out = self.label(x.default);
                for b in x.blocks.iter() {
                    out.extend(self.label(*b));
                }
                out
            }
            Instr::Return(_) | Instr::Unreachable(_) => HashSet::new(),
            Instr::Block(b) => {
                self.labels.insert(b.seq, live.clone());
                self.seq(b.seq, live)
            }
            Instr::IfElse(x) => {
                self.labels.insert(x.consequent, live.clone());
                self.labels.insert(x.alternative, live.clone());
                let mut out = self.seq(x.consequent, live.clone());
                out.extend(self.seq(x.alternative, live));
                out
            }
            Instr::Loop(l) => {
                // Grows from what is known (nothing, or the result of an
                // enclosing loop's previous round) until a round adds
                // nothing. It only grows, so it ends; a set that is larger
                // than needed would only keep more locals.
                let mut head = self.live.loops.get(&l.seq).cloned().unwrap_or_default();
                loop {
                    self.labels.insert(l.seq, head.clone());
                    let next = self.seq(l.seq, live.clone());
                    let known = head.len();
                    head.extend(next);
                    if head.len() == known {
                        break;
                    }
                }
                self.live.loops.insert(l.seq, head.clone());
                head
            }
            Instr::BrOnNull(_)
            | Instr::BrOnNonNull(_)
            | Instr::BrOnCast(_)
            | Instr::BrOnCastFail(_)
            | Instr::TryTable(_)
            | Instr::Try(_)
            | Instr::Throw(_)
            | Instr::ThrowRef(_)
            | Instr::Rethrow(_)
            | Instr::ReturnCall(_)
            | Instr::ReturnCallIndirect(_)
            | Instr::ReturnCallRef(_) => {
                self.modelled = false;
                live
            }
            _ => live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Function `n` of `wat`, parsed by walrus.
    fn function(wat: &str, n: usize) -> (walrus::Module, walrus::FunctionId) {
        let wasm = wat::parse_str(wat).unwrap();
        let module = walrus::Module::from_buffer(&wasm).unwrap();
        let id = module.funcs.iter_local().nth(n).unwrap().0;
        (module, id)
    }

    /// The indices (params first, then declared locals) of `set`, sorted.
    fn indices(func: &LocalFunction, set: &HashSet<LocalId>) -> Vec<usize> {
        let mut order = func.args.clone();
        let mut seen = order.iter().copied().collect();
        let mut declared = Vec::new();
        super::super::resume::collect_locals(func, func.entry_block(), &mut declared, &mut seen);
        // walrus numbers locals in the order it created them.
        declared.sort_by_key(|l| l.index());
        order.extend(declared);
        let mut v: Vec<usize> = set
            .iter()
            .map(|l| order.iter().position(|x| x == l).unwrap())
            .collect();
        v.sort();
        v
    }

    /// For each loop of function 0 of `wat` in order of appearance, the
    /// indices of the locals live at its start.
    fn live_at_loops(wat: &str) -> Vec<Vec<usize>> {
        let (module, id) = function(wat, 0);
        let func = module.funcs.get(id).kind.unwrap_local();
        let live = analyse(func).unwrap().loops;
        let mut loops = Vec::new();
        order(func, func.entry_block(), &mut loops);
        loops.iter().map(|l| indices(func, &live[l])).collect()
    }

    fn order(func: &LocalFunction, seq: InstrSeqId, out: &mut Vec<InstrSeqId>) {
        for (i, _) in func.block(seq).instrs.iter() {
            if let Instr::Loop(l) = i {
                out.push(l.seq);
            }
            for c in super::super::resume::nested(i) {
                order(func, c, out);
            }
        }
    }

    #[test]
    fn a_local_written_before_it_is_read_is_dead_at_the_header() {
        // strcmp's shape: $a and $b are loaded in the body before any use,
        // also on the exit path that reads them.
        let live = live_at_loops(
            r#"(module (memory 1)
              (func (param $p i32) (param $q i32) (result i32) (local $a i32) (local $b i32)
                (block $done
                  (loop $next
                    (local.set $a (i32.load8_u (local.get $p)))
                    (local.set $b (i32.load8_u (local.get $q)))
                    (br_if $done (i32.eqz (local.get $a)))
                    (local.set $p (i32.add (local.get $p) (i32.const 1)))
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br_if $next (i32.eq (local.get $a) (local.get $b)))))
                (i32.sub (local.get $a) (local.get $b))))"#,
        );
        assert_eq!(live, vec![vec![0, 1]]);
    }

    #[test]
    fn a_value_carried_to_the_next_iteration_or_past_the_loop_is_live() {
        // $sum is read by the next iteration; $last only after the loop,
        // but an exit path that skips its write keeps it live.
        let live = live_at_loops(
            r#"(module
              (func (param $n i32) (result i32) (local $sum i32) (local $last i32) (local $t i32)
                (block $done
                  (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (local.set $t (i32.mul (local.get $n) (local.get $n)))
                    (local.set $last (local.get $t))
                    (local.set $sum (i32.add (local.get $sum) (local.get $t)))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next)))
                (i32.add (local.get $sum) (local.get $last))))"#,
        );
        assert_eq!(live, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn after_a_call_only_what_the_rest_reads() {
        // $t is dead after the first call (written again before it is
        // read), live after the second; $n is dead after the second.
        let (module, id) = function(
            r#"(module
              (func $g (param i32) (result i32) (local.get 0))
              (func (param $n i32) (result i32) (local $a i32) (local $b i32) (local $t i32)
                (local.set $t (i32.mul (local.get $n) (i32.const 7)))
                (local.set $a (call $g (local.get $t)))
                (local.set $t (i32.add (local.get $a) (local.get $n)))
                (local.set $b (call $g (local.get $t)))
                (i32.add (i32.add (local.get $a) (local.get $b)) (local.get $t))))"#,
            1,
        );
        let func = module.funcs.get(id).kind.unwrap_local();
        let live = analyse(func).unwrap();
        let after: Vec<Vec<usize>> = live
            .after_calls
            .values()
            .map(|s| indices(func, s))
            .collect();
        // Locals: $n 0, $a 1, $b 2, $t 3; calls in input order.
        assert_eq!(after, vec![vec![0], vec![1, 3]]);
    }

    #[test]
    fn nested_loops_br_table_and_if_arms() {
        // Outer loop: $i, $acc live ($j is set before the inner loop).
        // Inner loop: $i, $j, $acc live; $tmp is dead (written in both
        // arms of the if before the read), a br_table leaves to the outer
        // loop or past both.
        let live = live_at_loops(
            r#"(module
              (func (param $i i32) (result i32) (local $j i32) (local $acc i32) (local $tmp i32)
                (block $out
                  (loop $outer
                    (local.set $j (i32.const 0))
                    (loop $inner
                      (if (local.get $j)
                        (then (local.set $tmp (local.get $i)))
                        (else (local.set $tmp (i32.const 7))))
                      (local.set $acc (i32.add (local.get $acc) (local.get $tmp)))
                      (local.set $j (i32.add (local.get $j) (i32.const 1)))
                      (br_table $inner $outer $out (i32.rem_u (local.get $j) (i32.const 3))))))
                (local.get $acc)))"#,
        );
        assert_eq!(live, vec![vec![0, 2], vec![0, 1, 2]]);
    }
}
