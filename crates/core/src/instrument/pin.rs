//! Constants a guest stores in a loop, pinned at the function's entry.
//!
//! The pass gives a function's code several copies (the guarded copy, fast
//! copies for normal mode, fast copies nested in guarded loops), and
//! Cranelift 0.135 compiles a constant the copies share worse in all of
//! them but one. Its value numbering makes one `iconst` of each value for
//! the whole function, marked "rematerialize in each block that uses it";
//! elaboration places it where the first copy (in dominator-tree order)
//! needs it, and where another copy, in a sibling subtree, needs it again it
//! places a clone, which has lost the mark: that clone then serves every
//! use below it from one register, across the loops, so the register is
//! spilled and the constant is loaded from and stored back to the stack in
//! every iteration. sieve's `composite[j] = 1` runs in the copy a resumed
//! run uses, so in 1M-gas slices its inner loop was 12 machine instructions
//! with a load and a store of that slot, against 9 in the entry's fast copy.
//!
//! A use of the constant in the entry block, which dominates every copy,
//! makes the original the first one placed, and every later use (in any
//! copy) finds it there and rematerializes it in its own block. The use is
//! `const; global.set $pin` at the top of the function: one store per call
//! per pinned constant, to a global of the instrumenter's that nothing reads.
//! Only constants stored inside a loop (the value operand of a store, which
//! takes a register on x86-64 and aarch64) are pinned; the constant
//! operands of arithmetic and compares are mostly immediates of the
//! machine instruction (on x86-64, those that fit 32 bits) and need none.
//! sieve in 1M-gas slices: 67-76 -> 49-50 ms a run (valgrind: 589.7M ->
//! 566.9M instructions, the inner loop's load and store gone); of the other
//! benchmark programs only libc has pins (4 functions, instruction counts
//! within 0.1 %), the rest instrument to the same bytes (2026-12-07).

use std::collections::HashMap;

use walrus::ir::{Const, GlobalSet, Instr, InstrLocId, Value};
use walrus::{ConstExpr, GlobalId, LocalFunction, ModuleGlobals, ValType};

use super::resume::nested;

/// At most this many pins per function: each costs a store on every call,
/// whether or not its loop runs (the benchmark programs need up to 6).
const MAX_PINS: usize = 8;

/// The distinct constants that `func` stores inside a loop (a `const`
/// right before a store is the stored value), in the order first found,
/// at most [`MAX_PINS`]. Read on the input code, before the pass copies it.
pub fn loop_stored_constants(func: &LocalFunction) -> Vec<Value> {
    let mut found: Vec<Value> = Vec::new();
    let mut stack = vec![(func.entry_block(), false)];
    while let Some((seq, in_loop)) = stack.pop() {
        let instrs = &func.block(seq).instrs;
        for (k, (instr, _)) in instrs.iter().enumerate() {
            if in_loop {
                if let (Instr::Const(Const { value }), Some((Instr::Store(_), _))) =
                    (instr, instrs.get(k + 1))
                {
                    if matches!(
                        value,
                        Value::I32(_) | Value::I64(_) | Value::F32(_) | Value::F64(_)
                    ) && !found.iter().any(|v| same_bits(v, value))
                    {
                        found.push(*value);
                        if found.len() == MAX_PINS {
                            return found;
                        }
                    }
                }
            }
            let inner = in_loop || matches!(instr, Instr::Loop(_));
            stack.extend(nested(instr).map(|s| (s, inner)));
        }
    }
    found
}

/// The same constant: same type and bits (`0.0` and `-0.0` differ, a NaN
/// equals itself).
fn same_bits(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::I32(x), Value::I32(y)) => x == y,
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => false,
    }
}

/// The instrumenter's write-only globals the pins store to, one per type,
/// made when first needed.
#[derive(Default)]
pub struct PinGlobals {
    by_type: HashMap<ValType, GlobalId>,
}

impl PinGlobals {
    fn get(&mut self, globals: &mut ModuleGlobals, value: &Value) -> GlobalId {
        let (ty, zero) = match value {
            Value::I32(_) => (ValType::I32, Value::I32(0)),
            Value::I64(_) => (ValType::I64, Value::I64(0)),
            Value::F32(_) => (ValType::F32, Value::F32(0.0)),
            _ => (ValType::F64, Value::F64(0.0)),
        };
        *self
            .by_type
            .entry(ty)
            .or_insert_with(|| globals.add_local(ty, true, false, ConstExpr::Value(zero)))
    }

    /// Whether `g` is one of them (not a guest global).
    pub fn contains(&self, g: GlobalId) -> bool {
        self.by_type.values().any(|&p| p == g)
    }

    /// Puts `const c; global.set $pin` for each of `constants` at the top of
    /// `func` (already instrumented).
    pub fn pin(
        &mut self,
        globals: &mut ModuleGlobals,
        func: &mut LocalFunction,
        constants: &[Value],
    ) {
        if constants.is_empty() {
            return;
        }
        let mut instrs = Vec::with_capacity(2 * constants.len());
        for value in constants {
            let global = self.get(globals, value);
            instrs.push((Instr::Const(Const { value: *value }), InstrLocId::default()));
            instrs.push((
                Instr::GlobalSet(GlobalSet { global }),
                InstrLocId::default(),
            ));
        }
        let entry = func.entry_block();
        let body = &mut func.block_mut(entry).instrs;
        instrs.append(body);
        *body = instrs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(wat: &str) -> Vec<String> {
        let module = walrus::Module::from_buffer(&wat::parse_str(wat).unwrap()).unwrap();
        let (_, func) = module.funcs.iter_local().next().unwrap();
        loop_stored_constants(func)
            .iter()
            .map(|v| match v {
                Value::F32(x) => format!("f32 {:#x}", x.to_bits()),
                Value::F64(x) => format!("f64 {:#x}", x.to_bits()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn finds_each_constant_stored_in_a_loop_once_by_its_bits() {
        let found = stored(
            r#"(module (memory 1)
              (func (param $p i32)
                (i32.store (i32.const 0) (i32.const 5))
                (loop $l
                  (i32.store8 (local.get $p) (i32.const 1))
                  (i32.store (local.get $p) (i32.const 1))
                  (i32.store (local.get $p) (i32.add (local.get $p) (i32.const 7)))
                  (f64.store (local.get $p) (f64.const 0))
                  (f64.store (local.get $p) (f64.const -0))
                  (f32.store (local.get $p) (f32.const nan:0x200000))
                  (f32.store (local.get $p) (f32.const nan:0x200000))
                  (if (local.get $p)
                    (then (block (i64.store (local.get $p) (i64.const 9)))))
                  (br_if $l (local.get $p)))
                (i64.store (i32.const 0) (i64.const 11))))"#,
        );
        assert_eq!(
            found,
            [
                "I32(1)",
                "f64 0x0",
                "f64 0x8000000000000000",
                "f32 0x7fa00000",
                "I64(9)"
            ]
        );
    }

    #[test]
    fn pins_at_most_eight_constants_a_function() {
        let stores: String = (0..12)
            .map(|c| format!("(i32.store (local.get $p) (i32.const {}))", 100 + c))
            .collect();
        let found = stored(&format!(
            "(module (memory 1) (func (param $p i32) (loop $l {stores} (br_if $l (local.get $p)))))"
        ));
        let expected: Vec<String> = (0..8).map(|c| format!("I32({})", 100 + c)).collect();
        assert_eq!(found, expected);
    }
}
