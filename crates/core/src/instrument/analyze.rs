//! Feature check and operand-stack map, both from one wasmparser validation
//! of the input.
//!
//! walrus keeps no operand-stack types, but it records the input byte offset
//! of every parsed instruction (`InstrLocId`). Validating the same bytes with
//! wasmparser gives the operand stack at each offset; we keep it only where
//! the resume pass needs it: at calls, block/loop/if and dynamic-cost
//! operators ("pause-capable instructions").

use std::collections::HashMap;

use wasmparser::{Operator, Parser, ValType, ValidPayload, Validator, WasmFeatures};

use crate::error::{Error, Result};

/// The features a guest module may use. Everything else is refused before
/// walrus sees the module.
///
/// Reference types are accepted because current compilers (LLVM 19+, so
/// clang and rustc) encode `call_indirect` with them; what the unwinder
/// cannot save (reference-typed locals, parameters, mutable globals,
/// externref tables, `table.grow`/`table.fill`) is refused afterwards by
/// [`super::check_references`].
pub fn accepted_features() -> WasmFeatures {
    WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::FLOATS
}

/// The features of the instrumenter's output: the accepted input features
/// plus multi-memory (the appended private unwind memory). Validators of
/// instrumented modules use this set.
pub fn output_features() -> WasmFeatures {
    accepted_features() | WasmFeatures::MULTI_MEMORY
}

/// Operand-stack facts about one function of the input.
#[derive(Debug, Default)]
pub struct FuncStackMap {
    /// For each pause-capable operator (keyed by its byte offset): the types
    /// on the operand stack of the innermost control frame, bottom first,
    /// *including* the operator's own inputs.
    pub frame_stack: HashMap<u32, Vec<ValType>>,
    /// The highest operand stack seen in the function (all frames).
    pub max_height: u32,
}

/// The whole module's stack map, one entry per local function in order.
#[derive(Debug, Default)]
pub struct StackMap {
    pub funcs: Vec<FuncStackMap>,
}

/// Validates `wasm` with the accepted feature set and records the stack map.
///
/// Errors: [`Error::UnsupportedFeature`] when the module is valid wasm but
/// uses a feature outside [`accepted_features`], [`Error::InvalidWasm`]
/// otherwise.
pub fn analyze(wasm: &[u8]) -> Result<StackMap> {
    match analyze_with(wasm, accepted_features()) {
        Ok(map) => Ok(map),
        Err(err) => {
            // Tell "valid but unsupported" from "invalid".
            let mut all = Validator::new_with_features(WasmFeatures::all());
            if all.validate_all(wasm).is_ok() {
                Err(Error::UnsupportedFeature(err.message().to_string()))
            } else {
                Err(Error::InvalidWasm(format!(
                    "{} (at byte offset {})",
                    err.message(),
                    err.offset()
                )))
            }
        }
    }
}

fn is_pause_capable(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::BrTable { .. }
            | Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::MemoryGrow { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
    )
}

fn analyze_with(
    wasm: &[u8],
    features: WasmFeatures,
) -> std::result::Result<StackMap, wasmparser::BinaryReaderError> {
    let mut validator = Validator::new_with_features(features);
    let mut map = StackMap::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let ValidPayload::Func(func, body) = validator.payload(&payload)? {
            let mut fv = func.into_validator(Default::default());
            let mut reader = body.get_binary_reader();
            fv.read_locals(&mut reader)?;
            let mut ops = wasmparser::OperatorsReader::new(reader);
            let mut fmap = FuncStackMap::default();
            while !ops.eof() {
                let pos = ops.original_position();
                let op = ops.read()?;
                let height = fv.operand_stack_height();
                fmap.max_height = fmap.max_height.max(height);
                if is_pause_capable(&op) {
                    let base = fv.get_control_frame(0).map(|f| f.height).unwrap_or(0);
                    let tys: Vec<ValType> = (0..(height as usize).saturating_sub(base))
                        .rev()
                        .filter_map(|depth| fv.get_operand_type(depth).flatten())
                        .collect();
                    // Unknown types only occur in unreachable code, which the
                    // resume pass deletes before it looks at the map.
                    if tys.len() == (height as usize).saturating_sub(base) {
                        fmap.frame_stack.insert(pos as u32, tys);
                    }
                }
                fv.op(pos, &op)?;
            }
            ops.finish()?;
            map.funcs.push(fmap);
        }
    }
    Ok(map)
}
