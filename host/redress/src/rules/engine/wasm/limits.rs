//! The limits a plugin runs under and the instance pool that enforces them: fuel (a
//! deterministic bound on instructions), a memory cap (a `ResourceLimiter`, and linear memories
//! reserved at the cap), table, instance and stack caps, a wall-clock bound per call (epoch
//! interruption, advanced by one ticker thread), and the pool's accounting (in all and per
//! tenant).
//!
//! **Invariants:** every way a plugin can fail maps to a `RuleError` with a specific reason
//! (`classify_trap`); every call ends within its time bound; a tenant holds at most
//! `instances_per_tenant` instances at once, and a full pool or a tenant's full share is
//! `RuleError::Capacity`, which does not count towards quarantine.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    StoreContextMut, Trap,
};

use super::PluginState;
use crate::rules::RuleError;

/// The limits every plugin call runs under.
#[derive(Debug, Clone, Copy)]
pub struct WasmLimits {
    /// Fuel per decision (roughly one unit per WebAssembly instruction).
    pub fuel: u64,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    pub table_elements: usize,
    /// Instances (core modules) per component.
    pub instances: usize,
    /// Stack of the generated machine code.
    pub stack_bytes: usize,
    /// Bytes of text handed to a plugin (the case's free text, attributes...).
    pub max_input_bytes: usize,
    /// Log lines a plugin may write per decision; the rest are dropped (unread).
    pub max_log_lines: u32,
    /// Wall-clock bound on one call (`describe` or `decide`), instantiation included.
    pub timeout: Duration,
    /// Pool instances one tenant may hold at once.
    pub instances_per_tenant: u32,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            fuel: 50_000_000,
            memory_bytes: 32 << 20,
            table_elements: 10_000,
            instances: 16,
            stack_bytes: 512 << 10,
            max_input_bytes: 1 << 20,
            max_log_lines: 20,
            timeout: Duration::from_secs(2),
            instances_per_tenant: (POOLED_INSTANCES / 2).max(8),
        }
    }
}

/// How many instances the pool holds: concurrent decisions beyond this are refused as a rule
/// failure (the case goes to manual handling) instead of allocating outside the pool.
pub(super) const POOLED_INSTANCES: u32 = 64;

/// Memory per pooled instance that is reset with memset and stays mapped between decisions;
/// beyond it pages go back to the kernel. Measured on the banking plugin (benches/engines.rs):
/// 0 gives 19 µs per instantiation (madvise, TLB shootdowns, page faults), 256 KiB gives 12 µs,
/// larger sizes no better, since the memset grows with the size. It pays off only if a plugin's
/// working set (its stack, data and heap) sits low in its memory, which is why the banking
/// plugin links itself with a 64 KiB stack instead of Rust's 1 MiB (plugins/banking/build.rs).
const KEEP_RESIDENT_BYTES: usize = 256 << 10;

/// How often the ticker thread advances the engine's epoch: the granularity of the time bound.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Fuel a call to the logging import costs on top of a byte per byte read: the host's work
/// for a call, which would otherwise be free (a plugin calling `log` in a loop).
pub(super) const LOG_CALL_FUEL: u64 = 10_000;

/// Fuel a calendar call (interface 1.1.0) costs before it is answered: the host's work for
/// a call, as for logging.
pub(super) const CALENDAR_CALL_FUEL: u64 = 10_000;

/// Fuel per day the host classified to answer a calendar call, priced above the host's work
/// (a day is a lookup and a line of the count's explanation): a 7-working-day count classifies
/// about 10 days (15,000 fuel with the call), a ten-year count about 5,000 (2.5 million, 5% of
/// a decision's budget), so a loop of such counts runs out of fuel after about 20.
pub(super) const CALENDAR_DAY_FUEL: u64 = 500;

/// Characters of a log message that are kept (and read); the rest is dropped.
pub(super) const LOG_MESSAGE_CHARS: usize = 1_000;

/// The wasmtime configuration for `limits`: the component model, fuel, epoch interruption, the
/// stack cap, and a pooling allocator of `POOLED_INSTANCES` instances sized to the caps.
pub(super) fn engine_config(limits: &WasmLimits) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES * limits.instances as u32)
        .total_memories(POOLED_INSTANCES * limits.instances as u32)
        .total_tables(POOLED_INSTANCES * limits.instances as u32)
        .max_memory_size(limits.memory_bytes)
        .table_elements(limits.table_elements)
        .max_core_instances_per_component(limits.instances as u32)
        .max_memories_per_component(limits.instances as u32)
        .max_tables_per_component(limits.instances as u32)
        // Reset a returned instance's memory with memset rather than handing the pages back
        // to the kernel, so that the next decision does not fault them in again.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.stack_bytes)
        // Linear memories are reserved at the cap, so no plugin can grow past it even if
        // the limiter were bypassed; guard pages keep bounds checks cheap.
        .memory_reservation(limits.memory_bytes as u64)
        .memory_reservation_for_growth(0)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Takes `amount` of the store's fuel, trapping as out of fuel when there is not that much.
pub(super) fn charge_fuel(
    store: &mut StoreContextMut<'_, PluginState>,
    amount: u64,
) -> wasmtime::Result<()> {
    let left = store.get_fuel()?;
    match left.checked_sub(amount) {
        Some(rest) => store.set_fuel(rest),
        None => {
            store.set_fuel(0)?;
            Err(Trap::OutOfFuel.into())
        }
    }
}

/// The memory and table caps, remembering a refusal so that the failure can say so: a guest
/// whose allocation fails usually traps with `unreachable`, which alone would not tell why.
pub(super) struct Limits {
    pub(super) memory_bytes: usize,
    pub(super) table_elements: usize,
    pub(super) instances: usize,
    pub(super) memory_refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        if !allowed {
            self.memory_refused = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

/// The instance pool's accounting: how many instances are drawn, in all and per tenant. A
/// decision beyond either count fails at once as `RuleError::Capacity` (not the plugin's fault,
/// so not counted towards quarantine) instead of waiting. The per-tenant share keeps one
/// tenant's slow or hostile plugin from holding every instance while other tenants' cases go to
/// manual handling.
#[derive(Debug)]
pub(super) struct Pool {
    capacity: u32,
    per_tenant: u32,
    held: Mutex<PoolHeld>,
}

#[derive(Debug, Default)]
struct PoolHeld {
    total: u32,
    by_tenant: HashMap<String, u32>,
}

impl Pool {
    pub(super) fn new(capacity: u32, per_tenant: u32) -> Pool {
        Pool {
            capacity,
            per_tenant: per_tenant.clamp(1, capacity.max(1)),
            held: Mutex::new(PoolHeld::default()),
        }
    }

    pub(super) fn take(&self, tenant: &str) -> Result<PoolSlot<'_>, RuleError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.total >= self.capacity {
            return Err(RuleError::Capacity(format!(
                "all {} plugin instances are busy",
                self.capacity
            )));
        }
        let own = held.by_tenant.get(tenant).copied().unwrap_or(0);
        if own >= self.per_tenant {
            return Err(RuleError::Capacity(format!(
                "tenant `{tenant}` already holds its share ({}) of the {} plugin instances",
                self.per_tenant, self.capacity
            )));
        }
        held.total += 1;
        held.by_tenant.insert(tenant.to_owned(), own + 1);
        Ok(PoolSlot {
            pool: self,
            tenant: tenant.to_owned(),
        })
    }
}

/// Holds one of the pool's instance slots for the duration of a call.
pub(super) struct PoolSlot<'a> {
    pool: &'a Pool,
    tenant: String,
}

impl Drop for PoolSlot<'_> {
    fn drop(&mut self) {
        let mut held = self
            .pool
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.total = held.total.saturating_sub(1);
        if let Some(own) = held.by_tenant.get_mut(&self.tenant) {
            *own = own.saturating_sub(1);
            if *own == 0 {
                held.by_tenant.remove(&self.tenant);
            }
        }
    }
}

/// Advances `engine`'s epoch every `EPOCH_TICK` from one background thread, for as long as the
/// engine exists (the thread holds only a weak reference).
pub(super) fn spawn_epoch_ticker(engine: &Engine) -> Result<(), RuleError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| RuleError::Plugin(format!("cannot start the plugin timer thread: {e}")))
}

/// A specific reason for each way a plugin can fail.
pub(super) fn classify_trap(
    error: &wasmtime::Error,
    memory_refused: bool,
    timeout: Duration,
) -> RuleError {
    if memory_refused {
        return RuleError::Limit(format!("the plugin reached its memory cap ({error:#})"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            RuleError::Limit("the plugin ran out of fuel (an endless loop?)".into())
        }
        Some(Trap::StackOverflow) => {
            RuleError::Limit("the plugin overflowed its stack (endless recursion?)".into())
        }
        Some(Trap::AllocationTooLarge) => {
            RuleError::Limit("the plugin asked for more memory than its cap".into())
        }
        Some(Trap::Interrupt) => RuleError::Limit(format!(
            "the plugin took longer than {} ms (its time bound)",
            timeout.as_millis()
        )),
        Some(trap) => RuleError::Plugin(format!("the plugin trapped: {trap}")),
        None => RuleError::Plugin(format!("the plugin failed: {error:#}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Finding 7 of the sandbox review: one tenant's slow plugin took every pooled instance and
    /// sent another tenant's cases to manual handling.
    #[test]
    fn one_tenant_cannot_hold_the_whole_instance_pool() {
        let pool = Pool::new(POOLED_INSTANCES, WasmLimits::default().instances_per_tenant);
        let greedy: Vec<PoolSlot<'_>> = std::iter::from_fn(|| pool.take("greedy").ok())
            .take(POOLED_INSTANCES as usize)
            .collect();
        assert_eq!(greedy.len(), 32, "a tenant's share: half the pool");
        let refused = pool.take("greedy").err().unwrap();
        assert!(
            refused
                .to_string()
                .contains("tenant `greedy` already holds its share"),
            "{refused}"
        );
        // Another tenant is still served, up to the pool's size.
        let others: Vec<PoolSlot<'_>> = (0..32)
            .map(|i| pool.take(&format!("tenant-{i}")).unwrap())
            .collect();
        let full = pool.take("late").err().unwrap();
        assert!(
            full.to_string()
                .contains("all 64 plugin instances are busy"),
            "{full}"
        );
        drop(greedy);
        drop(others);
        let held = pool.held.lock().unwrap();
        assert_eq!((held.total, held.by_tenant.len()), (0, 0));
    }
}
