//! The gas cost table: what each instruction and each dynamic operation
//! costs. Costs are data, not constants scattered through the passes.

use serde::{Deserialize, Serialize};

/// Gas costs charged by the instrumented module.
///
/// The defaults (one unit per wasm instruction, one per page grown, one per
/// eight bytes filled or copied, ...) are the documented cost table; every
/// field can be overridden. The whole table is part of the module
/// fingerprint, so snapshots taken under one table only restore under the
/// same table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CostTable {
    /// Every plain wasm instruction (arithmetic, locals, loads, branches...).
    pub instruction: u32,
    /// A call to another guest function (on top of `instruction`).
    pub call: u32,
    /// A call to a host import (on top of `instruction`).
    pub host_call: u32,
    /// `memory.grow`: charged per page requested, before the grow runs.
    pub memory_grow_per_page: u32,
    /// `memory.fill`, `memory.copy`, `memory.init`: charged per started
    /// 8-byte unit of the length operand, before the operation runs.
    pub bulk_memory_per_8_bytes: u32,
    /// `table.grow`, `table.fill`, `table.copy`, `table.init`: charged per
    /// element, before the operation runs.
    pub bulk_table_per_element: u32,
}

/// The default cost table.
pub const DEFAULT_COSTS: CostTable = CostTable {
    instruction: 1,
    call: 0,
    host_call: 10,
    memory_grow_per_page: 64,
    bulk_memory_per_8_bytes: 1,
    bulk_table_per_element: 1,
};

impl Default for CostTable {
    fn default() -> Self {
        DEFAULT_COSTS
    }
}
