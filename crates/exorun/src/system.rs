//! System components: native Rust code that provides whole interfaces to guests.
//!
//! A [`SystemComponent`] does two things, kept apart: [`SystemComponent::install`] defines its
//! interfaces in a linker (once per distinct set of links: the linker is cached), and
//! [`SystemComponent::configure`] stages what each new instance needs in its context (mounts,
//! user data).
//!
//! Provided here: [`WasiSystem`] (mounts host directories), [`LogSystem`]
//! (`exorun:system/logging`, lines kept in memory) and [`KvSystem`] (`exorun:system/kv`, one
//! in-memory map shared by every instance linked to the same `KvSystem`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime::component::Linker;

use crate::context::{self, ContextBuilder, ExorunCtx};

/// The interface [`LogSystem`] provides.
pub const LOGGING_INTERFACE: &str = "exorun:system/logging@0.1.0";
/// The interface [`KvSystem`] provides.
pub const KV_INTERFACE: &str = "exorun:system/kv@0.1.0";

/// The most lines a [`LogSystem`] keeps; later lines are counted, not kept.
pub const LOG_LINES_MAX: usize = 1 << 16;
/// The most entries a [`KvSystem`] holds.
pub const KV_ENTRIES_MAX: usize = 1 << 16;
/// The longest key or value a [`KvSystem`] accepts, in bytes.
pub const KV_ITEM_BYTES_MAX: usize = 1 << 16;

/// What can go wrong installing or configuring a system, or inside one of its functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The linker refused a definition (for example, a name defined twice).
    #[error("system `{system}` cannot define `{interface}`: {message}")]
    Linker {
        system: String,
        interface: String,
        message: String,
    },
    /// A context could not be staged. The message includes the cause, so it is not also the
    /// error's `source()`: a chain printed with `{:#}` says it once.
    #[error("system `{system}` cannot configure the context: {cause}")]
    Config {
        system: String,
        cause: context::Error,
    },
    /// A KV write would exceed [`KV_ENTRIES_MAX`] or [`KV_ITEM_BYTES_MAX`].
    #[error("kv: {what} exceeds its limit of {max}")]
    KvFull { what: &'static str, max: usize },
    /// `incr` found a value that is not a counter.
    #[error("kv: the value under `{key}` is not a counter")]
    KvNotCounter { key: String },
    /// A function of a system that links by name found nothing staged in the calling store's
    /// context: the store was not configured by that system.
    #[error(
        "system `{system}`: the store's context has no {what}; was it configured by the system?"
    )]
    NotStaged { system: String, what: &'static str },
}

/// Native code that implements interfaces for guests.
pub trait SystemComponent: Send + Sync + 'static {
    /// A short name for errors and traces.
    fn name(&self) -> &str;

    /// Defines the system's interfaces in `linker`.
    fn install(&self, linker: &mut Linker<ExorunCtx>) -> Result<(), Error>;

    /// Whether every function `install` defines is synchronous (`func_wrap` or `func_new`,
    /// never an `_async` variant). Instances linked only to synchronous things run without a
    /// fiber (see [`crate::instance`]); the default, `false`, is always safe.
    fn synchronous(&self) -> bool {
        false
    }

    /// Stages what one instance needs; most systems need nothing.
    fn configure(&self, _builder: &mut ContextBuilder) -> Result<(), Error> {
        Ok(())
    }

    /// Whether the functions `install` defines close over nothing of this value: they find
    /// what they need in the calling store's context, which `configure` stages. Then one
    /// linking serves every value of the system that [`SystemComponent::name`] names, across
    /// runtimes (see [`crate::builder`]), and two systems that link by name under one name must
    /// define the same functions. The default, `false`, links each value on its own.
    fn links_by_name(&self) -> bool {
        false
    }
}

fn linker_error(system: &str, interface: &str, e: &wasmtime::Error) -> Error {
    Error::Linker {
        system: system.to_owned(),
        interface: interface.to_owned(),
        message: e.to_string(),
    }
}

/// One host directory visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// WASI with host directories mapped to guest directories (read-only unless asked otherwise),
/// plus environment variables and arguments. The WASI interfaces themselves are in every
/// instance's linker already (with no ambient access); this system only grants capabilities.
#[derive(Debug, Clone, Default)]
pub struct WasiSystem {
    mounts: Vec<Mount>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl WasiSystem {
    pub fn new() -> Self {
        WasiSystem::default()
    }

    /// Makes `host` readable by the guest at `guest`.
    pub fn mount(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.mounts.push(Mount {
            host: host.into(),
            guest: guest.to_owned(),
            writable: false,
        });
        self
    }

    /// Makes `host` readable and writable by the guest at `guest`.
    pub fn mount_writable(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.mounts.push(Mount {
            host: host.into(),
            guest: guest.to_owned(),
            writable: true,
        });
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Appends a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// The mounts, in the order given.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }
}

impl SystemComponent for WasiSystem {
    fn name(&self) -> &str {
        "wasi"
    }

    fn synchronous(&self) -> bool {
        true
    }

    fn install(&self, _linker: &mut Linker<ExorunCtx>) -> Result<(), Error> {
        Ok(())
    }

    fn configure(&self, builder: &mut ContextBuilder) -> Result<(), Error> {
        for mount in &self.mounts {
            let mounted = builder.mount(&mount.host, &mount.guest, mount.writable);
            if let Err(cause) = mounted {
                let system = self.name().to_owned();
                return Err(Error::Config { system, cause });
            }
        }
        for (key, value) in &self.env {
            builder.env(key, value);
        }
        for arg in &self.args {
            builder.arg(arg);
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep using it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct LogLines {
    lines: Vec<String>,
    dropped: u64,
}

/// `exorun:system/logging`: every `log(msg)` is kept as one line, in call order.
#[derive(Debug, Clone, Default)]
pub struct LogSystem {
    lines: Arc<Mutex<LogLines>>,
}

impl LogSystem {
    pub fn new() -> Self {
        LogSystem::default()
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.lines).lines.clone()
    }

    /// How many lines were not kept because [`LOG_LINES_MAX`] was reached.
    pub fn dropped(&self) -> u64 {
        lock(&self.lines).dropped
    }
}

impl SystemComponent for LogSystem {
    fn name(&self) -> &str {
        "logging"
    }

    fn synchronous(&self) -> bool {
        true
    }

    fn install(&self, linker: &mut Linker<ExorunCtx>) -> Result<(), Error> {
        let err = |e: wasmtime::Error| linker_error(self.name(), LOGGING_INTERFACE, &e);
        let mut instance = linker.instance(LOGGING_INTERFACE).map_err(err)?;
        let lines = self.lines.clone();
        let log = move |_store: wasmtime::StoreContextMut<'_, ExorunCtx>, (msg,): (String,)| {
            let mut log = lock(&lines);
            if log.lines.len() >= LOG_LINES_MAX {
                log.dropped += 1;
                return Ok(());
            }
            log.lines.push(msg);
            Ok(())
        };
        instance.func_wrap("log", log).map_err(err)?;
        Ok(())
    }
}

/// `exorun:system/kv`: one string map, shared by every instance linked to this value (and its
/// clones). Its functions find the map in the calling store's context ([`KvSystem::configure`]
/// stages it), so it links by name.
#[derive(Debug, Clone, Default)]
pub struct KvSystem {
    map: Arc<Mutex<BTreeMap<String, String>>>,
}

/// The map a store's kv functions use, staged in its context by [`KvSystem::configure`].
struct KvOfStore(KvSystem);

/// The kv map of the calling store.
fn kv_of<'s>(store: &'s Store<'_>) -> wasmtime::Result<&'s KvSystem> {
    match store.data().get::<KvOfStore>() {
        Some(staged) => Ok(&staged.0),
        None => Err(wasmtime::Error::new(Error::NotStaged {
            system: "kv".to_owned(),
            what: "kv map",
        })),
    }
}

impl KvSystem {
    pub fn new() -> Self {
        KvSystem::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        lock(&self.map).get(key).cloned()
    }

    /// Every entry, sorted by key.
    pub fn entries(&self) -> Vec<(String, String)> {
        let map = lock(&self.map);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Stores `value` under `key`, within the limits.
    pub fn set(&self, key: String, value: String) -> Result<(), Error> {
        check_item(&key)?;
        check_item(&value)?;
        let mut map = lock(&self.map);
        if map.len() >= KV_ENTRIES_MAX && !map.contains_key(&key) {
            return Err(Error::KvFull {
                what: "entry count",
                max: KV_ENTRIES_MAX,
            });
        }
        map.insert(key, value);
        Ok(())
    }

    /// Adds one to the counter under `key` (absent counts as 0) and returns the new value.
    pub fn incr(&self, key: String) -> Result<u64, Error> {
        let current = self.get(&key);
        let count = match current {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| Error::KvNotCounter { key: key.clone() })?,
        };
        let next = count.saturating_add(1);
        self.set(key, next.to_string())?;
        Ok(next)
    }
}

fn check_item(item: &str) -> Result<(), Error> {
    if item.len() > KV_ITEM_BYTES_MAX {
        return Err(Error::KvFull {
            what: "key or value length",
            max: KV_ITEM_BYTES_MAX,
        });
    }
    Ok(())
}

type Store<'a> = wasmtime::StoreContextMut<'a, ExorunCtx>;

impl SystemComponent for KvSystem {
    fn name(&self) -> &str {
        "kv"
    }

    fn synchronous(&self) -> bool {
        true
    }

    fn install(&self, linker: &mut Linker<ExorunCtx>) -> Result<(), Error> {
        let err = |e: wasmtime::Error| linker_error(self.name(), KV_INTERFACE, &e);
        let mut instance = linker.instance(KV_INTERFACE).map_err(err)?;
        let get = |store: Store<'_>, (key,): (String,)| Ok((kv_of(&store)?.get(&key),));
        instance.func_wrap("get", get).map_err(err)?;
        let set = |store: Store<'_>, (key, value): (String, String)| {
            kv_of(&store)?.set(key, value).map_err(wasmtime::Error::new)
        };
        instance.func_wrap("set", set).map_err(err)?;
        let incr = |store: Store<'_>, (key,): (String,)| {
            let next = kv_of(&store)?.incr(key).map_err(wasmtime::Error::new)?;
            Ok((next,))
        };
        instance.func_wrap("incr", incr).map_err(err)?;
        Ok(())
    }

    fn configure(&self, builder: &mut ContextBuilder) -> Result<(), Error> {
        builder.insert(KvOfStore(self.clone()));
        Ok(())
    }

    fn links_by_name(&self) -> bool {
        true
    }
}
