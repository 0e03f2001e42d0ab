//! The state of one store: [`ContextBuilder`] stages it, [`ExorunCtx`] is it.
//!
//! A context gives a guest no ambient authority. Out of [`ContextBuilder::new`] come: no
//! environment variables, no arguments, no preopened directories, stdin closed, stdout and
//! stderr discarded (or captured in memory on request), no network, and deterministic clocks and
//! randomness:
//!
//! - the monotonic clock reads `tokio::time` (the simulated clock under `--cfg madsim`), counted
//!   from the first reading;
//! - the wall clock is [`WALL_CLOCK_EPOCH_SECS`] plus the monotonic clock;
//! - secure and insecure random come from ChaCha generators seeded by [`ContextBuilder::seed`]
//!   (seed 0 unless set).
//!
//! Any of these can be replaced through the builder. Filesystem calls run on the calling task
//! (`allow_blocking_current_thread`), never on a thread pool: the simulation has no threads.

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::{ChaCha8Rng, ChaCha12Rng};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// The wall clock's reading when the monotonic clock reads zero: 2025-01-01T00:00:00Z.
pub const WALL_CLOCK_EPOCH_SECS: u64 = 1_735_689_600;

/// The most bytes one captured output stream keeps; a guest writing more traps.
pub const CAPTURE_BYTES_MAX: usize = 1 << 20;

/// User data attached to a context, by type.
pub type UserData = anymap3::Map<dyn Any + Send + Sync>;

/// What can go wrong staging a context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A host directory could not be opened for mounting. Names the guest path only: the host
    /// path stays with the embedder that chose it.
    #[error("cannot mount a host directory at guest path `{guest}`: {kind}")]
    Mount {
        guest: String,
        kind: std::io::ErrorKind,
    },
}

/// How much an instance may use. Fuel is set before every call (and before instantiation); the
/// memory and table limits hold for the whole life of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel for one call into the instance; running out ends the call with `OutOfFuel`.
    pub fuel_per_call: u64,
    /// How often (in fuel) a running guest yields to the executor, so that other tasks run
    /// meanwhile; `None` (the default) never yields. Yielding costs about 0.2 us per call, and
    /// an instance built with an interval runs asynchronously (on a fiber). The interval is
    /// fixed when the instance is built: on an instance that runs synchronously, a later
    /// [`ExorunCtx::set_limits`] cannot turn yielding on.
    pub fuel_yield_interval: Option<u64>,
    /// The largest a linear memory may grow to; growing past it ends in `OutOfMemory`.
    pub memory_bytes_max: usize,
    /// The most elements a table may hold.
    pub table_elements_max: usize,
}

impl Limits {
    /// Enough for ordinary calls; a runaway loop ends within a fraction of a second.
    pub const FUEL_PER_CALL_DEFAULT: u64 = 100_000_000;
    pub const MEMORY_BYTES_MAX_DEFAULT: usize = 256 << 20;
    pub const TABLE_ELEMENTS_MAX_DEFAULT: usize = 1 << 16;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: Limits::FUEL_PER_CALL_DEFAULT,
            fuel_yield_interval: None,
            memory_bytes_max: Limits::MEMORY_BYTES_MAX_DEFAULT,
            table_elements_max: Limits::TABLE_ELEMENTS_MAX_DEFAULT,
        }
    }
}

/// Output captured in memory (a guest's stdout or stderr). Clones share one buffer, of at most
/// [`CAPTURE_BYTES_MAX`] bytes.
#[derive(Debug, Clone)]
pub struct Captured {
    pipe: MemoryOutputPipe,
}

impl Default for Captured {
    fn default() -> Self {
        Captured::new()
    }
}

impl Captured {
    /// An empty capture, to attach with [`ContextBuilder::stdout`] or [`ContextBuilder::stderr`].
    pub fn new() -> Self {
        Captured {
            pipe: MemoryOutputPipe::new(CAPTURE_BYTES_MAX),
        }
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.pipe.contents().to_vec()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.pipe.contents()).into_owned()
    }
}

/// Stages a context: capabilities, clocks, randomness, captured output, user data.
pub struct ContextBuilder {
    wasi: WasiCtxBuilder,
    user_data: UserData,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder::new()
    }
}

impl ContextBuilder {
    /// A builder that grants nothing; see the module documentation for the defaults.
    pub fn new() -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true);
        wasi.allow_tcp(false);
        wasi.allow_udp(false);
        wasi.allow_ip_name_lookup(false);
        wasi.wall_clock(VirtualWallClock::default());
        wasi.monotonic_clock(VirtualMonotonicClock::default());
        let mut builder = ContextBuilder {
            wasi,
            user_data: UserData::new(),
        };
        builder.seed(0);
        builder
    }

    /// Seeds secure random, insecure random and the insecure seed from one number.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        let mut secure = ChaCha12Rng::seed_from_u64(seed);
        let insecure = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let insecure_seed = u128::from(rand_chacha::rand_core::Rng::next_u64(&mut secure));
        self.wasi.secure_random(secure);
        self.wasi.insecure_random(insecure);
        self.wasi.insecure_random_seed(insecure_seed);
        self
    }

    /// Replaces the `wasi:random/random` generator.
    pub fn secure_random(&mut self, rng: impl wasmtime_wasi::Rng + Send + 'static) -> &mut Self {
        self.wasi.secure_random(rng);
        self
    }

    /// Replaces the `wasi:random/insecure` generator.
    pub fn insecure_random(&mut self, rng: impl wasmtime_wasi::Rng + Send + 'static) -> &mut Self {
        self.wasi.insecure_random(rng);
        self
    }

    /// Replaces the wall clock.
    pub fn wall_clock(&mut self, clock: impl HostWallClock + 'static) -> &mut Self {
        self.wasi.wall_clock(clock);
        self
    }

    /// Replaces the monotonic clock.
    pub fn monotonic_clock(&mut self, clock: impl HostMonotonicClock + 'static) -> &mut Self {
        self.wasi.monotonic_clock(clock);
        self
    }

    /// Captures the guest's stdout in memory; read it through the returned handle. A new
    /// capture each time: to keep one across renewals (see [`crate::instance`]), make it with
    /// [`Captured::new`] and attach it with [`ContextBuilder::stdout`].
    pub fn capture_stdout(&mut self) -> Captured {
        let captured = Captured::new();
        self.stdout(&captured);
        captured
    }

    /// Captures the guest's stderr in memory; read it through the returned handle. A new
    /// capture each time, as with [`ContextBuilder::capture_stdout`].
    pub fn capture_stderr(&mut self) -> Captured {
        let captured = Captured::new();
        self.stderr(&captured);
        captured
    }

    /// Sends the guest's stdout to `captured`, an existing capture: attached to every context
    /// an instance is renewed with, it keeps what each of them wrote, in order.
    pub fn stdout(&mut self, captured: &Captured) -> &mut Self {
        self.wasi.stdout(captured.pipe.clone());
        self
    }

    /// Sends the guest's stderr to `captured`, an existing capture (see
    /// [`ContextBuilder::stdout`]).
    pub fn stderr(&mut self, captured: &Captured) -> &mut Self {
        self.wasi.stderr(captured.pipe.clone());
        self
    }

    /// Adds an environment variable.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.wasi.env(key, value);
        self
    }

    /// Appends a command-line argument.
    pub fn arg(&mut self, arg: &str) -> &mut Self {
        self.wasi.arg(arg);
        self
    }

    /// Makes the host directory `host` visible to the guest at `guest`.
    pub fn mount(
        &mut self,
        host: &std::path::Path,
        guest: &str,
        writable: bool,
    ) -> Result<&mut Self, Error> {
        let perms = if writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        let opened = self.wasi.preopened_dir(host, guest, perms);
        if let Err(e) = opened {
            let kind = e
                .downcast_ref::<std::io::Error>()
                .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
            let guest = guest.to_owned();
            return Err(Error::Mount { guest, kind });
        }
        Ok(self)
    }

    /// Attaches a value of type `T`, replacing any earlier one.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.user_data.insert(value);
        self
    }

    /// Direct access to the WASI staging area, for what this builder does not wrap.
    pub fn wasi_mut(&mut self) -> &mut WasiCtxBuilder {
        &mut self.wasi
    }

    /// Seals the staging area into a context with the given limits.
    pub fn build(mut self, limits: Limits) -> ExorunCtx {
        ExorunCtx {
            wasi: self.wasi.build(),
            table: ResourceTable::new(),
            user_data: self.user_data,
            limiter: Limiter::new(limits),
            held: Vec::new(),
            links: Arc::new(()),
        }
    }
}

/// The state of one store.
pub struct ExorunCtx {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) user_data: UserData,
    pub(crate) limiter: Limiter,
    /// During a call into a synchronous instance, the locks of the local instances it may call
    /// (see [`crate::instance::InstanceHandle::is_sync`]); empty otherwise. Each guards an
    /// instance's state, which only the instance module reads: the context sits below it.
    pub(crate) held: Vec<tokio::sync::OwnedMutexGuard<dyn Any + Send>>,
    /// What the host functions of the instance's local and remote links call, by slot: set by
    /// the builder on each store of the instance. Opaque here, below the linking layer that
    /// reads it (the bind module's slots).
    pub(crate) links: Arc<dyn Any + Send + Sync>,
}

impl ExorunCtx {
    /// The value of type `T` attached by the builder, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.user_data.get::<T>()
    }

    /// The value of type `T` attached by the builder, mutably.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.user_data.get_mut::<T>()
    }

    /// The resource table of the store.
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The limits this store runs under.
    pub fn limits(&self) -> Limits {
        self.limiter.limits
    }

    /// Changes the limits from the next call on (a memory already larger stays as it is).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limiter.limits = limits;
    }
}

impl WasiView for ExorunCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces [`Limits`] on memories and tables, and remembers whether it refused a memory grow
/// since the last [`Limiter::reset`]: a guest whose allocation fails usually traps right after,
/// and that trap is `OutOfMemory`.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) limits: Limits,
    memory_refused: bool,
    /// The yield interval last given to the store.
    pub(crate) yield_interval_applied: Option<u64>,
}

impl Limiter {
    fn new(limits: Limits) -> Self {
        Limiter {
            limits,
            memory_refused: false,
            yield_interval_applied: None,
        }
    }

    /// Forgets earlier refusals; called before every call into the store.
    pub(crate) fn reset(&mut self) {
        self.memory_refused = false;
    }

    /// Whether a memory grow was refused since the last reset.
    pub(crate) fn memory_refused(&self) -> bool {
        self.memory_refused
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let over_limit = desired > self.limits.memory_bytes_max;
        let over_maximum = maximum.is_some_and(|max| desired > max);
        if over_limit || over_maximum {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let over_maximum = maximum.is_some_and(|max| desired > max);
        Ok(desired <= self.limits.table_elements_max && !over_maximum)
    }
}

/// Nanoseconds since the first reading of `tokio::time` through this clock.
#[derive(Debug, Default)]
pub struct VirtualMonotonicClock {
    origin: OnceLock<tokio::time::Instant>,
}

impl VirtualMonotonicClock {
    fn elapsed(&self) -> Duration {
        let origin = self.origin.get_or_init(crate::client::now);
        crate::client::now().saturating_duration_since(*origin)
    }
}

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// [`WALL_CLOCK_EPOCH_SECS`] plus a [`VirtualMonotonicClock`].
#[derive(Debug, Default)]
pub struct VirtualWallClock {
    monotonic: VirtualMonotonicClock,
}

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(WALL_CLOCK_EPOCH_SECS) + self.monotonic.elapsed()
    }
}
