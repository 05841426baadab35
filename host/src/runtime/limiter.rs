//! The memory limit of one plugin instance: `memory_mib` covers all its
//! linear memories and tables together. wasmtime's `StoreLimits` checks
//! each memory on its own, so a component with eight memories could take
//! eight times the limit.

use wasmtime::ResourceLimiter;

/// Bytes a table element is counted as (a `funcref` is a pointer plus
/// bookkeeping in wasmtime; 16 is generous).
pub const TABLE_ELEMENT_BYTES: usize = 16;

/// Most core instances, memories and tables one component instance may
/// create. A Rust or C component has a few of each; componentize-py's
/// (`--stub-wasi`) has ~40 core instances and jco's a dozen, so these only
/// stop pathological components.
pub const MAX_INSTANCES: usize = 256;
pub const MAX_MEMORIES: usize = 16;
pub const MAX_TABLES: usize = 64;

/// A [`ResourceLimiter`] that sums every memory and table of a store
/// against one budget and traps the guest when a grow would pass it.
#[derive(Debug)]
pub struct TotalMemoryLimiter {
    budget: usize,
    used: usize,
}

/// Why a grow was refused; the runtime reports it as out of memory.
#[derive(Debug)]
pub struct MemoryBudgetExceeded {
    pub budget: usize,
}

impl std::fmt::Display for MemoryBudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the instance's memories and tables would pass {} MiB together", self.budget >> 20)
    }
}

impl std::error::Error for MemoryBudgetExceeded {}

impl TotalMemoryLimiter {
    /// A limiter allowing `budget` bytes across all memories and tables.
    pub fn new(budget: usize) -> TotalMemoryLimiter {
        TotalMemoryLimiter { budget, used: 0 }
    }

    /// Bytes counted so far.
    pub fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        match self.used.checked_add(more) {
            Some(total) if total <= self.budget => {
                self.used = total;
                Ok(true)
            }
            _ => Err(wasmtime::Error::new(MemoryBudgetExceeded { budget: self.budget })),
        }
    }
}

impl ResourceLimiter for TotalMemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current.saturating_mul(TABLE_ELEMENT_BYTES), desired.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Module, Store, StoreLimitsBuilder};

    /// A core module with eight memories of 4 MiB (64 pages) each: 32 MiB in all.
    fn eight_memories(engine: &Engine) -> Module {
        let memories: String = (0..8).map(|i| format!("(memory $m{i} 64)")).collect();
        Module::new(engine, wat::parse_str(format!("(module {memories})")).unwrap()).unwrap()
    }

    #[test]
    fn eight_memories_are_counted_together_against_one_budget() {
        let engine = Engine::default();
        let module = eight_memories(&engine);
        // What the host used before: a per-memory limit of 16 MiB lets all eight (32 MiB) in.
        let mut per_memory = Store::new(&engine, StoreLimitsBuilder::new().memory_size(16 << 20).memories(8).build());
        per_memory.limiter(|l| l);
        assert!(
            wasmtime::Instance::new(&mut per_memory, &module, &[]).is_ok(),
            "the per-memory limit admits 8 × 4 MiB"
        );
        // The total limiter refuses the same module under the same 16 MiB.
        let mut total = Store::new(&engine, TotalMemoryLimiter::new(16 << 20));
        total.limiter(|l| l);
        let error = wasmtime::Instance::new(&mut total, &module, &[]).unwrap_err();
        assert!(format!("{error:#}").contains("would pass 16 MiB together"), "{error:#}");
        // And admits it under 32 MiB.
        let mut roomy = Store::new(&engine, TotalMemoryLimiter::new(32 << 20));
        roomy.limiter(|l| l);
        assert!(wasmtime::Instance::new(&mut roomy, &module, &[]).is_ok());
        assert_eq!(roomy.data().used(), 32 << 20);
    }
}
